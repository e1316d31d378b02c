/* engine/engine.c - the single writer.
 *
 * Intents are applied in queue order on the loop thread, each by its
 * domain, into the domains' working state. Each applied intent joins the
 * open batch with its journal record and rows; when no batch is in flight
 * the open one goes to the store (group commit). When the store says a batch
 * is durable, its intents are announced in seq order: the published tree
 * takes their changes, their domains publish, subscribers are told, and each
 * intent is answered. So nothing is answered, or shown to anyone, before it
 * is durable.
 *
 * Threading: loop thread only, except the read-only lookups the header
 * marks "any thread" (the domain, intent, route and room tables do not
 * change once hub_engine_start has run). The store completes batches
 * through the inbox.
 */
#include "engine/engine.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "engine/dedupe.h"
#include "engine/engine_int.h"
#include "engine/kv.h"
#include "engine/pubtree.h"
#include "engine/queue.h"

#define MAX_SUBSCRIBERS   8
#define MAX_DOMAINS       16
#define DEFAULT_BATCH_MAX 4096

typedef struct intent_ent {
    const char *name;
    hub__domain_t *dom;
    const hub_intent_def_t *def;
} intent_ent_t;

struct hub_engine {
    uv_loop_t *loop;
    uv_idle_t idle; /* runs drain() while there is work */
    int idle_active;
    int started;
    hub_engine_cfg_t cfg;
    hub_queue_t queue;
    hub_dedupe_t *dedupe;
    hub__domain_t doms[MAX_DOMAINS];
    size_t ndoms;
    intent_ent_t *intents; /* sorted by name */
    size_t nintents;
    const char *rooms[HUB_MAX_ROOMS];
    int nrooms;
    uint64_t state_rooms;
    /* Sub-rooms (domain.h): "root.child" prefixes with their room and the
     * root's room. */
    struct {
        const char *prefix, *child;
        size_t len;
        int bit, parent_bit;
    } subs_rooms[HUB_MAX_ROOMS];
    int nsub_rooms;
    uint64_t seq, ts_ms;         /* working: the last applied intent's */
    uint64_t pub_seq, pub_ts_ms; /* published: the last announced one's */
    hub_pubtree_t *pub;
    hub_kv_t *views;
    hub_kv_t *retained;
    hub_outbox_t outbox;
    hub_jbuf_t scratch;
    hub_persist_ops_t persist;
    int has_persist;
    hub_batch_t *open;             /* filling */
    hub_batch_t *inflight;         /* at the store, or NULL */
    hub_batch_t *spare;            /* recycled */
    hub__record_t *carry;          /* records of failed commits: rows still to write */
    hub__record_t *carry_inflight; /* carried into the batch in flight */
    hub__record_t *rec_pool;       /* freed records, for reuse (RECORD_POOL_MAX) */
    size_t npool;
    hub_intent_t *dropped_head, *dropped_tail; /* to answer HUB_EDROPPED */
    hub_subscriber_t subs[MAX_SUBSCRIBERS];
    int nsubs;
    void (*on_room)(void *ud);
    void *on_room_ud;
    int link; /* HUB_LINK_* of the MQTT broker */
    struct {
        void (*cb)(void *ud, int state);
        void *ud;
    } link_cbs[HUB_LINK_CBS_MAX];
    int nlink_cbs;
    int stopping;
    int store_failed;  /* the last commit failed */
    int store_closing; /* no more batches may be submitted */
    char store_err[160];
    hub_metric_t *m_processed, *m_deduped, *m_dropped, *m_refused, *m_failed, *m_rejected;
    hub_metric_t *m_last_latency, *m_latency, *m_apply_cost;
};

static void drain(hub_engine_t *e);
static void flush_subscribers(hub_engine_t *e);

/* ---- records ------------------------------------------------------------------ */

/* Records are recycled: one is several KiB (its arena's first chunk), too
 * big for malloc's fast bins, and one is needed per applied intent. */
#define RECORD_POOL_MAX 512

static hub__record_t *record_new(hub_engine_t *e, hub__domain_t *dom)
{
    hub__record_t *r = e->rec_pool;
    if (r != NULL) {
        e->rec_pool = r->next;
        e->npool--;
    } else {
        r = hub_malloc(sizeof(*r));
    }
    memset(r, 0, offsetof(hub__record_t, arena));
    hub_arena_init(&r->arena);
    r->dom = dom;
    return r;
}

static void record_free(hub_engine_t *e, hub__record_t *r)
{
    if (r == NULL)
        return;
    hub_arena_reset(&r->arena);
    if (e->npool < RECORD_POOL_MAX) {
        r->next = e->rec_pool;
        e->rec_pool = r;
        e->npool++;
        return;
    }
    hub_free(r);
}

static void intent_free(hub_engine_t *e, hub_intent_t *in)
{
    record_free(e, in->_rec);
    in->_rec = NULL;
    hub_intent_free(in);
}

/* ---- the apply API (domain.h) --------------------------------------------------- */

uint64_t hub_apply_seq(const hub_apply_t *ap)
{
    return ap->seq;
}

uint64_t hub_apply_ts_ms(const hub_apply_t *ap)
{
    return ap->ts_ms;
}

const hub_intent_t *hub_apply_intent(const hub_apply_t *ap)
{
    return ap->in;
}

void *hub_apply_alloc(hub_apply_t *ap, size_t n)
{
    return hub_arena_alloc(&ap->rec->arena, n);
}

hub_jbuf_t *hub_apply_scratch(hub_apply_t *ap)
{
    hub_jbuf_reset(ap->scratch);
    return ap->scratch;
}

void hub_apply_change(hub_apply_t *ap, const char *path, const char *value, size_t len,
                      const void *native, size_t native_len)
{
    hub__record_t *r = ap->rec;
    hub_change_t *c;

    if (r->nchanges == r->capchanges) {
        size_t cap = r->capchanges ? r->capchanges * 2 : 4;
        hub_change_t *nc = hub_arena_alloc(&r->arena, cap * sizeof(*nc));
        if (r->nchanges > 0)
            memcpy(nc, r->changes, r->nchanges * sizeof(*nc));
        r->changes = nc;
        r->capchanges = cap;
    }
    c = &r->changes[r->nchanges++];
    c->path = hub_arena_strndup(&r->arena, path, strlen(path));
    c->value = hub_arena_strndup(&r->arena, value, len);
    c->value_len = len;
    c->native = native != NULL ? hub_arena_memdup(&r->arena, native, native_len) : NULL;
    c->native_len = native != NULL ? native_len : 0;
}

/* sql NULL marks it for the store (engine/rows.h). */
const hub_stmt_t hub_stmt_file = {NULL, 2};

