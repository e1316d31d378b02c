/* domains/schedules/schedules_int.h - shared by the files of the schedules domain. */
#ifndef HUB_DOMAINS_SCHEDULES_INT_H
#define HUB_DOMAINS_SCHEDULES_INT_H

#include <stdint.h>

#include <uv.h>

#include "core/err.h"
#include "core/metrics.h"
#include "domains/schedules/model.h"
#include "domains/schedules/schedules.h"
#include "engine/domain.h"
#include "engine/engine.h"

#define SCH_HUB             (-1)         /* the group key of the hub's own events (group_id null) */
#define SCH_GROUP_MAX       2147483647LL /* group ids: 0..2^31-1 */
#define SCH_TITLE_MAX       256          /* bytes */
#define SCH_TYPE_MAX        32           /* [a-z_]{1,32} */
#define SCH_EXDATES_MAX     1000
#define SCH_CONTENT_MAX     65536 /* bytes of content's compact JSON */
#define SCH_ACTIONS_MAX     65536 /* bytes of an on_start/on_end list's compact JSON */
#define SCH_EVENTS_DEFAULT  100000
#define SCH_BODY_MAX        262144 /* REST bodies of event routes */
#define SCH_DAY_MS          86400000LL
#define SCH_RANGE_DAYS_MAX  100    /* GET /api/v1/events?from&to */
#define SCH_RANGE_PER_EVENT 1000   /* occurrences per event in such a read */
#define SCH_RANGE_TOTAL_MAX 100000 /* occurrences in such a read */
#define SCH_SLICE_UNITS     50     /* a poll slice: groups to change (or publish), at most ... */
#define SCH_SLICE_US        1000   /* ... or this much apply once it has one (cycle.c) */

/* One event (a single event, a series, or an occurrence detached from one). */
typedef struct sch_event {
    int64_t id;
    int64_t group; /* group_id, or SCH_HUB */
    char *title;   /* 1..SCH_TITLE_MAX bytes */
    char type[SCH_TYPE_MAX + 1];
    int64_t start, end; /* ms, UTC; the first occurrence; end > start */
    char *rrule;        /* NULL: not recurring */
    int64_t *exdates;   /* ascending, unique occurrence starts removed */
    size_t nexdates;
    char *content;           /* compact JSON object, NULL: none */
    char *members;           /* content's members as `,"k":v…` for the MQTT list ("" none) */
    char *on_start, *on_end; /* compact JSON action arrays, NULL: none */
    int64_t detached_from;   /* the series it was detached from, 0: none */
    int64_t created, updated;
    char req_id[HUB_REQ_ID_MAX + 1]; /* the intent that created it ("" unknown) */
    int warned;                      /* its expansion failed and was logged (once) */
    /* The occurrences around now (cycle.c), so a cycle costs a binary
     * search per event, not a libical expansion: starts of the occurrences
     * overlapping [c_from, c_to), ascending, filled at c_at for a lookback
     * of c_look; refilled at c_refresh, when the event changes (c_ok 0),
     * when the clock steps back or when more of the past is needed. */
    int64_t *occ;
    size_t nocc;
    int64_t c_from, c_to, c_refresh, c_at, c_look;
    int c_ok; /* 0 stale, 1 valid, -1 its expansion failed */
} sch_event_t;

/* An occurrence covering the cycle's now: [s, e) of ev. */
typedef struct sch_cover {
    sch_event_t *ev;
    int64_t s, e;
} sch_cover_t;

