/* domains/schedules/routes.c - REST: ours under /api/v1/events and
 * /api/v1/power, and seed 004's /api/events with its camelCase bodies.
 *
 *   GET    /api/v1/events[?group_id=N|null][&from=…Z&to=…Z]  the events, or
 *          their occurrences in [from, to) (at most 100 days, 1,000 per
 *          event, 100,000 in all: "truncated" says when cut)
 *   POST   /api/v1/events                    201 + the event
 *   GET    /api/v1/events/<id>
 *   PUT    /api/v1/events/<id>               whole replacement; 200 + the event
 *   DELETE /api/v1/events/<id>               {"ok":true,"seq":N}
 *   POST   /api/v1/events/<id>/occurrences/<YYYY-MM-DD>/detach
 *          body: overrides (optional); 201 + the new standalone event
 *   GET    /api/v1/power                     every group's cached intent
 *   GET    /api/events, /api/events/<id>     seed 004: camelCase
 *   PUT    /api/events/<id>                  seed 004: camelCase fields, merged
 *   POST   /api/events/<id>/occurrences/<date>/detach   seed 004; 201
 *
 * Seed routes answer errors as {"error": "<message>"} with 400/404/409;
 * ours as the rest of /api/v1 ({"ok":false,"error":{code,message,field}}).
 * Mutations are intents (the API key applies as to every mutation).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "domains/schedules/schedules_int.h"

static const int body_max = SCH_BODY_MAX;

/* ---- queries ---------------------------------------------------------------------------- */

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The decoded value of key in the query, or -1 when absent (too long: -2). */
static int query_get(const char *q, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    while (q != NULL && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
            size_t k = 0;
            for (size_t i = kl + 1; i < len; i++) {
                int c = (unsigned char)q[i];
                if (c == '%' && i + 2 < len && hexval(q[i + 1]) >= 0 && hexval(q[i + 2]) >= 0) {
                    c = hexval(q[i + 1]) * 16 + hexval(q[i + 2]);
                    i += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (k + 1 >= n)
                    return -2;
                out[k++] = (char)c;
            }
            out[k] = '\0';
            return 0;
        }
        q = amp ? amp + 1 : NULL;
    }
    return -1;
}

/* ?group_id=: 0 none given, 1 given (*group), or -1 invalid. */
static int query_group(const char *q, int64_t *group, hub_error_t *err)
{
    char v[32];
    int rc = query_get(q, "group_id", v, sizeof(v));
    if (rc == -1)
        return 0;
    if (rc == 0 && (strcmp(v, "null") == 0 || strcmp(v, "hub") == 0)) {
        *group = SCH_HUB;
        return 1;
    }
    char *end;
    long long g = rc == 0 ? strtoll(v, &end, 10) : -1;
    if (rc != 0 || v[0] == '\0' || *end != '\0' || g < 0 || g > SCH_GROUP_MAX) {
        hub_error_set(err, HUB_ERR_INVALID, "group_id",
                      "group_id must be a group id (0..2147483647), or null for the hub's own");
        return -1;
    }
    *group = g;
    return 1;
}

/* ---- reads ------------------------------------------------------------------------------ */

typedef struct range_occ {
    const sch_event_t *ev;
    int64_t s, e;
} range_occ_t;

typedef struct range {
    range_occ_t *v;
    size_t n, cap;
    const sch_event_t *ev;
    int truncated;
} range_t;

static void emit_range(void *ud, int64_t s, int64_t e)
{
    range_t *r = ud;
    if (r->n >= SCH_RANGE_TOTAL_MAX) {
        r->truncated = 1;
        return;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->v = hub_realloc(r->v, r->cap * sizeof(*r->v));
    }
    r->v[r->n++] = (range_occ_t){r->ev, s, e};
}

static int by_start(const void *a, const void *b)
{
    const range_occ_t *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return x->ev->id < y->ev->id ? -1 : x->ev->id > y->ev->id;
}