void hub_apply_row(hub_apply_t *ap, const hub_stmt_t *stmt, const char *key, const hub_val_t *vals)
{
    hub__record_t *r = ap->rec;
    hub_row_t *row = hub_arena_alloc(&r->arena, sizeof(*row));
    hub_val_t *v = hub_arena_alloc(&r->arena, (size_t)stmt->nparams * sizeof(*v));

    for (int i = 0; i < stmt->nparams; i++) {
        v[i] = vals[i];
        if ((v[i].type == HUB_VAL_TEXT || v[i].type == HUB_VAL_BLOB) && v[i].p != NULL)
            v[i].p = hub_arena_strndup(&r->arena, v[i].p, v[i].n); /* n may be 0 */
    }
    row->stmt = stmt;
    row->key = key != NULL ? hub_arena_strndup(&r->arena, key, strlen(key)) : NULL;
    row->vals = v;
    if (r->nrows == r->caprows) {
        size_t cap = r->caprows ? r->caprows * 2 : 4;
        hub_row_t **nr = hub_arena_alloc(&r->arena, cap * sizeof(*nr));
        if (r->nrows > 0)
            memcpy(nr, r->rows, r->nrows * sizeof(*nr));
        r->rows = nr;
        r->caprows = cap;
    }
    r->rows[r->nrows++] = row;
}

int hub_apply_check_keys(hub_apply_t *ap, const json_t *payload, const char *const *allowed)
{
    const char *key;
    json_t *v;

    if (!json_is_object(payload))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "", "payload must be a JSON object");
    json_object_foreach((json_t *)payload, key, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a != NULL && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok)
            return hub_apply_fail(ap, HUB_ERR_INVALID, key,
                                  "unknown field \"%.40s\" in the payload", key);
    }
    return 0;
}

int hub_apply_own_only(hub_apply_t *ap, const char *made_by)
{
    const hub_intent_t *in = hub_apply_intent(ap);
    if (in->internal)
        return 0;
    return hub_apply_fail(ap, HUB_ERR_INVALID, "name",
                          "%s is made by the hub itself (%s); it cannot be sent", in->name,
                          made_by);
}

int hub_apply_fail(hub_apply_t *ap, hub_errcode_t code, const char *field, const char *fmt, ...)
{
    va_list va;

    ap->failed = 1;
    ap->err->code = code;
    snprintf(ap->err->field, sizeof(ap->err->field), "%s", field ? field : "");
    va_start(va, fmt);
    vsnprintf(ap->err->msg, sizeof(ap->err->msg), fmt, va);
    va_end(va);
    return HUB_EINVAL;
}

/* ---- registration and rooms --------------------------------------------------------- */

static int add_room(hub_engine_t *e, const char *name)
{
    for (int i = 0; i < e->nrooms; i++)
        if (strcmp(e->rooms[i], name) == 0)
            return i;
    if (e->nrooms == HUB_MAX_ROOMS)
        return -1;
    e->rooms[e->nrooms] = name;
    return e->nrooms++;
}

static int cmp_intent(const void *a, const void *b)
{
    return strcmp(((const intent_ent_t *)a)->name, ((const intent_ent_t *)b)->name);
}

/* A room for the changes under prefix "root.child", root one of d's. */
static int add_sub_room(hub_engine_t *e, const hub__domain_t *d, const char *room,
                        const char *prefix)
{
    const char *dot = strchr(prefix, '.');
    int parent = -1, bit;

    if (dot == NULL || strchr(dot + 1, '.') != NULL || dot[1] == '\0')
        return HUB_EINVAL;
    for (int i = 0; i < d->nroots; i++)
        if (strlen(d->roots[i]) == (size_t)(dot - prefix) &&
            memcmp(d->roots[i], prefix, (size_t)(dot - prefix)) == 0)
            parent = d->root_bits[i];
    if (parent < 0 || e->nsub_rooms == HUB_MAX_ROOMS)
        return HUB_EINVAL;
    for (int i = 0; i < e->nrooms; i++)
        if (strcmp(e->rooms[i], room) == 0)
            return HUB_EINVAL; /* a sub-room is a room of its own */
    bit = add_room(e, room);
    if (bit < 0)
        return HUB_EINVAL;
    e->state_rooms |= 1ull << bit;
    e->subs_rooms[e->nsub_rooms].prefix = prefix;
    e->subs_rooms[e->nsub_rooms].child = dot + 1;
    e->subs_rooms[e->nsub_rooms].len = strlen(prefix);
    e->subs_rooms[e->nsub_rooms].bit = bit;
    e->subs_rooms[e->nsub_rooms].parent_bit = parent;
    e->nsub_rooms++;
    return 0;
}

/* The room of a change's path: a sub-room's prefix, else its first segment. */
static int path_room(const hub_engine_t *e, const char *path)
{
    for (int i = 0; i < e->nsub_rooms; i++)
        if (strncmp(path, e->subs_rooms[i].prefix, e->subs_rooms[i].len) == 0 &&
            (path[e->subs_rooms[i].len] == '.' || path[e->subs_rooms[i].len] == '\0'))
            return e->subs_rooms[i].bit;
    const char *dot = strchr(path, '.');
    return hub_engine_room_bit(e, path, dot ? (size_t)(dot - path) : strlen(path));
}