/* A group's part of the state. */
typedef struct sch_group {
    int64_t id;       /* group_id, or SCH_HUB */
    char *active;     /* work: the active list last computed; NULL: empty */
    char *pub_active; /* what was announced (published); NULL: empty */
    int has_intent;   /* work: the cached power intent */
    sch_intent_t intent;
    char *pub_body; /* the announced intent's body, NULL none */
    size_t pub_len;
    int64_t pub_issued, pub_expires;
    int edited;     /* an event of the group changed since its last intent */
    uint64_t stamp; /* announce: the seq its list was last published for */
    /* cycle.c: what its events give at `at` — the occurrences covering it
     * (start, id order) and the power basis — kept until next_at, the
     * earliest instant any of them can change (an occurrence's start or
     * end, an event cache's refresh), unless `dirty` (an event of the group
     * changed) or the clock went back before `at`. Only derived: never
     * announced, never stored. */
    sch_cover_t *cov;
    size_t ncov, capcov;
    sch_basis_t basis;
    int64_t at, next_at;
    int dirty;
    sch_event_t **evs; /* its events, ascending id (state.c keeps them) */
    size_t nev, capevs;
    uint64_t slice_seq; /* the poll slice that covered it last (announce: refresh) */
} sch_group_t;

/* The durable record of an occurrence's hooks (schedule_fired). */
typedef struct sch_fired {
    int64_t event_id, occ; /* occ: the occurrence's start */
    int64_t start_at;      /* when on_start was recorded, 0: not */
    int64_t end_at;        /* when on_end was recorded, 0: not */
} sch_fired_t;

/* A hook to run once its intent is durable (announce of seq). */
typedef struct sch_hook {
    uint64_t seq;
    int64_t event_id, occ;
    int end; /* 0 on_start, 1 on_end */
    char *actions;
    struct sch_hook *next;
} sch_hook_t;

/* The native form of a schedules.power.<gid> change. */
typedef struct sch_power_native {
    int64_t group;
    int kind; /* SCH_PUB_* */
    int64_t issued_at, expires_at;
} sch_power_native_t;

struct hub_schdom {
    hub_domain_def_t def;
    hub_engine_t *engine;
    uv_loop_t *loop;
    hub_metrics_t *metrics;
    hub_schdom_cfg_t cfg;
    char root[64];

    sch_event_t **ev; /* ascending id */
    size_t nev, capev;
    int64_t next_id;
    sch_group_t **groups; /* ascending id */
    size_t ngroups, capgroups;
    sch_fired_t *fired; /* ascending (event_id, occ) */
    size_t nfired, capfired;
    sch_hook_t *hooks, *hooks_tail;
    /* The cycle in progress: slices (schedules.poll with a cursor) take the
     * groups from `cursor` on, all at `now`, until the last. */
    struct {
        int active, refresh;
        int64_t now, cursor;
        uint64_t seq;        /* the last applied slice's */
        uint64_t apply_us;   /* the slices' apply time so far */
        int slices, applied; /* slices applied, and those that changed something */
    } cyc;

    uv_timer_t timer;
    int timer_open;
    int poll_pending;      /* schedules.poll intents submitted and not answered */
    int poll_again;        /* an edit asked for a cycle while one ran: another after it */
    int started_cycle;     /* the start-up cycle applied (it re-stamps every intent) */
    uint64_t last_refresh; /* monotonic us of the last refresh cycle */
    int stopping;

    hub_metric_t *m_transitions, *m_republish, *m_failures, *m_age, *m_cycle, *m_events;
    hub_metric_t *m_hooks, *m_hook_refused, *m_slice;
};

/* schedules.c */
hub_intent_t *sch__intent_new(const char *name, const char *src);
int sch__own_only(hub_apply_t *ap);
/* Submit an intent the domain makes (poll, republish). 0 or an error. */
int sch__submit(hub_schdom_t *d, const char *name, json_t *payload);
/* A cycle, unless one is pending already. */
void sch__poll_soon(hub_schdom_t *d, int refresh);

