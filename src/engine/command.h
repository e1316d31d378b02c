/* engine/command.h - commands: what every adapter turns its input into.
 *
 * A command is one "set the demo RGB" request with an id (a ULID) and a
 * source. Parsing validates everything and rounds/clamps the values, so a
 * command that exists is well-formed. Parsing is pure and thread-agnostic;
 * the engine owns a command from hub_engine_submit() until its done callback
 * has returned.
 */
#ifndef HUB_ENGINE_COMMAND_H
#define HUB_ENGINE_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/ulid.h"

#define HUB_SRC_MAX    64
#define HUB_CMD_SCHEMA "demo.rgb.cmd.v1"
/* How every adapter parses command JSON: {"r":1,"r":300} is ambiguous and
 * refused; 1e20 and 100000000000000000000 are the same number (clamped). */
#define HUB_CMD_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL)

typedef struct hub_cmd hub_cmd_t;
typedef struct hub_view hub_view_t;

/* Outcome codes passed to the done callback. Negative values are HUB_E*
 * (core/err.h): HUB_EDROPPED, HUB_ESTORE, HUB_ESHUTDOWN. */
enum { HUB_CMD_APPLIED = 0, HUB_CMD_DUPLICATE = 1 };

/* Called once on the loop thread with the command's fate. view is the state
 * the command produced (applied) or the current state (duplicate, errors).
 * The engine frees cmd after the callback returns. */
typedef void (*hub_cmd_done_cb)(hub_cmd_t *cmd, int outcome, const hub_view_t *view, void *ud);

struct hub_cmd {
    hub_cmd_t *next, *prev;        /* engine queue links */
    hub_cmd_t *ui_next, *ui_prev;  /* engine: queued commands with src "ui" */
    char cmd_id[HUB_ULID_LEN + 1]; /* canonical upper case */
    char src[HUB_SRC_MAX + 1];
    uint8_t rgb[3];       /* rounded and clamped */
    int is_ui;            /* src == "ui": droppable under overload */
    uint64_t recv_us;     /* monotonic time the adapter received it */
    hub_cmd_done_cb done; /* NULL: nobody waits (detached) */
    void *ud;
    int outcome;    /* engine: set when its fate is known */
    uint64_t seq;   /* engine: seq this command produced (applied) */
    uint64_t ts_ms; /* engine: wall time it was applied */
};

typedef struct hub_parse_err {
    char msg[192];                 /* what is wrong, for the client */
    char field[32];                /* the offending field, "" for the body */
    char cmd_id[HUB_ULID_LEN + 1]; /* the cmdId if one was readable, else "" */
} hub_parse_err_t;

/* Build a command from a parsed JSON object. Fields: cmdId (ULID, required),
 * r, g, b (JSON numbers, required; rounded to nearest and clamped to 0..255),
 * src (string, 1..64 printable chars, default default_src), schema (optional,
 * must be HUB_CMD_SCHEMA). Other fields are ignored. On success *out is a new
 * command (done = NULL) and 0 is returned; on failure HUB_EINVAL and err says
 * why. */
int hub_cmd_from_json(const json_t *obj, const char *default_src, hub_cmd_t **out,
                      hub_parse_err_t *err);
/* Parse text (not NUL-terminated; at most len bytes) then hub_cmd_from_json. */
int hub_cmd_parse(const char *text, size_t len, const char *default_src, hub_cmd_t **out,
                  hub_parse_err_t *err);
hub_cmd_t *hub_cmd_new(const char *cmd_id, const char *src, const uint8_t rgb[3]);
void hub_cmd_free(hub_cmd_t *cmd);
/* Round to nearest (half away from zero) and clamp to 0..255. */
uint8_t hub_cmd_clamp(double v);

#endif