int hub_engine_register(hub_engine_t *e, const hub_domain_def_t *def, void *ctx)
{
    static const char *const none[] = {NULL};
    hub__domain_t *d;
    const char *const *roots;
    size_t n = 0;
    /* A refused registration leaves the engine as it was. */
    const int nrooms0 = e->nrooms;
    const uint64_t state_rooms0 = e->state_rooms;
    const size_t nintents0 = e->nintents;
    const int nsub0 = e->nsub_rooms;

    assert(!e->started);
    if (e->ndoms == MAX_DOMAINS)
        return HUB_EINVAL;
    d = &e->doms[e->ndoms];
    memset(d, 0, sizeof(*d));
    d->def = def;
    d->ctx = ctx;
    roots = def->roots != NULL ? def->roots : NULL;
    if (roots == NULL) {
        d->roots[0] = def->name;
        d->nroots = 1;
    } else {
        for (; *roots != NULL && d->nroots < HUB__MAX_ROOTS; roots++)
            d->roots[d->nroots++] = *roots;
    }
    for (int i = 0; i < d->nroots; i++) {
        for (size_t k = 0; k < e->ndoms; k++)
            for (int j = 0; j < e->doms[k].nroots; j++)
                if (strcmp(e->doms[k].roots[j], d->roots[i]) == 0)
                    goto fail; /* two owners of one root */
        for (int k = 0; k < e->nsub_rooms; k++)
            if (strcmp(e->rooms[e->subs_rooms[k].bit], d->roots[i]) == 0)
                goto fail; /* a root named like another domain's sub-room */
        d->root_bits[i] = add_room(e, d->roots[i]);
        if (d->root_bits[i] < 0)
            goto fail;
        e->state_rooms |= 1ull << d->root_bits[i];
    }
    for (const char *const *fr = def->frame_rooms ? def->frame_rooms : none; *fr; fr++)
        if (add_room(e, *fr) < 0)
            goto fail;
    for (const char *const *sr = def->sub_rooms ? def->sub_rooms : none; sr[0] && sr[1]; sr += 2)
        if (add_sub_room(e, d, sr[0], sr[1]) != 0)
            goto fail;
    for (const hub_intent_def_t *id = def->intents; id != NULL && id->name != NULL; id++)
        n++;
    e->intents = hub_realloc(e->intents, (e->nintents + n) * sizeof(*e->intents));
    for (const hub_intent_def_t *id = def->intents; id != NULL && id->name != NULL; id++) {
        for (size_t k = 0; k < e->nintents; k++)
            if (strcmp(e->intents[k].name, id->name) == 0)
                goto fail;
        e->intents[e->nintents++] = (intent_ent_t){id->name, d, id};
    }
    qsort(e->intents, e->nintents, sizeof(*e->intents), cmp_intent);
    e->ndoms++;
    return 0;

fail:
    e->nsub_rooms = nsub0;
    e->nrooms = nrooms0;
    e->state_rooms = state_rooms0;
    e->nintents = nintents0; /* the sorted prefix is untouched: appends only */
    memset(d, 0, sizeof(*d));
    return HUB_EINVAL;
}

size_t hub_engine_ndomains(const hub_engine_t *e)
{
    return e->ndoms;
}

const hub_domain_def_t *hub_engine_domain_at(const hub_engine_t *e, size_t i, void **ctx)
{
    if (i >= e->ndoms)
        return NULL;
    if (ctx != NULL)
        *ctx = e->doms[i].ctx;
    return e->doms[i].def;
}

static const intent_ent_t *find_intent(const hub_engine_t *e, const char *name)
{
    intent_ent_t key = {name, NULL, NULL};
    return bsearch(&key, e->intents, e->nintents, sizeof(*e->intents), cmp_intent);
}

int hub_engine_room_bit(const hub_engine_t *e, const char *name, size_t len)
{
    for (int i = 0; i < e->nrooms; i++)
        if (strlen(e->rooms[i]) == len && memcmp(e->rooms[i], name, len) == 0)
            return i;
    return -1;
}

const char *hub_engine_room_name(const hub_engine_t *e, int bit)
{
    return bit >= 0 && bit < e->nrooms ? e->rooms[bit] : NULL;
}

int hub_engine_nrooms(const hub_engine_t *e)
{
    return e->nrooms;
}

uint64_t hub_engine_state_rooms(const hub_engine_t *e)
{
    return e->state_rooms;
}

/* ---- metrics --------------------------------------------------------------------------- */

static double queue_depth_fn(void *ud)
{
    return (double)((hub_engine_t *)ud)->queue.len;
}

static double seq_fn(void *ud)
{
    return (double)((hub_engine_t *)ud)->pub_seq;
}

static void register_metrics(hub_engine_t *e, hub_metrics_t *m)
{
    static const double lat[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                 0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1};
    static const double cost[] = {0.000001, 0.000002, 0.000005, 0.00001,
                                  0.00002,  0.00005,  0.0001,   0.001};
    e->m_processed = hub_metrics_counter(m, "dmx_engine_processed_total",
                                         "Intents applied (durable and announced)");
    e->m_deduped = hub_metrics_counter(m, "dmx_engine_deduped_total",
                                       "Intents answered as duplicates of a recent req_id/cmdId");
    e->m_dropped = hub_metrics_counter(m, "dmx_engine_dropped_total",
                                       "Queued ui intents dropped by the overload policy");
    e->m_refused = hub_metrics_counter(m, "dmx_engine_refused_total",
                                       "Intents refused because the queue was full");
    e->m_failed = hub_metrics_counter(m, "dmx_engine_store_failed_total",
                                      "Applied intents answered with an error: not durable");
    e->m_rejected = hub_metrics_counter(m, "dmx_engine_rejected_total",
                                        "Intents a domain refused (invalid, not_found, conflict)");
    hub_metrics_gauge_fn(m, "dmx_engine_queue_depth", "Intents waiting in the queue",
                         queue_depth_fn, e);
    hub_metrics_gauge_fn(m, "dmx_engine_seq", "Sequence number of the published state", seq_fn, e);
    e->m_last_latency = hub_metrics_gauge(m, "dmx_engine_last_latency_ms",
                                          "Receive-to-answer latency of the last intent, ms");
    e->m_latency = hub_metrics_histogram(
        m, "dmx_engine_apply_latency_seconds",
        "Receive-to-answer latency of applied intents (queue, apply, durable commit)", lat,
        sizeof(lat) / sizeof(lat[0]));
    e->m_apply_cost = hub_metrics_histogram(m, "dmx_engine_apply_cpu_seconds",
                                            "Time to dedupe and apply one intent", cost,
                                            sizeof(cost) / sizeof(cost[0]));
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void on_idle(uv_idle_t *h)
{
    drain(h->data);
}

static void kick(hub_engine_t *e)
{
    if (!e->idle_active) {
        uv_idle_start(&e->idle, on_idle);
        e->idle_active = 1;
    }
}

int hub_engine_new(hub_engine_t **out, uv_loop_t *loop, const hub_engine_cfg_t *cfg,
                   hub_metrics_t *metrics)
{
    hub_engine_t *e = hub_calloc(1, sizeof(*e));
    int rc;

    e->loop = loop;
    e->cfg = *cfg;
    if (e->cfg.batch_max == 0)
        e->cfg.batch_max = DEFAULT_BATCH_MAX;
    rc = uv_idle_init(loop, &e->idle);
    if (rc < 0) {
        hub_free(e);
        return rc;
    }
    e->idle.data = e;
    hub_queue_init(&e->queue, cfg->queue_size);
    e->dedupe = hub_dedupe_new(cfg->dedupe_capacity, cfg->dedupe_ttl_ms);
    e->pub = hub_pubtree_new();
    e->views = hub_kv_new();
    e->retained = hub_kv_new();
    hub__outbox_init(&e->outbox);
    hub_jbuf_init(&e->scratch);
    add_room(e, "system");
    add_room(e, "frames");
    e->open = hub_batch_new();
    register_metrics(e, metrics);
    *out = e;
    return 0;
}

static void seed_entity(void *ud, const char *path, const char *value, size_t len)
{
    hub_pubtree_set(((hub_engine_t *)ud)->pub, path, value, len);
}

static void apply_outbox_registries(hub_engine_t *e, const hub_outbox_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        const hub_outmsg_t *m = &o->msgs[i];
        if (m->kind == HUB_OUT_VIEW) {
            hub_kv_set(e->views, m->name, m->text, m->len, 0);
        } else if (m->kind == HUB_OUT_MQTT && m->retain && !(m->flags & HUB_OUT_NOKEEP)) {
            if (m->len == 0)
                hub_kv_del(e->retained, m->name);
            else
                hub_kv_set(e->retained, m->name, m->text, m->len, m->qos);
        }
    }
}

