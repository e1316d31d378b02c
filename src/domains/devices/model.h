/* domains/devices/model.h - the fleet's pure model: command lifecycle,
 * seed 004's frozen payloads, telemetry mapping, times and the outage rule.
 *
 * Nothing here touches the engine, the clock or the network: every function
 * is a function of its arguments, so the unit tests (test_dev_lifecycle,
 * test_dev_telemetry) pin the seed's rules down exactly.
 *
 * Threading: pure; any thread.
 */
#ifndef HUB_DOMAINS_DEVICES_MODEL_H
#define HUB_DOMAINS_DEVICES_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/jbuf.h"

/* ---- times (model_time.c) -------------------------------------------------------- */

#define DEV_TIME_MAX 32

/* ms since the epoch as RFC 3339 UTC with Z: "2026-04-03T12:48:10Z"
 * (with_ms 0) or "2026-04-03T12:48:10.123Z" (with_ms 1). Returns the length. */
size_t dev_time_format(uint64_t ms, int with_ms, char out[DEV_TIME_MAX]);
/* Parse ISO 8601 / RFC 3339 as Python's fromisoformat after Z -> +00:00:
 * "YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z|+HH:MM|-HH:MM]" (a space for T is allowed;
 * no offset = naive = UTC). Anything else, or a date before 1970: -1. */
int dev_time_parse(const char *s, size_t len, uint64_t *ms);

/* ---- commands (model_command.c) --------------------------------------------------- */

typedef enum dev_status {
    DEV_ST_QUEUED = 0,
    DEV_ST_PUBLISH_IN_PROGRESS,
    DEV_ST_PUBLISHED,
    DEV_ST_ACK_RECEIVED,
    DEV_ST_EXECUTION_STARTED,
    DEV_ST_COMPLETED,
    DEV_ST_FAILED,
    DEV_ST_EXPIRED,
    DEV_ST_CANCELED,
    DEV_ST_BLOCKED_SAFETY,
    DEV_ST_COUNT
} dev_status_t;

const char *dev_status_name(dev_status_t s);            /* "queued", …, "blocked_safety" */
int dev_status_parse(const char *s, dev_status_t *out); /* 0 or -1 */
/* completed, failed, expired, canceled, blocked_safety */
int dev_status_terminal(dev_status_t s);

typedef enum dev_action {
    DEV_ACT_REBOOT_HOST = 0,
    DEV_ACT_SHUTDOWN_HOST,
    DEV_ACT_RESTART_APP,
    DEV_ACT_COUNT
} dev_action_t;

const char *dev_action_name(dev_action_t a); /* "reboot_host", … */
int dev_action_parse(const char *s, dev_action_t *out);
/* reboot_host and restart_app count towards the safety lockout. */
int dev_action_locks(dev_action_t a);

/* The seed's defaults and bounds. */
#define DEV_EXPIRY_DEFAULT_S  240
#define DEV_EXPIRY_MIN_S      180
#define DEV_EXPIRY_MAX_S      360
#define DEV_LOCKOUT_THRESHOLD 3
#define DEV_LOCKOUT_WINDOW_MS (15u * 60u * 1000u)
#define DEV_REASON_MAX        2000
#define DEV_ERROR_CODE_MAX    128
#define DEV_ERROR_MESSAGE_MAX 4000
#define DEV_UNIT_MAX          128

/* Clamp a configured expiry to 180-360 s. */
int dev_expiry_clamp(int seconds);

/* 1 when created (ms, any order, n of them) holds at least
 * DEV_LOCKOUT_THRESHOLD entries with created >= now - window: the next
 * reboot_host/restart_app is blocked. */
int dev_lockout_hit(const uint64_t *created, size_t n, uint64_t now, uint64_t window);

/* The command payload v1 (seed 004 4.3.1), exactly its eight keys in its
 * order; requested_by <= 0 and reason NULL render null; times without ms. */
void dev_command_payload(hub_jbuf_t *b, const char *command_id, const char *client_uuid,
                         dev_action_t a, uint64_t issued_ms, uint64_t expires_ms,
                         int64_t requested_by, const char *reason);

/* Check a command payload against the frozen schema's commandPayloadV1,
 * with restart_app accepted (seed 004 4.15.1). 0, or -1 with the client-side
 * error code ("invalid_schema" or "missing_field") and a message. */
int dev_command_validate(const json_t *payload, const char **code, char *why, size_t whylen);

/* A command ACK (seed 004 4.3.2), as the hub's listener takes it. */
typedef enum dev_ack_status {
    DEV_ACK_ACCEPTED = 0,
    DEV_ACK_EXECUTION_STARTED,
    DEV_ACK_COMPLETED,
    DEV_ACK_FAILED
} dev_ack_status_t;

typedef struct dev_ack {
    char command_id[37];
    dev_ack_status_t status;
    const char *error_code;    /* NULL: null/absent; points into the parsed JSON */
    const char *error_message; /* idem */
} dev_ack_t;

