/* engine/intent.h - intents: the only way state changes.
 *
 * An intent is {req_id, src, name, payload}. Every adapter (REST, WS, MQTT,
 * a timer, another domain) turns its input into one; the engine queues it,
 * dedupes it by req_id, hands it to the domain that registered its name and
 * gives it one seq. Parsing the envelope is pure and thread-agnostic; the
 * engine owns an intent from hub_engine_submit() until its done callback has
 * returned.
 *
 * The seed-000 RGB command ({cmdId, src, r, g, b}) is an intent too:
 * fixture.set_values on the fixture "demo", with the cmdId as its req_id.
 * It is flagged `legacy` so adapters answer it in the seed-000 format. It
 * carries its values natively (rgb) and no payload tree (payload NULL;
 * payload_text is the journal's JSON as usual): the /rgb hot path builds
 * no JSON objects, and the domain's apply reads in->rgb.
 */
#ifndef HUB_ENGINE_INTENT_H
#define HUB_ENGINE_INTENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define HUB_REQ_ID_MAX         64
#define HUB_SRC_MAX            64
#define HUB_NAME_MAX           63
#define HUB_FIELD_MAX          63
#define HUB_ERRMSG_MAX         255
#define HUB_CMD_SCHEMA         "demo.rgb.cmd.v1"
#define HUB_INTERNAL_ID_PREFIX '~' /* the first character of an internal intent's req_id */
/* How every adapter parses JSON: duplicate keys are ambiguous and refused;
 * 1e20 and 100000000000000000000 are the same number (clamped, not refused). */
#define HUB_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL)

typedef struct hub_intent hub_intent_t;
typedef struct hub_announce hub_announce_t;

/* The error codes of the external contract (REST, WS result frames, MQTT). */
typedef enum hub_errcode {
    HUB_ERR_NONE = 0,
    HUB_ERR_INVALID,        /* 400: bad payload or envelope */
    HUB_ERR_UNKNOWN_INTENT, /* 400: no domain registered the name */
    HUB_ERR_NOT_FOUND,      /* 404: it names something that does not exist */
    HUB_ERR_CONFLICT,       /* 409: not possible in the current state */
    HUB_ERR_OVERLOADED,     /* 503: queue full, or shutting down */
    HUB_ERR_DROPPED,        /* 503: dropped by the overload policy */
    HUB_ERR_UNAUTHORIZED,   /* 401 */
    HUB_ERR_STORE_FAILED,   /* 500: applied in memory, not durable */
} hub_errcode_t;

/* "invalid", "unknown_intent", …; "" for HUB_ERR_NONE. */
const char *hub_errcode_name(hub_errcode_t code);
/* The HTTP status of code (200 for HUB_ERR_NONE). */
int hub_errcode_http(hub_errcode_t code);

/* Why an intent was not applied: code, a message for people, and the field
 * of the payload it is about ("values.red", "" for the whole). */
typedef struct hub_error {
    hub_errcode_t code;
    char field[HUB_FIELD_MAX + 1];
    char msg[HUB_ERRMSG_MAX + 1];
} hub_error_t;

/* printf into err->msg, set code and field. Returns HUB_EINVAL (core/err.h)
 * so callers can `return hub_error_set(…)`. */