int hub_engine_start(hub_engine_t *e, const hub_restore_t *restore,
                     const hub_persist_ops_t *persist)
{
    assert(!e->started);
    if (persist != NULL) {
        e->persist = *persist;
        e->has_persist = 1;
    }
    if (restore != NULL) {
        e->seq = e->pub_seq = restore->seq;
        e->ts_ms = e->pub_ts_ms = restore->ts_ms;
        for (size_t i = 0; i < restore->nids; i++)
            hub_dedupe_add(e->dedupe, restore->ids[i].id, restore->ids[i].ts_ms,
                           restore->ids[i].seq);
    }
    for (size_t i = 0; i < e->ndoms; i++) {
        hub__domain_t *d = &e->doms[i];
        if (d->def->entities != NULL)
            d->def->entities(d->ctx, seed_entity, e);
        if (d->def->publish_all != NULL) {
            hub__outbox_reset(&e->outbox);
            d->def->publish_all(d->ctx, &e->outbox);
            apply_outbox_registries(e, &e->outbox);
        }
    }
    hub__outbox_reset(&e->outbox);
    e->started = 1;
    return 0;
}

static void on_idle_closed(uv_handle_t *h)
{
    hub_free(h->data);
}

static void answer(hub_engine_t *e, hub_intent_t *in, int outcome, const hub_announce_t *ann)
{
    in->outcome = outcome;
    if (outcome < 0 && in->err.code == HUB_ERR_NONE) {
        switch (outcome) {
        case HUB_EDROPPED:
            hub_error_set(&in->err, HUB_ERR_DROPPED, "",
                          "dropped: the queue was full and this was its oldest ui intent "
                          "(overload policy); send again");
            break;
        case HUB_ESTORE:
            hub_error_set(&in->err, HUB_ERR_STORE_FAILED, "",
                          "not durable: the store could not commit (%s); send again",
                          e->store_err[0] ? e->store_err : "see the hub's log");
            break;
        case HUB_EOVERLOAD:
            hub_error_set(&in->err, HUB_ERR_OVERLOADED, "",
                          "overloaded: the queue is full (DMX_QUEUE_SIZE); retry later");
            break;
        default:
            hub_error_set(&in->err, HUB_ERR_OVERLOADED, "",
                          "shutting down: retry against the restarted hub");
            break;
        }
    }
    if (in->done != NULL)
        in->done(in, ann, in->ud);
    intent_free(e, in);
}

static void answer_list(hub_engine_t *e, hub_intent_t *in, int outcome)
{
    while (in != NULL) {
        hub_intent_t *next = in->next;
        answer(e, in, outcome, NULL);
        in = next;
    }
}

void hub_engine_free(hub_engine_t *e)
{
    if (e == NULL)
        return;
    answer_list(e, hub_queue_take_all(&e->queue), HUB_ESHUTDOWN);
    answer_list(e, e->dropped_head, HUB_EDROPPED);
    e->dropped_head = e->dropped_tail = NULL;
    /* Applied in memory but never committed: not durable, so not applied. */
    answer_list(e, e->open->head, HUB_ESHUTDOWN);
    hub_batch_free(e->open);
    if (e->inflight != NULL) /* the store never answered; nothing more can */
        hub_log(HUB_LOG_ERROR, "engine_free", "{s:s}", "error",
                "a store batch was still in flight");
    hub_batch_free(e->spare);
    while (e->carry != NULL) {
        hub__record_t *next = e->carry->next;
        record_free(e, e->carry);
        e->carry = next;
    }
    while (e->carry_inflight != NULL) {
        hub__record_t *next = e->carry_inflight->next;
        record_free(e, e->carry_inflight);
        e->carry_inflight = next;
    }
    while (e->rec_pool != NULL) {
        hub__record_t *next = e->rec_pool->next;
        hub_free(e->rec_pool);
        e->rec_pool = next;
    }
    hub_dedupe_free(e->dedupe);
    hub_pubtree_free(e->pub);
    hub_kv_free(e->views);
    hub_kv_free(e->retained);
    hub__outbox_free(&e->outbox);
    hub_jbuf_free(&e->scratch);
    hub_free(e->intents);
    uv_close((uv_handle_t *)&e->idle, on_idle_closed);
}

/* ---- intake ------------------------------------------------------------------------------- */

int hub_engine_prepare(hub_engine_t *e, hub_intent_t *in, hub_error_t *err)
{
    const intent_ent_t *ent = find_intent(e, in->name);

    if (ent == NULL)
        return hub_error_set(err, HUB_ERR_UNKNOWN_INTENT, "name",
                             "unknown intent \"%.63s\": see docs/api-ws.md for the intents",
                             in->name);
    if (ent->def->prepare != NULL)
        return ent->def->prepare(ent->dom->ctx, in, err);
    return 0;
}

int hub_engine_submit(hub_engine_t *e, hub_intent_t *in)
{
    hub_intent_t *dropped;
    int rc;

    if (e->stopping)
        return HUB_ESHUTDOWN;
    rc = hub_queue_push(&e->queue, in, &dropped);
    if (rc < 0) {
        hub_metric_inc(e->m_refused);
        return rc;
    }
    if (dropped != NULL) {
        hub_metric_inc(e->m_dropped);
        dropped->next = NULL;
        if (e->dropped_tail)
            e->dropped_tail->next = dropped;
        else
            e->dropped_head = dropped;
        e->dropped_tail = dropped;
    }
    kick(e);
    return 0;
}

void hub_intent_detach(hub_intent_t *in)
{
    in->done = NULL;
    in->ud = NULL;
}

hub_metric_t *hub_engine_refused_counter(hub_engine_t *e)
{
    return e->m_refused;
}

size_t hub_engine_room(const hub_engine_t *e)
{
    if (e->stopping)
        return 0;
    return e->queue.capacity - e->queue.len;
}