static int occurrences(hub_schdom_t *d, const char *q, int has_group, int64_t group, hub_jbuf_t *b,
                       hub_error_t *err)
{
    char fs[64], ts[64], e[128];
    int64_t from, to;
    range_t r = {0};

    if (query_get(q, "from", fs, sizeof(fs)) != 0 || query_get(q, "to", ts, sizeof(ts)) != 0 ||
        sch_time_parse(fs, strlen(fs), &from, NULL) != 0 ||
        sch_time_parse(ts, strlen(ts), &to, NULL) != 0)
        return hub_error_set(err, HUB_ERR_INVALID, "from",
                             "from and to must both be RFC 3339 UTC times "
                             "(?from=2026-03-30T00:00:00Z&to=2026-04-06T00:00:00Z)");
    if (to <= from || to - from > SCH_RANGE_DAYS_MAX * SCH_DAY_MS)
        return hub_error_set(err, HUB_ERR_INVALID, "to",
                             "to must be after from, at most %d days later", SCH_RANGE_DAYS_MAX);
    for (size_t i = 0; i < d->nev && r.n < SCH_RANGE_TOTAL_MAX; i++) { /* stop once full */
        const sch_event_t *ev = d->ev[i];
        if (has_group && ev->group != group)
            continue;
        sch_series_t s = sch__series(ev);
        r.ev = ev;
        long n = sch_expand(&s, from, to, SCH_RANGE_PER_EVENT, emit_range, &r, e, sizeof(e));
        if (n == SCH_RANGE_PER_EVENT)
            r.truncated = 1;
    }
    if (r.n >= SCH_RANGE_TOTAL_MAX)
        r.truncated = 1; /* events may be left unread */
    if (r.n > 1)
        qsort(r.v, r.n, sizeof(*r.v), by_start);
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "from");
    sch__time(b, from);
    hub_jbuf_key(b, "to");
    sch__time(b, to);
    hub_jbuf_key(b, "occurrences");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < r.n; i++) {
        const sch_event_t *ev = r.v[i].ev;
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "event_id");
        hub_jbuf_int(b, ev->id);
        hub_jbuf_key(b, "group_id");
        if (ev->group == SCH_HUB)
            hub_jbuf_null(b);
        else
            hub_jbuf_int(b, ev->group);
        hub_jbuf_key(b, "title");
        hub_jbuf_str(b, ev->title);
        hub_jbuf_key(b, "type");
        hub_jbuf_str(b, ev->type);
        hub_jbuf_key(b, "start");
        sch__time(b, r.v[i].s);
        hub_jbuf_key(b, "end");
        sch__time(b, r.v[i].e);
        hub_jbuf_key(b, "recurring");
        hub_jbuf_bool(b, ev->rrule != NULL);
        hub_jbuf_key(b, "detached_from");
        if (ev->detached_from > 0)
            hub_jbuf_int(b, ev->detached_from);
        else
            hub_jbuf_null(b);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
    hub_jbuf_key(b, "truncated");
    hub_jbuf_bool(b, r.truncated);
    hub_jbuf_close(b, '}');
    hub_free(r.v);
    return 0;
}

static int list_events(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *b, hub_error_t *err)
{
    hub_schdom_t *d = ctx;
    int64_t group = 0;
    int has_group = query_group(rq->query, &group, err);
    char tmp[8];

    if (has_group < 0)
        return HUB_EINVAL;
    if (query_get(rq->query, "from", tmp, sizeof(tmp)) != -1 ||
        query_get(rq->query, "to", tmp, sizeof(tmp)) != -1)
        return occurrences(d, rq->query, has_group, group, b, err);
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "events");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < d->nev; i++)
        if (!has_group || d->ev[i]->group == group)
            sch__render_event(b, d->ev[i]);
    hub_jbuf_close(b, ']');
    hub_jbuf_close(b, '}');
    return 0;
}

static const sch_event_t *event_arg(hub_schdom_t *d, const char *arg)
{
    json_t *v = json_string(arg);
    int64_t id = sch__id_of(v);
    json_decref(v);
    return id > 0 ? sch__event(d, id) : NULL;
}

static int get_event(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *b, hub_error_t *err)
{
    const sch_event_t *ev = event_arg(ctx, rq->args[0]);
    if (ev == NULL)
        return hub_error_set(err, HUB_ERR_NOT_FOUND, "id", "Event %.40s not found", rq->args[0]);
    sch__render_event(b, ev);
    return 0;
}

static int get_power(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *b, hub_error_t *err)
{
    hub_schdom_t *d = ctx;
    int64_t now = (int64_t)hub_wall_ms();
    (void)rq;
    (void)err;
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "publish_enabled");
    hub_jbuf_bool(b, d->cfg.power_publish);
    hub_jbuf_key(b, "heartbeat_enabled");
    hub_jbuf_bool(b, d->cfg.power_heartbeat);
    hub_jbuf_key(b, "groups");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < d->ngroups; i++) {
        const sch_group_t *g = d->groups[i];
        if (g->pub_body == NULL)
            continue;
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "group_id");
        hub_jbuf_int(b, g->id);
        hub_jbuf_key(b, "expired");
        /* unpublished intents get no heartbeats: they do not expire */
        hub_jbuf_bool(b, d->cfg.power_publish && now >= g->pub_expires);
        hub_jbuf_key(b, "intent");
        hub_jbuf_json(b, g->pub_body, g->pub_len);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
    hub_jbuf_close(b, '}');
    return 0;
}