int hub_error_set(hub_error_t *err, hub_errcode_t code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fates, passed to the done callback. */
enum {
    HUB_INTENT_APPLIED = 0,   /* durable and announced; seq is its seq */
    HUB_INTENT_DUPLICATE = 1, /* req_id seen before: seq is the first one's */
    HUB_INTENT_REJECTED = 2,  /* err says why; nothing changed */
};

/* Called once on the loop thread with the intent's fate. For an applied
 * intent ann is its announcement (valid during the call), else NULL. The
 * engine frees the intent after the callback returns. */
typedef void (*hub_intent_done_cb)(hub_intent_t *in, const hub_announce_t *ann, void *ud);

struct hub_intent {
    hub_intent_t *next, *prev;       /* engine queue links */
    hub_intent_t *ui_next, *ui_prev; /* engine: queued intents with src "ui" */
    char req_id[HUB_REQ_ID_MAX + 1];
    char src[HUB_SRC_MAX + 1];
    char name[HUB_NAME_MAX + 1];
    json_t *payload;    /* owned; an object; NULL only for a legacy command */
    char *payload_text; /* owned; compact JSON of payload, for the journal */
    size_t payload_len;
    int is_ui;      /* src == "ui": droppable under overload */
    int legacy;     /* a seed-000 RGB command: answer in that format */
    uint8_t rgb[3]; /* legacy: r, g, b (payload is NULL: see below) */
    int reply;      /* adapter-private: e.g. MQTT reply_to present */
    /* Made by the hub itself (a domain's telemetry ingest, its timers), never
     * by a client: domains may accept some intents only so, and the engine
     * does not dedupe them. Its req_id starts with HUB_INTERNAL_ID_PREFIX, so
     * a restart does not restore it into the dedupe cache either. No adapter
     * parses it from a request. */
    int internal;
    char *reply_to;          /* adapter-private, owned: MQTT reply topic */
    const void *route;       /* adapter-private: the REST route it came by */
    void *route_ctx;         /* adapter-private: that route's domain context */
    uint64_t recv_us;        /* monotonic time the adapter received it */
    hub_intent_done_cb done; /* NULL: nobody waits (detached) */
    void *ud;
    /* Set by the engine. */
    int outcome;     /* HUB_INTENT_* or a negative HUB_E* code */
    uint64_t seq;    /* applied: its seq; duplicate: the first one's */
    uint64_t ts_ms;  /* applied: wall time it was applied */
    hub_error_t err; /* rejected or failed: why */
    void *_rec;      /* engine: the record of an applied intent */
};

/* Numbers arrive as reals (HUB_JSON_FLAGS); turn the integral ones back into
 * integers, in place, so the journal reads 255, not 255.0, and a route can
 * check json_is_integer. Envelopes get this in hub_intent_from_envelope. */
void hub_json_normalize_numbers(json_t *v);

/* A new intent with an empty payload object ({}), src "api". */
hub_intent_t *hub_intent_new(const char *req_id, const char *src, const char *name);
/* Replace the payload (takes the reference) and render its text. */
void hub_intent_set_payload(hub_intent_t *in, json_t *payload);
/* An intent the hub makes itself (a domain's timers, telemetry, outcomes):
 * internal, its req_id a fresh ULID behind HUB_INTERNAL_ID_PREFIX. */
hub_intent_t *hub_intent_new_internal(const char *name, const char *src);
void hub_intent_free(hub_intent_t *in);

/* 1 if s[0..len) is a valid req_id: 1-64 printable ASCII characters. */
int hub_req_id_valid(const char *s, size_t len);
/* 1 if s[0..len) is a valid src: 1-64 printable ASCII characters. */
int hub_src_valid(const char *s, size_t len);

/* Build an intent from a parsed envelope {req_id?, src?, name, payload?}.
 * require_req_id: WS and MQTT; otherwise a missing req_id is left empty for
 * the caller to fill (Idempotency-Key, or a new ULID). payload must be an
 * object when present ({} otherwise). Unknown members are ignored except
 * "type" and "reply_to", which the adapters read. On failure returns
 * HUB_EINVAL with err set (field names the member) and *req_id_out holds
 * the req_id when one was readable ("" otherwise) so the answer can carry it. */
int hub_intent_from_envelope(const json_t *obj, const char *default_src, int require_req_id,
                             hub_intent_t **out, hub_error_t *err,
                             char req_id_out[HUB_REQ_ID_MAX + 1]);

/* Take an MQTT reply topic (v: a JSON string, 1-256 bytes, no wildcards,
 * no NUL) into in->reply_to. v NULL: nothing to do. 0 or HUB_EINVAL. */
int hub_intent_set_reply_to(hub_intent_t *in, const json_t *v, hub_error_t *err);

/* The seed-000 command {cmdId, src?, schema?, r, g, b} as an intent:
 * fixture.set_values {"fixture":"demo","values":{"red":r,"green":g,"blue":b}}
 * with r, g, b rounded and clamped and req_id the canonical cmdId. On failure
 * HUB_EINVAL, err->msg/field say why in the seed-000 words, and cmd_id holds
 * the cmdId when it was a valid ULID ("" otherwise). */
int hub_intent_from_rgb(const json_t *obj, const char *default_src, hub_intent_t **out,
                        hub_error_t *err, char cmd_id[HUB_REQ_ID_MAX + 1]);
/* Parse text (at most len bytes, not NUL-terminated) then hub_intent_from_rgb. */
int hub_intent_parse_rgb(const char *text, size_t len, const char *default_src, hub_intent_t **out,
                         hub_error_t *err, char cmd_id[HUB_REQ_ID_MAX + 1]);
/* Round to nearest (half away from zero) and clamp to 0..255. */
uint8_t hub_clamp_byte(double v);

#endif