/* events.c: the events and their intents */
sch_event_t *sch__event(const hub_schdom_t *d, int64_t id);
void sch__event_free(sch_event_t *ev);
void sch__event_insert(hub_schdom_t *d, sch_event_t *ev);
sch_event_t *sch__event_remove(hub_schdom_t *d, int64_t id);
/* ev's group_id changed from `from` (event.update): its group's list follows. */
void sch__event_regroup(hub_schdom_t *d, sch_event_t *ev, int64_t from);
/* The series view of an event, for the model. */
sch_series_t sch__series(const sch_event_t *ev);
/* content's members rendered for the MQTT list (sets ev->members). */
void sch__event_members(sch_event_t *ev);
sch_group_t *sch__group(hub_schdom_t *d, int64_t id, int create);
void sch__group_edited(hub_schdom_t *d, int64_t id);
sch_fired_t *sch__fired(hub_schdom_t *d, int64_t event_id, int64_t occ, int create);
void sch__fired_remove(hub_schdom_t *d, size_t i);
void sch__hook_queue(hub_schdom_t *d, uint64_t seq, const sch_event_t *ev, int64_t occ, int end);
int sch__apply_create(void *ctx, hub_apply_t *ap, const json_t *p);
int sch__apply_update(void *ctx, hub_apply_t *ap, const json_t *p);
int sch__apply_delete(void *ctx, hub_apply_t *ap, const json_t *p);
int sch__apply_detach(void *ctx, hub_apply_t *ap, const json_t *p);
/* A string or integer id from a payload; 0 when it names no event id. */
int64_t sch__id_of(const json_t *v);
/* "2026-03-31T10:15:30" (naive UTC, seed 004's REST) to ms: a missing Z or
 * "+00:00" is read as UTC. 0 or -1. */
int sch__time_parse_any(const char *s, size_t n, int64_t *ms);

/* cycle.c: schedules.poll and schedules.republish */
int sch__apply_poll(void *ctx, hub_apply_t *ap, const json_t *p);
int sch__apply_republish(void *ctx, hub_apply_t *ap, const json_t *p);
void sch__new_intent_id(void *ud, char out[37]);
/* The announcement of a slice that left groups to do: submit the next one. */
void sch__poll_next(hub_schdom_t *d);

/* render.c */
void sch__time(hub_jbuf_t *b, int64_t ms);    /* RFC 3339 with Z (ms only when not whole) */
void sch__time_py(hub_jbuf_t *b, int64_t ms); /* Python isoformat() of a naive UTC time */
void sch__render_event(hub_jbuf_t *b, const sch_event_t *ev);       /* ours, snake_case */
void sch__render_event_camel(hub_jbuf_t *b, const sch_event_t *ev); /* seed 004's REST */
/* One entry of the MQTT list of active events: the occurrence [s, e). */
void sch__render_active(hub_jbuf_t *b, const sch_event_t *ev, int64_t s, int64_t e);
void sch__change_event(hub_apply_t *ap, const sch_event_t *ev);
void sch__change_event_gone(hub_apply_t *ap, int64_t id);
/* "schedules.active.<gid>" or "schedules.active.hub" into path. */
void sch__active_path(char *path, size_t n, int64_t group);

/* store.c */
extern const hub_migration_t sch__migrations[];
extern const int sch__nmigrations;
int sch__load(void *ctx, hub_db_t *db, char *err, size_t errlen);
void sch__row_event(hub_apply_t *ap, const sch_event_t *ev);
void sch__row_event_delete(hub_apply_t *ap, int64_t id); /* also its fired rows */
void sch__row_next_id(hub_apply_t *ap, int64_t next_id);
void sch__row_fired(hub_apply_t *ap, int64_t event_id, int64_t occ, int end, int64_t at);
void sch__row_fired_delete(hub_apply_t *ap, int64_t event_id, int64_t occ);
void sch__row_active(hub_apply_t *ap, int64_t group, const char *list); /* NULL: delete */
void sch__row_power(hub_apply_t *ap, int64_t group, const char *body, size_t len);
/* Parse an intent body (as rendered by sch_intent_render) back; 0 or -1. */
int sch__intent_parse(const char *body, size_t len, sch_intent_t *out);

/* routes.c */
extern const hub_route_def_t sch__routes[];

#endif