void hub_engine_on_room(hub_engine_t *e, void (*cb)(void *ud), void *ud)
{
    e->on_room = cb;
    e->on_room_ud = ud;
}

int hub_engine_submit_internal(hub_engine_t *e, const char *name, json_t *payload, const char *src,
                               hub_intent_done_cb done, void *ud, hub_error_t *err)
{
    hub_intent_t *in = hub_intent_new_internal(name, src);

    memset(err, 0, sizeof(*err));
    hub_intent_set_payload(in, payload);
    in->recv_us = hub_mono_us();
    in->done = done;
    in->ud = ud;
    int rc = hub_engine_prepare(e, in, err);
    if (rc == 0)
        rc = hub_engine_submit(e, in);
    if (rc != 0)
        hub_intent_free(in);
    return rc;
}

void hub_engine_publish_now(hub_engine_t *e, const char *topic, const char *payload, size_t len,
                            int qos, hub_sent_fn sent, void *ctx, uint64_t token)
{
    hub_outmsg_t m = {.kind = HUB_OUT_MQTT,
                      .name = topic,
                      .text = payload,
                      .len = len,
                      .qos = qos,
                      .sent = sent,
                      .sent_ctx = ctx,
                      .token = token};
    for (int i = 0; i < e->nsubs; i++)
        if (e->subs[i].on_direct != NULL) {
            e->subs[i].on_direct(e->subs[i].ud, &m);
            return;
        }
    sent(ctx, token, 0, "MQTT is disabled (DMX_MQTT_ENABLED=false)");
}

void hub_engine_link_set(hub_engine_t *e, int state)
{
    if (state == e->link)
        return;
    e->link = state;
    for (int i = 0; i < e->nlink_cbs; i++)
        e->link_cbs[i].cb(e->link_cbs[i].ud, state);
}

int hub_engine_link(const hub_engine_t *e)
{
    return e->link;
}

void hub_engine_on_link(hub_engine_t *e, void (*cb)(void *ud, int state), void *ud)
{
    assert(e->nlink_cbs < HUB_LINK_CBS_MAX);
    e->link_cbs[e->nlink_cbs].cb = cb;
    e->link_cbs[e->nlink_cbs].ud = ud;
    e->nlink_cbs++;
}

void hub_engine_subscribe(hub_engine_t *e, const hub_subscriber_t *s)
{
    assert(e->nsubs < MAX_SUBSCRIBERS);
    e->subs[e->nsubs++] = *s;
}

void hub_engine_unsubscribe_all(hub_engine_t *e)
{
    e->nsubs = 0;
}

/* ---- the published state -------------------------------------------------------------------- */

uint64_t hub_engine_seq(const hub_engine_t *e)
{
    return e->pub_seq;
}

uint64_t hub_engine_ts_ms(const hub_engine_t *e)
{
    return e->pub_ts_ms;
}

static int sub_room_at(const hub_engine_t *e, int bit)
{
    for (int i = 0; i < e->nsub_rooms; i++)
        if (e->subs_rooms[i].bit == bit)
            return i;
    return -1;
}

void hub_engine_render_state(const hub_engine_t *e, uint64_t rooms, hub_jbuf_t *out)
{
    rooms &= e->state_rooms;
    hub_jbuf_open(out, '{');
    hub_jbuf_key(out, "seq");
    hub_jbuf_uint(out, e->pub_seq);
    hub_jbuf_key(out, "state");
    hub_jbuf_open(out, '{');
    for (int i = 0; i < e->nrooms; i++) {
        const char *skip[HUB_MAX_ROOMS];
        size_t nskip = 0;
        if ((rooms & (1ull << i)) == 0)
            continue;
        int sub = sub_room_at(e, i);
        if (sub >= 0) { /* alone: {"root":{"child":…}}; with its root: rendered there */
            int parent = e->subs_rooms[sub].parent_bit;
            if ((rooms & (1ull << parent)) != 0)
                continue;
            int first = 1; /* the root's key once, for all its sub-rooms asked for */
            for (int k = 0; k < sub; k++)
                if (e->subs_rooms[k].parent_bit == parent &&
                    (rooms & (1ull << e->subs_rooms[k].bit)) != 0)
                    first = 0;
            if (!first)
                continue;
            hub_jbuf_key(out, e->rooms[parent]);
            hub_jbuf_open(out, '{');
            for (int k = sub; k < e->nsub_rooms; k++) {
                if (e->subs_rooms[k].parent_bit != parent ||
                    (rooms & (1ull << e->subs_rooms[k].bit)) == 0)
                    continue;
                hub_jbuf_key(out, e->subs_rooms[k].child);
                hub_pubtree_render_without(e->pub, out, e->subs_rooms[k].prefix, NULL, 0);
            }
            hub_jbuf_close(out, '}');
            continue;
        }
        for (int k = 0; k < e->nsub_rooms; k++)
            if (e->subs_rooms[k].parent_bit == i && (rooms & (1ull << e->subs_rooms[k].bit)) == 0)
                skip[nskip++] = e->subs_rooms[k].child;
        hub_jbuf_key(out, e->rooms[i]);
        hub_pubtree_render_without(e->pub, out, e->rooms[i], skip, nskip);
    }
    hub_jbuf_close(out, '}');
    hub_jbuf_close(out, '}');
}

const char *hub_engine_view(const hub_engine_t *e, const char *name, size_t *len)
{
    return hub_kv_get(e->views, name, len);
}

void hub_engine_retained_foreach(const hub_engine_t *e,
                                 void (*fn)(void *ud, const char *topic, const char *payload,
                                            size_t len, int qos),
                                 void *ud)
{
    hub_kv_foreach(e->retained, fn, ud);
}

/* ---- routes and topics ------------------------------------------------------------------------
 */

/* Match pattern against path segment by segment; '*' takes one segment. */
static int match_route(const char *pat, const char *path, hub_route_req_t *rq, char *argbuf,
                       size_t argcap)
{
    size_t used = 0;
    int nargs = 0;

    while (*pat != '\0' && *path != '\0') {
        if (*pat != '/' || *path != '/')
            return 0;
        pat++;
        path++;
        const char *pe = strchr(pat, '/'), *se = strchr(path, '/');
        size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
        size_t sl = se ? (size_t)(se - path) : strlen(path);
        if (pl == 1 && pat[0] == '*') {
            if (sl == 0 || nargs == HUB_ROUTE_ARGS_MAX || used + sl + 1 > argcap)
                return 0;
            memcpy(argbuf + used, path, sl);
            argbuf[used + sl] = '\0';
            if (rq != NULL)
                rq->args[nargs] = argbuf + used;
            nargs++;
            used += sl + 1;
        } else if (pl != sl || memcmp(pat, path, pl) != 0) {
            return 0;
        }
        pat += pl;
        path += sl;
    }
    if (*pat != '\0' || *path != '\0')
        return 0;
    if (rq != NULL)
        rq->nargs = nargs;
    return 1;
}

