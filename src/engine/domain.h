/* engine/domain.h - the domain interface: how a part of the state plugs in.
 *
 * A domain owns one part of the installation's state (dmx: universes,
 * fixtures, blackout …). It registers, once, a hub_domain_def_t with the
 * engine (hub_engine_register) and from then on:
 *
 *  - intents: the names it accepts, each with an apply function. apply runs
 *    on the loop thread, validates the payload against the working state,
 *    changes the state and reports what changed as changes (patches)
 *    {path, value}: whole entities ("dmx.fixtures.par1" → the fixture
 *    object) plus the rows the store writes in the same group commit. No I/O
 *    inside apply; anything that needs I/O (reading a file) happens in the
 *    intent's prepare step, on the submitting thread, before it is queued,
 *    and travels in the payload (so the journal holds what was applied).
 *    On failure apply must leave the state as it was: validate first, then
 *    change.
 *  - state roots: the first segment of its paths ("dmx"); each root is a WS
 *    room. Its entities (the snapshot) seed the engine's published tree at
 *    start-up; from then on the tree follows the announced changes.
 *  - schema steps and load: its tables, created and migrated by its own
 *    steps, read back at start-up.
 *  - announce: called for every applied intent once it is durable, in seq
 *    order, with the changes under its roots, so it can update what it
 *    publishes (MQTT topics, named views, frames to a room, outputs).
 *  - routes and topics: REST paths and MQTT topic filters that become
 *    intents (or reads of its published state).
 *
 * Adapters (http, ws, mqtt) see intents, changes and these tables, never a
 * domain's structs. See docs/ARCHITECTURE.md for the dmx domain as the
 * worked example.
 */
#ifndef HUB_ENGINE_DOMAIN_H
#define HUB_ENGINE_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/jbuf.h"
#include "engine/intent.h"
#include "engine/rows.h"

typedef struct hub_engine hub_engine_t;
typedef struct hub_apply hub_apply_t;
typedef struct hub_outbox hub_outbox_t;

/* One change of an applied intent: the entity at path is now value (JSON
 * text; "null" = it is gone). native is the domain's own form of the same
 * entity (optional), so its announce hook can update what it publishes
 * without parsing the text back. */
typedef struct hub_change {
    const char *path;
    const char *value;
    size_t value_len;
    const void *native;
    size_t native_len;
} hub_change_t;

/* An applied, durable intent as subscribers and domains see it. */
struct hub_announce {
    uint64_t seq;
    uint64_t ts_ms;
    const hub_intent_t *intent;
    const hub_change_t *changes; /* in the order apply made them */
    size_t nchanges;
    const char *patches; /* [{"path":…,"value":…},…], rendered once */
    size_t patches_len;
    uint64_t rooms;                /* bit per room (hub_engine_room_bit) its paths touch */
    const struct hub_outmsg *msgs; /* what domains published for it */
    size_t nmsgs;
    int more; /* more announcements of the same group commit follow */
};

/* ---- apply ---------------------------------------------------------------- */

/* The seq and wall time the intent will get if it applies. */
uint64_t hub_apply_seq(const hub_apply_t *ap);
uint64_t hub_apply_ts_ms(const hub_apply_t *ap);
const hub_intent_t *hub_apply_intent(const hub_apply_t *ap);
/* Memory that lives as long as the intent (8-byte aligned). */
void *hub_apply_alloc(hub_apply_t *ap, size_t n);
/* A scratch buffer for rendering values; reset by every call. */
hub_jbuf_t *hub_apply_scratch(hub_apply_t *ap);
/* Record a change (everything is copied). */
void hub_apply_change(hub_apply_t *ap, const char *path, const char *value, size_t len,
                      const void *native, size_t native_len);
