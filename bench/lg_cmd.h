/* bench/lg_cmd.h - the commands a load run sends and how answers map back.
 *
 * Command k of a run carries the colour value base + k packed as (r,g,b) =
 * 24 bits, and a ULID whose last 8 characters encode k. So a state frame
 * (r,g,b), an answer or an error naming a cmdId all lead back to k, and
 * from k to the intended send time: latency is per command, never averaged.
 * The run picks base above the current state's value, so the first frame
 * (the state before the run) never matches a command.
 */
#ifndef LG_CMD_H
#define LG_CMD_H

#include <stddef.h>
#include <stdint.h>

#define LG_ULID_LEN  26
#define LG_VALUE_MAX 0xFFFFFFu

/* What happened to command k (answer byte). */
enum {
    LG_ANS_NONE = 0,  /* not answered (yet) */
    LG_ANS_APPLIED,   /* 2xx applied, or (WS/MQTT) its state was seen */
    LG_ANS_DUPLICATE, /* 200 duplicate / ack duplicate */
    LG_ANS_ACCEPTED,  /* 202: the peer's "accepted", fate unknown */
    LG_ANS_OVERLOAD,  /* 503 or an error naming overload / dropped */
    LG_ANS_ERROR,     /* any other error status or error frame */
    LG_ANS_NOCONN,    /* the connection failed before an answer */
};
/* Where its state was seen (seen byte, bit flags). */
enum { LG_SEEN_WS = 1, LG_SEEN_MQTT = 2 };
/* Which path sent it (chan byte). */
enum { LG_CHAN_REST = 0, LG_CHAN_WS = 1, LG_CHAN_MQTT = 2 };

typedef struct lg_cmds {
    uint32_t cap;          /* commands this run may send */
    uint32_t n;            /* commands sent so far (k < n) */
    uint32_t base;         /* value of command 0 */
    uint64_t ulid_ms;      /* timestamp part of every cmdId of the run */
    uint64_t tag;          /* 40 random bits: marks this run's cmdIds */
    uint64_t *intended_ns; /* when k was due (open loop) or sent (closed) */
    uint8_t *answer;       /* LG_ANS_* (loop thread) */
    uint8_t *seen;         /* LG_SEEN_* (atomic or: the MQTT thread writes too) */
    uint8_t *chan;         /* LG_CHAN_* */
    uint64_t *seq;         /* seq the server's answer claims (REST 200), else 0 */
} lg_cmds_t;

/* cur_value: the value of the state before the run (from GET /rgb). */
void lg_cmds_init(lg_cmds_t *c, uint32_t cap, uint32_t cur_value);
void lg_cmds_free(lg_cmds_t *c);
/* Command index of a state value, or -1 if it is not one of this run's
 * (k < cap; callers check intended_ns[k] to know it was sent). */
int64_t lg_cmds_index_of_value(const lg_cmds_t *c, uint32_t value);
/* Command index named by a cmdId, or -1. */
int64_t lg_cmds_index_of_id(const lg_cmds_t *c, const char *id, size_t len);
void lg_cmds_rgb(const lg_cmds_t *c, uint32_t k, unsigned rgb[3]);
void lg_cmds_ulid(const lg_cmds_t *c, uint32_t k, char out[LG_ULID_LEN + 1]);
/* JSON bodies: {"cmdId",...,"r","g","b"} for REST/MQTT; {"type":"set",...} for WS. */
size_t lg_cmds_body(const lg_cmds_t *c, uint32_t k, const char *src, int ws, char *buf, size_t n);
/* The same command as the intent envelope of POST /api/v1/intents:
 * {"req_id":<its ULID>,"name":"fixture.set_values","src",
 *  "payload":{"fixture":"demo","values":{"red","green","blue"}}}. */
size_t lg_cmds_intent_body(const lg_cmds_t *c, uint32_t k, const char *src, char *buf, size_t n);

/* Shallow scans of small JSON texts (the hub's and the peer's frames). The
 * first occurrence of "key": is used; enough for the flat objects here. */
int lg_json_num(const char *s, size_t len, const char *key, double *out);
int lg_json_str(const char *s, size_t len, const char *key, char *out, size_t n);
/* A state (frame, MQTT payload or POST answer): value = r<<16|g<<8|b, seq. */
int lg_parse_state(const char *s, size_t len, uint32_t *value, uint64_t *seq);

uint64_t lg_now_ns(void); /* CLOCK_MONOTONIC, as uv_hrtime() */

#endif