const hub_route_def_t *hub_engine_route(const hub_engine_t *e, int method, const char *path,
                                        hub_route_req_t *rq, void **ctx, unsigned *allow)
{
    char probe[sizeof(rq->argbuf)];

    *allow = 0;
    for (size_t i = 0; i < e->ndoms; i++) {
        const hub_route_def_t *r = e->doms[i].def->routes;
        for (; r != NULL && r->pattern != NULL; r++) {
            if (!match_route(r->pattern, path, NULL, probe, sizeof(probe)))
                continue;
            if (r->method != method) {
                *allow |= 1u << r->method;
                continue;
            }
            match_route(r->pattern, path, rq, rq->argbuf, sizeof(rq->argbuf));
            *ctx = e->doms[i].ctx;
            return r;
        }
    }
    return NULL;
}

void hub_engine_topics_foreach(const hub_engine_t *e,
                               void (*fn)(void *ud, const hub_topic_def_t *t, void *ctx), void *ud)
{
    for (size_t i = 0; i < e->ndoms; i++)
        for (const hub_topic_def_t *t = e->doms[i].def->topics; t != NULL && t->filter != NULL; t++)
            fn(ud, t, e->doms[i].ctx);
}

/* ---- events and status ------------------------------------------------------------------------
 */

static void emit_event(hub_engine_t *e, int level, const char *source, const char *msg)
{
    hub_event_t ev = {level, source, msg, hub_wall_ms()};
    hub_log(level == HUB_EVENT_ERROR     ? HUB_LOG_ERROR
            : level == HUB_EVENT_WARNING ? HUB_LOG_WARN
                                         : HUB_LOG_INFO,
            "event", "{s:s,s:s}", "source", source, "message", msg);
    for (int i = 0; i < e->nsubs; i++)
        if (e->subs[i].on_event != NULL)
            e->subs[i].on_event(e->subs[i].ud, &ev);
}

void hub_engine_event(hub_engine_t *e, int level, const char *source, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit_event(e, level, source, msg);
}

const char *hub_engine_store_error(const hub_engine_t *e)
{
    return e->store_failed ? e->store_err : NULL;
}

int hub_engine_idle(const hub_engine_t *e)
{
    return e->queue.len == 0 && e->inflight == NULL && e->open->nintents == 0 &&
           e->dropped_head == NULL;
}

size_t hub_engine_queue_depth(const hub_engine_t *e)
{
    return e->queue.len;
}

void hub_engine_close_store(hub_engine_t *e)
{
    e->store_closing = 1;
}

void hub_engine_stop_intake(hub_engine_t *e)
{
    e->stopping = 1;
}

/* ---- apply
 * ---------------------------------------------------------------------------------------- */

static void batch_add_intent(hub_batch_t *b, hub_intent_t *in)
{
    in->next = NULL;
    if (b->tail)
        b->tail->next = in;
    else
        b->head = in;
    b->tail = in;
    b->nintents++;
}

/* The patches text, the rooms touched and the journal record of an applied
 * intent: rendered once, shared by the store, WS, MQTT and the journal. */
static void finish_record(hub_engine_t *e, hub_intent_t *in, hub__record_t *r)
{
    hub_jbuf_t *b = &e->scratch;
    char rooms[256];
    size_t rl = 0;

    hub_jbuf_reset(b);
    hub_jbuf_open(b, '[');
    r->rooms = 0;
    for (size_t i = 0; i < r->nchanges; i++) {
        const hub_change_t *c = &r->changes[i];
        int bit = path_room(e, c->path);
        if (bit >= 0 && (r->rooms & (1ull << bit)) == 0) {
            const char *name = e->rooms[bit];
            size_t rlen = strlen(name);
            r->rooms |= 1ull << bit;
            if (rl + rlen + 2 < sizeof(rooms)) {
                if (rl > 0)
                    rooms[rl++] = ',';
                memcpy(rooms + rl, name, rlen);
                rl += rlen;
            }
        }
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "path");
        hub_jbuf_str(b, c->path);
        hub_jbuf_key(b, "value");
        hub_jbuf_json(b, c->value, c->value_len);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
    r->patches = hub_arena_strndup(&r->arena, b->p, b->len);
    r->patches_len = b->len;
    r->rooms_text = hub_arena_strndup(&r->arena, rooms, rl);
    (void)in;
}

/* Dedupe, then the domain's apply on the working state. */
static void apply_one(hub_engine_t *e, hub_intent_t *in, uint64_t now_ms)
{
    uint64_t t0 = hub_mono_us(), first_seq;
    hub_batch_t *b = e->open;
    const intent_ent_t *ent;

    /* The hub's own intents (telemetry, timers) have fresh ids: deduping
     * them would only push clients' ids out of the cache. */
    if (!in->internal && hub_dedupe_seen(e->dedupe, in->req_id, now_ms, &first_seq)) {
        in->outcome = HUB_INTENT_DUPLICATE;
        in->seq = first_seq;
        batch_add_intent(b, in);
        return;
    }
    ent = find_intent(e, in->name);
    if (ent == NULL) {
        hub_error_set(&in->err, HUB_ERR_UNKNOWN_INTENT, "name",
                      "unknown intent \"%.63s\": see docs/api-ws.md for the intents", in->name);
        in->outcome = HUB_INTENT_REJECTED;
        batch_add_intent(b, in);
        return;
    }
    hub__record_t *r = record_new(e, ent->dom);
    hub_apply_t ap = {e, in, r, e->seq + 1, now_ms, &e->scratch, &in->err, 0};
    int rc = ent->def->apply(ent->dom->ctx, &ap, in->payload);
    if (rc != 0 || ap.failed) {
        if (in->err.code == HUB_ERR_NONE)
            hub_error_set(&in->err, HUB_ERR_INVALID, "", "refused by %s", ent->dom->def->name);
        record_free(e, r);
        in->outcome = HUB_INTENT_REJECTED;
        batch_add_intent(b, in);
        hub_metric_observe(e->m_apply_cost, (double)(hub_mono_us() - t0) / 1e6);
        return;
    }
    e->seq++;
    e->ts_ms = now_ms;
    in->seq = e->seq;
    in->ts_ms = now_ms;
    in->outcome = HUB_INTENT_APPLIED;
    in->_rec = r;
    finish_record(e, in, r);
    if (!in->internal)
        hub_dedupe_add(e->dedupe, in->req_id, now_ms, in->seq);

    hub_journal_rec_t *jr = hub_batch_add_rec(b);
    jr->seq = in->seq;
    jr->ts_ms = now_ms;
    jr->req_id = in->req_id;
    jr->src = in->src;
    jr->name = in->name;
    jr->payload = in->payload_text;
    jr->payload_len = in->payload_len;
    jr->patches = r->patches;
    jr->patches_len = r->patches_len;
    jr->rooms = r->rooms_text;
    for (size_t i = 0; i < r->nrows; i++)
        hub_batch_add_row(b, r->rows[i]);
    b->seq = in->seq;
    b->ts_ms = now_ms;
    batch_add_intent(b, in);
    hub_metric_observe(e->m_apply_cost, (double)(hub_mono_us() - t0) / 1e6);
}