/* Record a row for the group commit (values and their bytes are copied). */
void hub_apply_row(hub_apply_t *ap, const hub_stmt_t *stmt, const char *key, const hub_val_t *vals);
/* Refuse the intent; returns HUB_EINVAL for `return hub_apply_fail(…)`. */
int hub_apply_fail(hub_apply_t *ap, hub_errcode_t code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 0 for an internal intent (hub_intent_new_internal), else refuses it
 * (HUB_EINVAL): "<name> is made by the hub itself (<made_by>); it cannot be
 * sent". */
int hub_apply_own_only(hub_apply_t *ap, const char *made_by);

/* Refuse a payload that is not an object or has a member not in allowed
 * (NULL-terminated): a typo must not be silently ignored. 0 or HUB_EINVAL. */
int hub_apply_check_keys(hub_apply_t *ap, const json_t *payload, const char *const *allowed);

/* ---- outbox: what a domain publishes when its changes are announced -------- */

enum { HUB_OUT_MQTT = 1, HUB_OUT_FRAME, HUB_OUT_VIEW, HUB_OUT_EVENT };

/* The fate of a tracked MQTT message (loop thread): ok 1 once the broker
 * acknowledged it (QoS 1 PUBACK), 0 with why when it was not sent (MQTT
 * disabled or disconnected, the connection lost before the PUBACK, or no
 * PUBACK within HUB_SENT_TIMEOUT_MS). Called exactly once, never from inside
 * the domain's own announce. */
typedef void (*hub_sent_fn)(void *ctx, uint64_t token, int ok, const char *why);
#define HUB_SENT_TIMEOUT_MS 5000
enum { HUB_EVENT_INFO = 0, HUB_EVENT_WARNING, HUB_EVENT_ERROR };
#define HUB_OUT_CONFLATE 1 /* MQTT: only the last of a group commit per topic matters */
/* MQTT retained: retained by the broker but not kept by the engine for its
 * reconnect republish (the domain republishes it, e.g. only while valid). */
#define HUB_OUT_NOKEEP 2

typedef struct hub_outmsg {
    int kind;         /* HUB_OUT_* */
    const char *name; /* MQTT topic, room, view name, or event source */
    const char *text; /* payload, frame, view text or event message */
    size_t len;
    int qos, retain, flags; /* MQTT */
    int level;              /* event */
    /* MQTT, tracked (hub_outbox_mqtt_tracked): told its fate once. */
    hub_sent_fn sent;
    void *sent_ctx;
    uint64_t token;
} hub_outmsg_t;

/* MQTT message. retain: the engine also keeps it as the topic's current
 * value (republished on every broker (re)connect); an empty retained
 * payload clears the topic and forgets it. */
void hub_outbox_mqtt(hub_outbox_t *o, const char *topic, const char *payload, size_t len, int qos,
                     int retain, int flags);
/* A QoS 1 message whose fate sent(ctx, token, …) is told. */
void hub_outbox_mqtt_tracked(hub_outbox_t *o, const char *topic, const char *payload, size_t len,
                             int retain, hub_sent_fn sent, void *ctx, uint64_t token);
/* Either of the above with every option: sent NULL for untracked. */
void hub_outbox_mqtt_ex(hub_outbox_t *o, const char *topic, const char *payload, size_t len,
                        int qos, int retain, int flags, hub_sent_fn sent, void *ctx,
                        uint64_t token);
/* A WebSocket text frame for every session in room (e.g. the seed-000
 * "state" frames in room "demo"). */
void hub_outbox_frame(hub_outbox_t *o, const char *room, const char *text, size_t len);
/* The current text of a named view (e.g. "rgb", the body of GET /rgb). */
void hub_outbox_view(hub_outbox_t *o, const char *view, const char *text, size_t len);
/* An operator event in room "system". */
void hub_outbox_event(hub_outbox_t *o, int level, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- routes and topics -------------------------------------------------------- */

enum { HUB_HTTP_GET = 1, HUB_HTTP_POST, HUB_HTTP_PUT, HUB_HTTP_PATCH, HUB_HTTP_DELETE };

#define HUB_ROUTE_ARGS_MAX 4
/* A matched request. args point into argbuf: keep it where it was filled
 * (heap-allocate it to hand it to another thread; do not copy it). */
typedef struct hub_route_req {
    const char *args[HUB_ROUTE_ARGS_MAX]; /* the path segments matched by '*' */
    int nargs;
    const char *query;  /* after '?', "" when none */
    const json_t *body; /* mutations: the parsed body (NULL: none) */
    char argbuf[512];
} hub_route_req_t;

/* An HTTP answer a domain gives later (loop thread): from a route's answer
 * or read_async hook, kept until it knows what to say. Send exactly once;
 * the handle is freed by it. A client that left meanwhile is skipped. */
typedef struct hub_reply hub_reply_t;
struct hub_reply {
    void (*send)(hub_reply_t *r, int status, const char *body, size_t len);
};
static inline void hub_reply_send(hub_reply_t *r, int status, const char *body, size_t len)
{
    r->send(r, status, body, len);
}
/* Seed 004's error body {"error": msg} with status. */
void hub_reply_error(hub_reply_t *r, int status, const char *msg);

/* A REST route. pattern: "/api/v1/fixtures/ *" (without the space): '*'
 * matches one path segment. Exactly one of to_intent, read and file is set.
 * to_intent: a mutation; runs on a network thread, pure: build the intent's
 *   name and payload (a new reference) from the request, or refuse.
 * read: runs on the loop thread with the domain's context; renders the body
 *   (JSON) from the published state, or refuses (err->code gives the status). */
typedef struct hub_route_def {
    int method;
    const char *pattern;
    int (*to_intent)(const hub_route_req_t *rq, const char **name, json_t **payload,
                     hub_error_t *err);
    int (*read)(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err);
    /* A file download (GET/HEAD): runs on the loop thread like read and
     * names the file (path, and its content type, a static string); the
     * network thread then serves it from disk with Range support (one
     * range: 206 with Content-Range; 416 when unsatisfiable). */
    int (*file)(void *ctx, const hub_route_req_t *rq, char *path, size_t pathlen,
                const char **ctype, hub_error_t *err);
    /* to_intent routes: the largest body accepted (0: the default limit for
     * commands and intents, 16 KiB); set from configuration at start-up
     * through a pointer so a limit can follow DMX_* settings. */
    const int *max_body;
    /* to_intent routes, optional: the answer in the route's own format
     * instead of {"ok":…} (loop thread, once the intent's fate is known; ann
     * is NULL unless it was applied now). Answer at once with
     * hub_reply_send, or keep reply and answer later. */
    void (*answer)(void *ctx, const hub_intent_t *in, const hub_announce_t *ann,
                   hub_reply_t *reply);
    /* A read that needs to wait (e.g. for the store's reader): instead of
     * read, on the loop thread; 0 after taking reply (answered once, maybe
     * later), or non-zero with err set (answered as an error at once). rq
     * lives only during the call: copy what the answer needs. */
    int (*read_async)(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err);
    /* to_intent routes: a body that is not a JSON object reads as none
     * (seed 004's get_json(silent=True)) instead of a 400. */
    int lenient_body;
} hub_route_def_t;

/* An MQTT topic filter whose messages become intents (loop thread). topic
 * and payload are the message's; build the intent (req_id may be left "" for
 * the adapter to fill) or refuse. */
typedef struct hub_topic_def {
    const char *filter;
    int (*to_intent)(void *ctx, const char *topic, const char *payload, size_t len,
                     hub_intent_t **out, hub_error_t *err);
    /* Device telemetry: the adapter hands every message over as it came
     * (to every domain with a raw filter that matches)
     * (empty, huge or not UTF-8 too) and stays quiet about it; the domain
     * logs and counts what it refuses. to_intent returning 0 with *out NULL
     * means "taken, nothing to apply"; its intents' refusals are only
     * logged at debug (the domain counted them). */
    int raw;
} hub_topic_def_t;

/* ---- the definition ------------------------------------------------------------ */

/* payload: the intent's object. NULL only for a seed-000 RGB command
 * (hub_apply_intent(ap)->legacy, name fixture.set_values): its values are in
 * ->rgb (engine/intent.h). */
typedef int (*hub_apply_fn)(void *ctx, hub_apply_t *ap, const json_t *payload);

typedef struct hub_intent_def {
    const char *name; /* "fixture.set_values" */
    hub_apply_fn apply;
    /* Optional, any thread (the submitter's), before queueing: may do I/O
     * and rewrite the payload; 0 or HUB_EINVAL with err set. */
    int (*prepare)(void *ctx, hub_intent_t *in, hub_error_t *err);
} hub_intent_def_t;

typedef void (*hub_entity_fn)(void *ud, const char *path, const char *value, size_t len);

typedef struct hub_domain_def {
    const char *name;                /* also its schema owner name */
    const char *const *roots;        /* NULL-terminated state roots; NULL: {name} */
    const char *const *frame_rooms;  /* NULL-terminated rooms it sends frames to, or NULL */
    const hub_intent_def_t *intents; /* terminated by {NULL} */
    const hub_migration_t *migrations;
    int nmigrations;
    /* Start-up, after its migrations: read its tables (synchronous). */
    int (*load)(void *ctx, hub_db_t *db, char *err, size_t errlen);
    /* Every entity of its working state, at the same granularity as its
     * changes (the published tree starts from these). */
    void (*entities)(void *ctx, hub_entity_fn emit, void *ud);
    /* An applied intent is durable: mine are the changes under its roots. */
    void (*announce)(void *ctx, const hub_announce_t *ann, const hub_change_t *mine, size_t nmine,
                     hub_outbox_t *out);
    /* After the last announcement of a group commit (optional). */
    void (*announced)(void *ctx);
    /* Start-up: publish everything it keeps current (retained MQTT topics,
     * named views), as if all of it had just been announced. */
    void (*publish_all)(void *ctx, hub_outbox_t *out);
    /* Rooms inside a root: pairs {room, path prefix, …, NULL}, e.g.
     * {"commands", "devices.commands", NULL}: changes under the prefix go to
     * that room (not the root's), and a snapshot of the root's room leaves
     * the prefix out unless that room is asked for too. */
    const char *const *sub_rooms;
    const hub_route_def_t *routes; /* terminated by {0}; may be NULL */
    const hub_topic_def_t *topics; /* terminated by {NULL}; may be NULL */
} hub_domain_def_t;

#endif