/* seed 004 */
static int seed_list(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *b, hub_error_t *err)
{
    hub_schdom_t *d = ctx;
    int64_t group = 0;
    int has_group = query_group(rq->query, &group, err);
    if (has_group < 0)
        return HUB_EINVAL;
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < d->nev; i++)
        if (!has_group || d->ev[i]->group == group)
            sch__render_event_camel(b, d->ev[i]);
    hub_jbuf_close(b, ']');
    return 0;
}

static void seed_error(hub_reply_t *reply, int status, const char *msg)
{
    hub_reply_error(reply, status, msg);
}

static int seed_get(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err)
{
    const sch_event_t *ev = event_arg(ctx, rq->args[0]);
    hub_jbuf_t b;
    (void)err;
    if (ev == NULL) {
        seed_error(reply, 404, "Event not found");
        return 0;
    }
    hub_jbuf_init(&b);
    sch__render_event_camel(&b, ev);
    hub_reply_send(reply, 200, b.p, b.len);
    hub_jbuf_free(&b);
    return 0;
}

/* ---- mutations -------------------------------------------------------------------------- */

static json_t *body_copy(const hub_route_req_t *rq)
{
    json_t *c = json_deep_copy(rq->body);
    hub_json_normalize_numbers(c);
    return c;
}

static int post_event(const hub_route_req_t *rq, const char **name, json_t **payload,
                      hub_error_t *err)
{
    if (rq->body == NULL)
        return hub_error_set(err, HUB_ERR_INVALID, "",
                             "send the event: {\"group_id\", \"title\", \"type\", \"start\", "
                             "\"end\", \"rrule\"?, \"exdates\"?, \"content\"?, \"on_start\"?, "
                             "\"on_end\"?}");
    *name = "event.create";
    *payload = json_pack("{s:o}", "event", body_copy(rq));
    return 0;
}

static int put_event(const hub_route_req_t *rq, const char **name, json_t **payload,
                     hub_error_t *err)
{
    if (rq->body == NULL)
        return hub_error_set(err, HUB_ERR_INVALID, "", "send the whole event (PUT replaces it)");
    *name = "event.update";
    *payload = json_pack("{s:s,s:o}", "id", rq->args[0], "event", body_copy(rq));
    return 0;
}

static int delete_event(const hub_route_req_t *rq, const char **name, json_t **payload,
                        hub_error_t *err)
{
    (void)err;
    *name = "event.delete";
    *payload = json_pack("{s:s}", "id", rq->args[0]);
    return 0;
}

static int post_detach(const hub_route_req_t *rq, const char **name, json_t **payload,
                       hub_error_t *err)
{
    (void)err;
    *name = "event.detach";
    *payload = json_pack("{s:s,s:s}", "id", rq->args[0], "date", rq->args[1]);
    if (rq->body != NULL)
        json_object_set_new(*payload, "event", body_copy(rq));
    return 0;
}

static int seed_put(const hub_route_req_t *rq, const char **name, json_t **payload,
                    hub_error_t *err)
{
    (void)err;
    *name = "event.update";
    *payload =
        json_pack("{s:s,s:o}", "id", rq->args[0], "seed", rq->body ? body_copy(rq) : json_null());
    return 0;
}

static int seed_detach(const hub_route_req_t *rq, const char **name, json_t **payload,
                       hub_error_t *err)
{
    (void)err;
    *name = "event.detach";
    *payload = json_pack("{s:s,s:s}", "id", rq->args[0], "date", rq->args[1]);
    if (rq->body != NULL)
        json_object_set_new(*payload, "seed", body_copy(rq));
    return 0;
}

/* ---- answers ---------------------------------------------------------------------------- */

static void our_error(const hub_intent_t *in, hub_reply_t *reply)
{
    hub_jbuf_t b;
    hub_errcode_t code = in->err.code != HUB_ERR_NONE ? in->err.code : HUB_ERR_OVERLOADED;
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "ok");
    hub_jbuf_bool(&b, 0);
    hub_jbuf_key(&b, "req_id");
    hub_jbuf_str(&b, in->req_id);
    hub_jbuf_key(&b, "error");
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "code");
    hub_jbuf_str(&b, hub_errcode_name(code));
    hub_jbuf_key(&b, "message");
    hub_jbuf_str(&b, in->err.msg[0] ? in->err.msg : hub_strerror(in->outcome));
    if (in->err.field[0]) {
        hub_jbuf_key(&b, "field");
        hub_jbuf_str(&b, in->err.field);
    }
    hub_jbuf_close(&b, '}');
    hub_jbuf_close(&b, '}');
    hub_reply_send(reply, hub_errcode_http(code), b.p, b.len);
    hub_jbuf_free(&b);
}