/* ---- commit and announce -----------------------------------------------------------------------
 */

static void on_batch_done(hub_batch_t *b, void *ud);

static hub_batch_t *batch_get(hub_engine_t *e)
{
    hub_batch_t *b = e->spare;
    if (b == NULL)
        return hub_batch_new();
    e->spare = NULL;
    hub_batch_clear(b);
    return b;
}

static void batch_put(hub_engine_t *e, hub_batch_t *b)
{
    if (e->spare == NULL) {
        hub_batch_clear(b);
        e->spare = b;
        return;
    }
    hub_batch_free(b);
}

/* Rows of failed commits go first in the next one; its own rows of the
 * same keys then replace them. */
static void prepend_carry(hub_engine_t *e, hub_batch_t *b)
{
    hub_batch_t *nb;

    if (e->carry == NULL || b->nrecs == 0)
        return;
    nb = hub_batch_new();
    /* Oldest carried record first: the list is newest first. A store that
     * keeps failing can carry any number of them. */
    hub__record_t *r, **order;
    size_t n = 0;
    for (r = e->carry; r != NULL; r = r->next)
        n++;
    order = hub_malloc(n * sizeof(*order));
    n = 0;
    for (r = e->carry; r != NULL; r = r->next)
        order[n++] = r;
    while (n > 0) {
        r = order[--n];
        for (size_t i = 0; i < r->nrows; i++)
            hub_batch_add_row(nb, r->rows[i]);
    }
    hub_free(order);
    for (size_t i = 0; i < b->nrows; i++)
        if (b->rows[i] != NULL)
            hub_batch_add_row(nb, b->rows[i]);
    /* Swap the row lists: b keeps its records and intents. */
    const hub_row_t **rows = b->rows;
    size_t nrows = b->nrows, caprows = b->caprows;
    size_t *keyidx = b->keyidx, keycap = b->keycap;
    b->rows = nb->rows;
    b->nrows = nb->nrows;
    b->caprows = nb->caprows;
    b->keyidx = nb->keyidx;
    b->keycap = nb->keycap;
    nb->rows = rows;
    nb->nrows = nrows;
    nb->caprows = caprows;
    nb->keyidx = keyidx;
    nb->keycap = keycap;
    hub_batch_free(nb);
    e->carry_inflight = e->carry;
    e->carry = NULL;
}

static void flush(hub_engine_t *e)
{
    hub_batch_t *b;

    if (e->inflight != NULL || e->open->nintents == 0)
        return;
    if (e->store_closing && e->has_persist) {
        hub_intent_t *list = e->open->head;
        hub_batch_clear(e->open);
        answer_list(e, list, HUB_ESHUTDOWN);
        flush_subscribers(e);
        return;
    }
    b = e->open;
    e->open = batch_get(e);
    prepend_carry(e, b);
    b->done = on_batch_done;
    b->done_ud = e;
    e->inflight = b;
    if (e->has_persist && b->nrecs > 0)
        e->persist.submit(e->persist.ctx, b);
    else
        on_batch_done(b, e); /* nothing to write (duplicates, refusals), or no store */
}

static void publish_event_msgs(hub_engine_t *e, const hub_outbox_t *o)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->msgs[i].kind == HUB_OUT_EVENT)
            emit_event(e, o->msgs[i].level, o->msgs[i].name, o->msgs[i].text);
}

/* Tracked MQTT messages nobody will report on: MQTT is off. */
static void fail_untracked(hub_engine_t *e, const hub_outbox_t *o)
{
    for (int i = 0; i < e->nsubs; i++)
        if (e->subs[i].tracks_sent)
            return;
    for (size_t i = 0; i < o->n; i++)
        if (o->msgs[i].sent != NULL)
            o->msgs[i].sent(o->msgs[i].sent_ctx, o->msgs[i].token, 0,
                            "MQTT is disabled (DMX_MQTT_ENABLED=false)");
}

/* An applied intent is durable (or its commit failed: the working state has
 * it all the same, so it is published; the sender learns the truth). */
static void announce(hub_engine_t *e, hub_intent_t *in, int stored_rc, int more)
{
    hub__record_t *r = in->_rec;
    uint64_t now = hub_mono_us();
    hub_announce_t ann;

    for (size_t i = 0; i < r->nchanges; i++)
        hub_pubtree_set(e->pub, r->changes[i].path, r->changes[i].value, r->changes[i].value_len);
    e->pub_seq = in->seq;
    e->pub_ts_ms = in->ts_ms;
    memset(&ann, 0, sizeof(ann));
    ann.seq = in->seq;
    ann.ts_ms = in->ts_ms;
    ann.intent = in;
    ann.changes = r->changes;
    ann.nchanges = r->nchanges;
    ann.patches = r->patches;
    ann.patches_len = r->patches_len;
    ann.rooms = r->rooms;
    ann.more = more;
    hub__outbox_reset(&e->outbox);
    if (r->dom->def->announce != NULL)
        r->dom->def->announce(r->dom->ctx, &ann, r->changes, r->nchanges, &e->outbox);
    apply_outbox_registries(e, &e->outbox);
    ann.msgs = e->outbox.msgs;
    ann.nmsgs = e->outbox.n;

    for (int i = 0; i < e->nsubs; i++)
        if (e->subs[i].on_state != NULL)
            e->subs[i].on_state(e->subs[i].ud, &ann);
    if (stored_rc == 0) {
        double lat = (double)(now - in->recv_us) / 1e6;
        hub_metric_inc(e->m_processed);
        hub_metric_observe(e->m_latency, lat);
        hub_metric_set(e->m_last_latency, lat * 1000.0);
        if (hub_log_enabled(HUB_LOG_INFO)) {
            if (in->legacy)
                hub_log(HUB_LOG_INFO, "apply", "{s:I,s:s,s:s,s:s,s:I}", "seq", (json_int_t)in->seq,
                        "cmdId", in->req_id, "name", in->name, "src", in->src, "latency_us",
                        (json_int_t)(now - in->recv_us));
            else
                hub_log(HUB_LOG_INFO, "apply", "{s:I,s:s,s:s,s:s,s:I}", "seq", (json_int_t)in->seq,
                        "req_id", in->req_id, "name", in->name, "src", in->src, "latency_us",
                        (json_int_t)(now - in->recv_us));
        }
    }
    hub_intent_done_cb done = in->done;
    void *ud = in->ud;
    in->outcome = stored_rc == 0 ? HUB_INTENT_APPLIED : HUB_ESTORE;
    if (stored_rc != 0) {
        hub_metric_inc(e->m_failed);
        hub_dedupe_remove(e->dedupe, in->req_id); /* a retry must apply */
        hub_error_set(&in->err, HUB_ERR_STORE_FAILED, "",
                      "not durable: the store could not commit (%s); send again",
                      e->store_err[0] ? e->store_err : "see the hub's log");
    }
    if (done != NULL)
        done(in, stored_rc == 0 ? &ann : NULL, ud);
    for (int i = 0; i < e->nsubs; i++)
        if (e->subs[i].on_fanout != NULL)
            e->subs[i].on_fanout(e->subs[i].ud, &ann);
    fail_untracked(e, &e->outbox);
    publish_event_msgs(e, &e->outbox);
}