/* Parse and check an ACK payload (root: the parsed JSON, NULL when it was
 * not JSON). The listener's rules: status trimmed and lower-cased; extra
 * keys ignored; plus the frozen schema's: command_id a UUID, error_code a
 * string <= 128 or null, error_message a string <= 4000 or null, and a
 * failed ACK needs both non-empty. 0, or -1 with *reason one of "not_json",
 * "not_object", "missing_command_id", "bad_command_id", "unknown_status",
 * "bad_error_code", "bad_error_message", "failed_without_error" and why. */
int dev_ack_parse(const json_t *root, dev_ack_t *out, const char **reason, char *why,
                  size_t whylen);

/* What an ACK does to a command in status cur. */
typedef enum dev_ack_verdict {
    DEV_ACK_APPLY = 0,       /* *next is the new status */
    DEV_ACK_IGNORE_TERMINAL, /* the command is already terminal (the seed's rule) */
    DEV_ACK_IGNORE_BACKWARDS /* a non-terminal ACK at or behind cur (ours: no regression) */
} dev_ack_verdict_t;

/* accepted -> ack_received, execution_started, completed, failed. Order
 * queued < publish_in_progress < published < ack_received <
 * execution_started < completed; failed moves any non-terminal command. An
 * ACK that arrives before the publish is confirmed (the publish race) moves
 * it forward as usual. */
dev_ack_verdict_t dev_ack_apply(dev_status_t cur, dev_ack_status_t ack, dev_status_t *next);

/* The publish outcome: ok -> published only from queued/publish_in_progress
 * (never regress what an ACK wrote); failed -> failed only from those two.
 * Returns 1 and sets *next when the status changes, else 0. */
int dev_publish_outcome(dev_status_t cur, int ok, dev_status_t *next);

/* 1 when the sweep expires it: not terminal and expires_ms < now. */
int dev_command_expired(dev_status_t cur, uint64_t expires_ms, uint64_t now);

/* ---- telemetry (model_telemetry.c) ------------------------------------------------ */

typedef enum dev_proc {
    DEV_PROC_RUNNING = 0,
    DEV_PROC_CRASHED,
    DEV_PROC_STARTING,
    DEV_PROC_STOPPED,
    DEV_PROC_COUNT
} dev_proc_t;
typedef enum dev_screen {
    DEV_SCREEN_OK = 0,
    DEV_SCREEN_BLACK,
    DEV_SCREEN_FROZEN,
    DEV_SCREEN_UNKNOWN,
    DEV_SCREEN_COUNT
} dev_screen_t;

const char *dev_proc_name(dev_proc_t p);                /* "running", … */
int dev_proc_parse(const char *s, dev_proc_t *out);     /* exact lower case; 0 or -1 */
const char *dev_screen_name(dev_screen_t s);            /* "OK", "BLACK", "FROZEN", "UNKNOWN" */
int dev_screen_parse(const char *s, dev_screen_t *out); /* exact upper case */

#define DEV_PROCESS_MAX 128

/* The fields a heartbeat or health message sets; has_* says which were
 * present and valid (an invalid value is ignored, as the seed's listener
 * does, and listed in ignored[]). */
typedef struct dev_telemetry {
    int has_process, has_pid, has_status, has_event, has_screen, has_reconnects, has_disconnect;
    char process[DEV_PROCESS_MAX + 1];
    int64_t pid;
    dev_proc_t status;
    int64_t event_id;
    dev_screen_t screen;
    int64_t reconnects;
    uint64_t disconnect_ms;
    const char *ignored[8]; /* names of fields present but invalid */
    int nignored;
} dev_telemetry_t;

/* Health (seed 004 4.3.5): actual_state.process/pid/status,
 * expected_state.event_id, health_metrics.screen_health_status (or a
 * top-level screen_health_status), broker_connection.reconnect_count (an
 * integer, a whole float or a decimal string, as Python's int()) and
 * broker_connection.last_disconnect_at (ISO; Z, offset or naive). root must
 * be an object: else -1. */
int dev_health_map(const json_t *root, dev_telemetry_t *out);
/* Heartbeat: the enhanced fields at top level: current_process,
 * process_pid, process_status, current_event_id. A non-object: -1. An
 * empty payload is a plain heartbeat: call with root NULL -> 0, nothing set. */
int dev_heartbeat_map(const json_t *root, dev_telemetry_t *out);

/* ---- liveness and the outage rule (model_liveness.c) ----------------------------------- */

/* Alive = active and last_alive within grace (last_alive 0 = never: not alive). */
int dev_alive(int is_active, uint64_t last_alive_ms, uint64_t now, uint64_t grace_ms);

/* The broker-outage heuristic. last_alive: of the active devices that have
 * been seen (n of them). Stale = last_alive < now - grace. Suspected when
 * n >= 2 and the stale devices whose last_alive lies within one grace
 * period of the newest stale last_alive number at least fraction * n (they
 * went silent together). *nstale gets the stale count. */
int dev_outage_suspected(const uint64_t *last_alive, size_t n, uint64_t now, uint64_t grace_ms,
                         double fraction, size_t *nstale);

/* ---- ids ------------------------------------------------------------------------- */

#define DEV_ID_MAX 64
/* A device id usable in paths and topics: 1-64 of [A-Za-z0-9_:-] (no '.',
 * '/', '+', '#'). UUIDs qualify. */
int dev_id_valid(const char *s, size_t len);

#endif