/* The event an applied (or repeated) intent answers with: the last event
 * its announcement changed (create: the new one; detach: the copy, made
 * last), else the one it names or made. */
static const sch_event_t *answered_event(hub_schdom_t *d, const hub_intent_t *in,
                                         const hub_announce_t *ann)
{
    int64_t id = 0;
    for (size_t i = 0; ann != NULL && i < ann->nchanges; i++)
        if (strncmp(ann->changes[i].path, "schedules.events.", 17) == 0)
            id = strtoll(ann->changes[i].path + 17, NULL, 10);
    if (id == 0 && strcmp(in->name, "event.update") == 0)
        id = sch__id_of(json_object_get(in->payload, "id"));
    if (id > 0)
        return sch__event(d, id);
    for (size_t i = 0; i < d->nev; i++) /* create/detach repeated: by its req_id */
        if (strcmp(d->ev[i]->req_id, in->req_id) == 0)
            return d->ev[i];
    return NULL;
}

static int applied(const hub_intent_t *in)
{
    return in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE;
}

static void answer(hub_schdom_t *d, const hub_intent_t *in, const hub_announce_t *ann,
                   hub_reply_t *reply, int status, int seed)
{
    if (!applied(in)) {
        if (seed)
            seed_error(reply, in->err.code != HUB_ERR_NONE ? hub_errcode_http(in->err.code) : 503,
                       in->err.msg[0] ? in->err.msg : hub_strerror(in->outcome));
        else
            our_error(in, reply);
        return;
    }
    const sch_event_t *ev = answered_event(d, in, ann);
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    if (ev == NULL) { /* gone since (a repeat after a delete) */
        hub_jbuf_open(&b, '{');
        hub_jbuf_key(&b, "ok");
        hub_jbuf_bool(&b, 1);
        hub_jbuf_key(&b, "seq");
        hub_jbuf_uint(&b, in->seq);
        hub_jbuf_close(&b, '}');
        status = 200;
    } else if (seed) {
        sch__render_event_camel(&b, ev);
    } else {
        sch__render_event(&b, ev);
    }
    hub_reply_send(reply, status, b.p, b.len);
    hub_jbuf_free(&b);
}

static void answer_created(void *ctx, const hub_intent_t *in, const hub_announce_t *ann,
                           hub_reply_t *reply)
{
    answer(ctx, in, ann, reply, 201, 0);
}

static void answer_event(void *ctx, const hub_intent_t *in, const hub_announce_t *ann,
                         hub_reply_t *reply)
{
    answer(ctx, in, ann, reply, 200, 0);
}

static void answer_seed(void *ctx, const hub_intent_t *in, const hub_announce_t *ann,
                        hub_reply_t *reply)
{
    answer(ctx, in, ann, reply, 200, 1);
}

static void answer_seed_created(void *ctx, const hub_intent_t *in, const hub_announce_t *ann,
                                hub_reply_t *reply)
{
    answer(ctx, in, ann, reply, 201, 1);
}

const hub_route_def_t sch__routes[] = {
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/events", .read = list_events},
    {.method = HUB_HTTP_POST,
     .pattern = "/api/v1/events",
     .to_intent = post_event,
     .answer = answer_created,
     .max_body = &body_max},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/events/*", .read = get_event},
    {.method = HUB_HTTP_PUT,
     .pattern = "/api/v1/events/*",
     .to_intent = put_event,
     .answer = answer_event,
     .max_body = &body_max},
    {.method = HUB_HTTP_DELETE, .pattern = "/api/v1/events/*", .to_intent = delete_event},
    {.method = HUB_HTTP_POST,
     .pattern = "/api/v1/events/*/occurrences/*/detach",
     .to_intent = post_detach,
     .answer = answer_created,
     .max_body = &body_max},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/power", .read = get_power},
    {.method = HUB_HTTP_GET, .pattern = "/api/events", .read = seed_list},
    {.method = HUB_HTTP_GET, .pattern = "/api/events/*", .read_async = seed_get},
    {.method = HUB_HTTP_PUT,
     .pattern = "/api/events/*",
     .to_intent = seed_put,
     .answer = answer_seed,
     .max_body = &body_max,
     .lenient_body = 1},
    {.method = HUB_HTTP_POST,
     .pattern = "/api/events/*/occurrences/*/detach",
     .to_intent = seed_detach,
     .answer = answer_seed_created,
     .max_body = &body_max,
     .lenient_body = 1},
    {.method = 0},
};