static void flush_subscribers(hub_engine_t *e)
{
    for (int i = 0; i < e->nsubs; i++)
        if (e->subs[i].on_flush != NULL)
            e->subs[i].on_flush(e->subs[i].ud);
}

static void on_batch_done(hub_batch_t *b, void *ud)
{
    hub_engine_t *e = ud;
    hub_intent_t *in, *next;
    size_t left = b->nrecs; /* announcements still to make */
    uint64_t now_ms = hub_wall_ms();
    int touched[MAX_DOMAINS] = {0};

    assert(b == e->inflight);
    e->inflight = NULL;
    e->store_failed = b->rc != 0;
    if (b->rc != 0) {
        memcpy(e->store_err, b->err, sizeof(e->store_err));
        hub_log(HUB_LOG_ERROR, "store_commit_failed", "{s:s,s:I,s:s}", "error", b->err, "intents",
                (json_int_t)b->nrecs, "hint",
                "check disk space and permissions of DMX_DATA_DIR; the state in memory is "
                "kept and saved with the next commit");
        hub_engine_event(e, HUB_EVENT_ERROR, "store",
                         "commit failed: %s; %zu change(s) not durable (check disk space and "
                         "permissions of DMX_DATA_DIR)",
                         b->err, b->nrecs);
        /* The carried rows failed again: carry them on. */
        if (e->carry_inflight != NULL) {
            hub__record_t *tail = e->carry_inflight;
            while (tail->next != NULL)
                tail = tail->next;
            tail->next = e->carry;
            e->carry = e->carry_inflight;
        }
    } else {
        while (e->carry_inflight != NULL) {
            hub__record_t *nr = e->carry_inflight->next;
            record_free(e, e->carry_inflight);
            e->carry_inflight = nr;
        }
    }
    e->carry_inflight = NULL;
    for (in = b->head; in != NULL; in = next) {
        next = in->next;
        if (in->outcome == HUB_INTENT_DUPLICATE) {
            /* Its original may have failed to commit since (and left the
             * cache): then it did not take effect, and neither did this. */
            uint64_t cached = 0;
            if (!hub_dedupe_seen(e->dedupe, in->req_id, now_ms, &cached) || cached != in->seq) {
                answer(e, in, HUB_ESTORE, NULL);
                continue;
            }
            hub_metric_inc(e->m_deduped);
            answer(e, in, HUB_INTENT_DUPLICATE, NULL);
            continue;
        }
        if (in->outcome == HUB_INTENT_REJECTED) {
            hub_metric_inc(e->m_rejected);
            answer(e, in, HUB_INTENT_REJECTED, NULL);
            continue;
        }
        assert(left > 0);
        left--;
        hub__record_t *r = in->_rec;
        touched[r->dom - e->doms] = 1;
        announce(e, in, b->rc, left > 0);
        if (b->rc != 0) { /* keep its rows for the next commit */
            r->next = e->carry;
            e->carry = r;
            in->_rec = NULL;
        }
        intent_free(e, in);
    }
    for (size_t i = 0; i < e->ndoms; i++)
        if (touched[i] && e->doms[i].def->announced != NULL)
            e->doms[i].def->announced(e->doms[i].ctx);
    b->head = b->tail = NULL;
    batch_put(e, b);
    flush_subscribers(e);
    flush(e);
    if (e->queue.len > 0 || e->dropped_head != NULL)
        kick(e);
}

static size_t drain_step(hub_engine_t *e)
{
    size_t n = 0, before = e->queue.len;
    uint64_t now_ms = hub_wall_ms();
    hub_intent_t *in;

    if (e->dropped_head != NULL) {
        while (e->dropped_head != NULL) {
            in = e->dropped_head;
            e->dropped_head = in->next;
            if (e->dropped_head == NULL)
                e->dropped_tail = NULL;
            answer(e, in, HUB_EDROPPED, NULL);
        }
        flush_subscribers(e);
    }
    /* Stop draining while the open batch is full: the queue then absorbs the
     * pressure and its overflow policy applies. */
    while (e->open->nintents < e->cfg.batch_max && (in = hub_queue_pop(&e->queue)) != NULL) {
        apply_one(e, in, now_ms);
        n++;
    }
    if (before == e->queue.capacity && e->queue.len < before && e->on_room != NULL)
        e->on_room(e->on_room_ud);
    flush(e);
    return n;
}

static void drain(hub_engine_t *e)
{
    drain_step(e);
    if ((e->queue.len == 0 || e->open->nintents >= e->cfg.batch_max) && e->dropped_head == NULL &&
        e->idle_active) {
        uv_idle_stop(&e->idle);
        e->idle_active = 0;
    }
}

size_t hub_engine_drain_now(hub_engine_t *e)
{
    size_t total = 0, n;
    /* Until a step takes nothing (the batch is full and one is in flight),
     * or nothing is left to take. */
    do {
        n = drain_step(e);
        total += n;
    } while (n > 0 && (e->queue.len > 0 || e->dropped_head != NULL));
    return total;
}

void hub_restore_free(hub_restore_t *r)
{
    hub_free(r->ids);
    r->ids = NULL;
    r->nids = 0;
}
