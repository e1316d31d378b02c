/* domains/schedules/schedules.c - the schedules domain: registration, the
 * entities, announce (what goes to MQTT, the hooks that run), the poll
 * timer, the MQTT link and the metrics.
 *
 * Every change goes through an intent, including the domain's own: the
 * timer's schedules.poll (one cycle: active lists, hooks, power intents)
 * and schedules.republish (the broker came back). The hooks run as
 * scene.run intents of their own, submitted once the record that they ran
 * is durable. See docs/decisions/schedules.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/ulid.h"
#include "domains/schedules/schedules_int.h"

#define REFRESH_SLACK_US 100000 /* a tick early by the clock still refreshes (on_timer) */

/* ---- own intents ------------------------------------------------------------------------ */

static void on_own_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    hub_schdom_t *d = ud;
    (void)ann;
    if (strcmp(in->name, "schedules.poll") == 0) {
        if (d->poll_pending > 0)
            d->poll_pending--;
        /* The cycle is over (its last slice's announcement submitted no
         * next): one more if an edit came meanwhile. */
        if (d->poll_pending == 0 && !d->cyc.active && d->poll_again) {
            d->poll_again = 0;
            sch__poll_soon(d, 0);
        }
    }
    if (in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE)
        return;
    int quiet = in->outcome == HUB_INTENT_REJECTED && in->err.code == HUB_ERR_CONFLICT;
    hub_log(quiet ? HUB_LOG_DEBUG : HUB_LOG_WARN, "schedules_intent_refused", "{s:s,s:s}", "name",
            in->name, "error",
            in->outcome == HUB_INTENT_REJECTED || in->err.msg[0] ? in->err.msg
                                                                 : hub_strerror(in->outcome));
}

hub_intent_t *sch__intent_new(const char *name, const char *src)
{
    return hub_intent_new_internal(name, src);
}

int sch__own_only(hub_apply_t *ap)
{
    return hub_apply_own_only(ap, "its scheduler timer");
}

int sch__submit(hub_schdom_t *d, const char *name, json_t *payload)
{
    hub_error_t err;
    int rc = hub_engine_submit_internal(d->engine, name, payload, "timer", on_own_done, d, &err);
    if (rc != 0)
        hub_log(err.msg[0] ? HUB_LOG_ERROR : HUB_LOG_WARN, "schedules_intent_refused", "{s:s,s:s}",
                "name", name, "error", err.msg[0] ? err.msg : hub_strerror(rc));
    return rc;
}

void sch__poll_soon(hub_schdom_t *d, int refresh)
{
    if (d->stopping || d->poll_pending > 0 || d->cyc.active)
        return;
    json_t *p = json_object();
    if (refresh)
        json_object_set_new(p, "refresh", json_true());
    d->poll_pending++;
    if (sch__submit(d, "schedules.poll", p) != 0)
        d->poll_pending--; /* the next tick tries again */
    else if (refresh)
        d->last_refresh = hub_mono_us();
}

void sch__poll_next(hub_schdom_t *d)
{
    if (d->stopping) {
        d->cyc.active = 0;
        return;
    }
    json_t *p =
        json_pack("{s:I,s:I}", "now", (json_int_t)d->cyc.now, "cursor", (json_int_t)d->cyc.cursor);
    if (d->cyc.refresh)
        json_object_set_new(p, "refresh", json_true());
    d->poll_pending++;
    if (sch__submit(d, "schedules.poll", p) != 0) {
        d->poll_pending--;
        d->cyc.active = 0; /* the next tick starts a new cycle */
    }
}

/* ---- hooks: scene.run once the record is durable ---------------------------------------- */

static void on_hook_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    hub_schdom_t *d = ud;
    (void)ann;
    if (in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE)
        return;
    hub_metric_inc(d->m_hook_refused);
    hub_log(HUB_LOG_WARN, "schedule_hook_refused", "{s:s?,s:s}", "label",
            json_string_value(json_object_get(in->payload, "label")), "error",
            in->outcome == HUB_INTENT_REJECTED || in->err.msg[0] ? in->err.msg
                                                                 : hub_strerror(in->outcome));
}

static void run_hook(hub_schdom_t *d, const sch_hook_t *h)
{
    char t[32], label[128], rid[HUB_REQ_ID_MAX + 1];
    hub_error_t err;
    json_error_t jerr;
    const char *which = h->end ? "on_end" : "on_start";

    json_t *actions = json_loads(h->actions, 0, &jerr);
    if (actions == NULL)
        return; /* validated when saved */
    sch_time_format(h->occ, h->occ % 1000 != 0, t);
    snprintf(label, sizeof(label), "event %" PRId64 " %s %s", h->event_id, which, t);
    /* A req_id of its own: the engine's dedupe is a second guard against
     * running the same occurrence's hook twice. */
    snprintf(rid, sizeof(rid), "sched:%" PRId64 ":%" PRId64 ":%s", h->event_id, h->occ,
             h->end ? "end" : "start");
    hub_intent_t *in = hub_intent_new(rid, "scheduler", "scene.run");
    hub_intent_set_payload(in,
                           json_pack("{s:{s:o},s:s}", "scene", "actions", actions, "label", label));
    in->recv_us = hub_mono_us();
    in->done = on_hook_done;
    in->ud = d;
    hub_log(HUB_LOG_INFO, "schedule_hook_run", "{s:I,s:s,s:s,s:I}", "event_id",
            (json_int_t)h->event_id, "occurrence_start", t, "hook", which, "actions",
            (json_int_t)json_array_size(
                json_object_get(json_object_get(in->payload, "scene"), "actions")));
    hub_metric_inc(d->m_hooks);
    if (hub_engine_prepare(d->engine, in, &err) != 0) {
        hub_metric_inc(d->m_hook_refused);
        hub_log(HUB_LOG_ERROR, "schedule_hook_refused", "{s:s,s:s}", "label", label, "error",
                err.msg);
        hub_intent_free(in);
        return;
    }
    int rc = hub_engine_submit(d->engine, in);
    if (rc != 0) {
        hub_metric_inc(d->m_hook_refused);
        hub_log(HUB_LOG_ERROR, "schedule_hook_refused", "{s:s,s:s}", "label", label, "error",
                hub_strerror(rc));
        hub_intent_free(in);
    }
}

/* The hooks of seq: run them if their record is durable, else drop them
 * (at most once: a hook whose record did not commit is not run). Older
 * entries belong to intents that were not announced (cannot happen) and
 * are dropped too. */
static void run_hooks(hub_schdom_t *d, uint64_t seq)
{
    int durable = hub_engine_store_error(d->engine) == NULL;

    while (d->hooks != NULL && d->hooks->seq <= seq) {
        sch_hook_t *h = d->hooks;
        d->hooks = h->next;
        if (d->hooks == NULL)
            d->hooks_tail = NULL;
        if (h->seq == seq && durable && !d->stopping) {
            run_hook(d, h);
        } else {
            hub_log(HUB_LOG_ERROR, "schedule_hook_skipped", "{s:I,s:I,s:s,s:s}", "event_id",
                    (json_int_t)h->event_id, "occurrence", (json_int_t)h->occ, "hook",
                    h->end ? "on_end" : "on_start", "reason",
                    d->stopping ? "the hub is stopping"
                                : "its record did not commit (store error): not run, so it "
                                  "never runs twice");
        }
        hub_free(h->actions);
        hub_free(h);
    }
}

/* ---- power intents: publish, outcome, republish ----------------------------------------- */

static void on_power_sent(void *ctx, uint64_t token, int ok, const char *why)
{
    hub_schdom_t *d = ctx;
    int64_t gid = (int64_t)token - 1;
    if (ok) {
        hub_log(HUB_LOG_DEBUG, "power_intent_puback", "{s:I}", "group_id", (json_int_t)gid);
        return;
    }
    hub_metric_inc(d->m_failures);
    hub_log(HUB_LOG_WARN, "power_intent_publish_failed", "{s:I,s:s}", "group_id", (json_int_t)gid,
            "error", why ? why : "");
}

static void publish_intent(hub_schdom_t *d, const sch_group_t *g, hub_outbox_t *out)
{
    char topic[160];
    snprintf(topic, sizeof(topic), "%s/groups/%" PRId64 "/power/intent", d->root, g->id);
    /* NOKEEP: the engine must not republish it on reconnect once it may
     * have expired; schedules.republish does, checking expiry. */
    hub_outbox_mqtt_ex(out, topic, g->pub_body, g->pub_len, 1, 1, HUB_OUT_NOKEEP, on_power_sent, d,
                       (uint64_t)(g->id + 1));
}

static const char *kind_name(int kind)
{
    static const char *const names[] = {"none", "transition", "update", "heartbeat"};
    return kind >= 0 && kind <= SCH_PUB_HEARTBEAT ? names[kind] : "?";
}

static void announce_power(hub_schdom_t *d, const hub_change_t *c, hub_outbox_t *out)
{
    const sch_power_native_t *nat = c->native;
    if (nat == NULL || c->native_len != sizeof(*nat))
        return;
    sch_group_t *g = sch__group(d, nat->group, 1);
    hub_free(g->pub_body);
    g->pub_body = hub_strndup(c->value, c->value_len);
    g->pub_len = c->value_len;
    g->pub_issued = nat->issued_at;
    g->pub_expires = nat->expires_at;
    if (nat->kind == SCH_PUB_TRANSITION)
        hub_metric_inc(d->m_transitions);
    if (!d->cfg.power_publish || nat->kind == SCH_PUB_NONE)
        return;
    if (hub_engine_link(d->engine) != HUB_LINK_UP) {
        /* It would fail: schedules.republish sends it when the broker is back. */
        hub_log(HUB_LOG_DEBUG, "power_intent_deferred", "{s:I,s:s}", "group_id", (json_int_t)g->id,
                "reason", "the MQTT broker is not connected");
        return;
    }
    if ((int64_t)hub_wall_ms() >= g->pub_expires) {
        hub_log(HUB_LOG_WARN, "power_intent_expired_not_published", "{s:I}", "group_id",
                (json_int_t)g->id);
        return;
    }
    publish_intent(d, g, out);
    int level = nat->kind == SCH_PUB_HEARTBEAT ? HUB_LOG_DEBUG : HUB_LOG_INFO;
    if (!hub_log_enabled(level))
        return; /* a heartbeat of every group every poll: no JSON parse for nothing */
    json_t *body = json_loadb(c->value, c->value_len, 0, NULL);
    hub_log(level, "power_intent_published", "{s:I,s:s,s:O?,s:O?,s:O?,s:O?,s:O?}", "group_id",
            (json_int_t)g->id, "kind", kind_name(nat->kind), "intent_id",
            json_object_get(body, "intent_id"), "desired_state",
            json_object_get(body, "desired_state"), "reason", json_object_get(body, "reason"),
            "issued_at", json_object_get(body, "issued_at"), "expires_at",
            json_object_get(body, "expires_at"));
    json_decref(body);
}

static void republish(hub_schdom_t *d, hub_outbox_t *out)
{
    int64_t now = (int64_t)hub_wall_ms();
    uint64_t n = 0, expired = 0;
    for (size_t i = 0; i < d->ngroups; i++) {
        sch_group_t *g = d->groups[i];
        if (g->pub_body == NULL)
            continue;
        if (now >= g->pub_expires) {
            expired++;
            continue;
        }
        publish_intent(d, g, out);
        n++;
    }
    hub_metric_add(d->m_republish, n);
    hub_log(HUB_LOG_INFO, "power_intent_retained_republish", "{s:I,s:I}", "republished",
            (json_int_t)n, "expired_skipped", (json_int_t)expired);
}

static void on_link(void *ud, int state)
{
    hub_schdom_t *d = ud;
    if (state != HUB_LINK_UP || d->stopping || !d->cfg.power_publish)
        return;
    sch__submit(d, "schedules.republish", json_object());
}

/* ---- active lists ---------------------------------------------------------------------- */

static void publish_list(hub_schdom_t *d, sch_group_t *g, uint64_t seq, hub_outbox_t *out)
{
    char topic[160];
    if (g->id == SCH_HUB)
        return; /* the hub's own events: actions only */
    snprintf(topic, sizeof(topic), "%s/events/%" PRId64, d->root, g->id);
    const char *text = g->pub_active ? g->pub_active : "[]";
    hub_outbox_mqtt(out, topic, text, strlen(text), 1, 1, HUB_OUT_CONFLATE);
    g->stamp = seq;
}

static int64_t group_of_path(const char *s)
{
    if (strcmp(s, "hub") == 0)
        return SCH_HUB;
    return strtoll(s, NULL, 10);
}

/* Every list of the slice's groups (REFRESH_SECONDS, start-up): groups
 * with events or a list; [] for those with events and none active. */
static void publish_lists(hub_schdom_t *d, uint64_t seq, hub_outbox_t *out)
{
    for (size_t i = 0; i < d->ngroups; i++) {
        sch_group_t *g = d->groups[i];
        if (g->slice_seq != seq || g->stamp == seq || g->id == SCH_HUB)
            continue;
        if (g->pub_active != NULL || g->nev > 0)
            publish_list(d, g, seq, out);
    }
}

/* ---- domain hooks ----------------------------------------------------------------------- */

static void entities(void *ctx, hub_entity_fn emit, void *ud)
{
    hub_schdom_t *d = ctx;
    hub_jbuf_t b;
    char path[64];

    hub_jbuf_init(&b);
    for (size_t i = 0; i < d->nev; i++) {
        hub_jbuf_reset(&b);
        sch__render_event(&b, d->ev[i]);
        snprintf(path, sizeof(path), "schedules.events.%" PRId64, d->ev[i]->id);
        emit(ud, path, b.p, b.len);
    }
    for (size_t i = 0; i < d->ngroups; i++) {
        sch_group_t *g = d->groups[i];
        if (g->active != NULL) {
            sch__active_path(path, sizeof(path), g->id);
            emit(ud, path, g->active, strlen(g->active));
        }
        if (g->has_intent) {
            hub_jbuf_reset(&b);
            sch_intent_render(&b, &g->intent);
            snprintf(path, sizeof(path), "schedules.power.%" PRId64, g->id);
            emit(ud, path, b.p, b.len);
        }
    }
    hub_jbuf_free(&b);
}

static void announce(void *ctx, const hub_announce_t *ann, const hub_change_t *mine, size_t nmine,
                     hub_outbox_t *out)
{
    hub_schdom_t *d = ctx;
    const char *name = ann->intent->name;

    for (size_t i = 0; i < nmine; i++) {
        const hub_change_t *c = &mine[i];
        if (strncmp(c->path, "schedules.active.", 17) == 0) {
            sch_group_t *g = sch__group(d, group_of_path(c->path + 17), 1);
            int gone = c->value_len == 4 && memcmp(c->value, "null", 4) == 0;
            hub_free(g->pub_active);
            g->pub_active = gone ? NULL : hub_strndup(c->value, c->value_len);
            publish_list(d, g, ann->seq, out);
        } else if (strncmp(c->path, "schedules.power.", 16) == 0) {
            announce_power(d, c, out);
        }
    }
    if (strcmp(name, "schedules.poll") == 0 &&
        json_is_true(json_object_get(ann->intent->payload, "refresh")))
        publish_lists(d, ann->seq, out);
    if (strcmp(name, "schedules.republish") == 0)
        republish(d, out);
    run_hooks(d, ann->seq);
    if (strcmp(name, "schedules.poll") == 0 && d->cyc.active && d->cyc.seq == ann->seq)
        sch__poll_next(d); /* groups are left: the next slice */
    if (strncmp(name, "event.", 6) == 0) {
        /* a cycle at once after any change (after the one running) */
        if (d->poll_pending > 0 || d->cyc.active)
            d->poll_again = 1;
        sch__poll_soon(d, 0);
    }
    hub_metric_set(d->m_events, (double)d->nev);
}

static const hub_intent_def_t intents[] = {
    {"event.create", sch__apply_create, NULL},
    {"event.update", sch__apply_update, NULL},
    {"event.delete", sch__apply_delete, NULL},
    {"event.detach", sch__apply_detach, NULL},
    {"schedules.poll", sch__apply_poll, NULL},
    {"schedules.republish", sch__apply_republish, NULL},
    {NULL, NULL, NULL},
};

static const char *const roots[] = {"schedules", NULL};

/* The age of the oldest cached intent (its issued_at), seconds. */
static double retained_age(void *ud)
{
    hub_schdom_t *d = ud;
    int64_t oldest = 0;
    for (size_t i = 0; i < d->ngroups; i++)
        if (d->groups[i]->pub_body != NULL && (oldest == 0 || d->groups[i]->pub_issued < oldest))
            oldest = d->groups[i]->pub_issued;
    if (oldest == 0)
        return 0;
    int64_t age = (int64_t)hub_wall_ms() - oldest;
    return age > 0 ? (double)age / 1000.0 : 0;
}

static void register_metrics(hub_schdom_t *d)
{
    static const double cycle_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                          0.05,   0.1,   0.25,   0.5,   1,    2.5};
    d->m_transitions = hub_metrics_counter(
        d->metrics, "power_intent_transitions_total",
        "Group power intents that changed desired_state/reason or were edited (new intent_id)");
    d->m_republish =
        hub_metrics_counter(d->metrics, "power_intent_retained_republish_total",
                            "Cached power intents republished after the MQTT broker came back");
    d->m_failures = hub_metrics_counter(d->metrics, "power_intent_publish_failures_total",
                                        "Power intent publishes the broker did not acknowledge");
    d->m_age = hub_metrics_gauge_fn(d->metrics, "power_intent_retained_age_seconds",
                                    "Age of the oldest cached power intent (since its issued_at)",
                                    retained_age, d);
    d->m_cycle = hub_metrics_histogram(d->metrics, "schedules_cycle_seconds",
                                       "One scheduler cycle (active lists, hooks, power intents)",
                                       cycle_bounds, 12);
    d->m_events = hub_metrics_gauge(d->metrics, "schedules_events", "Events (series count once)");
    d->m_hooks = hub_metrics_counter(d->metrics, "schedules_hooks_total",
                                     "on_start/on_end action lists submitted as scene.run");
    d->m_hook_refused = hub_metrics_counter(d->metrics, "schedules_hooks_refused_total",
                                            "on_start/on_end runs refused (scene.run not applied)");
    d->m_slice = hub_metrics_histogram(
        d->metrics, "schedules_cycle_slice_seconds",
        "One slice of a scheduler cycle (a schedules.poll intent's apply on the loop thread)",
        cycle_bounds, 12);
}

int hub_schdom_bind(hub_schdom_t **out, hub_engine_t *e, uv_loop_t *loop, hub_metrics_t *metrics,
                    const hub_schdom_cfg_t *cfg)
{
    hub_schdom_t *d = hub_calloc(1, sizeof(*d));
    int rc;

    d->engine = e;
    d->loop = loop;
    d->metrics = metrics;
    d->cfg = *cfg;
    if (d->cfg.max_events <= 0)
        d->cfg.max_events = SCH_EVENTS_DEFAULT;
    if (d->cfg.poll_s < 1)
        d->cfg.poll_s = 1;
    if (d->cfg.window_days < 1)
        d->cfg.window_days = 1;
    snprintf(d->root, sizeof(d->root), "%s", cfg->topic_root ? cfg->topic_root : "infoscreen");
    d->cfg.topic_root = d->root;
    d->next_id = 1;
    d->def = (hub_domain_def_t){
        .name = "schedules",
        .roots = roots,
        .intents = intents,
        .migrations = sch__migrations,
        .nmigrations = sch__nmigrations,
        .load = sch__load,
        .entities = entities,
        .announce = announce,
        .routes = sch__routes,
    };
    rc = hub_engine_register(e, &d->def, d);
    if (rc != 0) {
        hub_free(d);
        return rc;
    }
    register_metrics(d);
    hub_engine_on_link(e, on_link, d);
    if (loop != NULL) {
        uv_timer_init(loop, &d->timer);
        d->timer.data = d;
        d->timer_open = 1;
    }
    *out = d;
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    hub_schdom_t *d = t->data;
    uint64_t now = hub_mono_us();
    /* The ticks are poll_s apart on libuv's millisecond clock, so by this
     * microsecond one a tick can come up to a millisecond early: without the
     * slack a refresh due at a tick slips a whole poll (every 2 or 3 s for
     * REFRESH_SECONDS=2, POLL_INTERVAL_SECONDS=1). */
    int refresh = d->cfg.refresh_s > 0 &&
                  now - d->last_refresh + REFRESH_SLACK_US >= (uint64_t)d->cfg.refresh_s * 1000000u;
    sch__poll_soon(d, refresh);
}

void hub_schdom_start(hub_schdom_t *d)
{
    if (d == NULL)
        return;
    hub_log(HUB_LOG_INFO, "scheduler_config", "{s:i,s:i,s:b,s:b,s:i,s:i,s:i,s:s}", "poll_interval",
            d->cfg.poll_s, "refresh_seconds", d->cfg.refresh_s, "power_intent_enabled",
            d->cfg.power_publish, "power_intent_heartbeat", d->cfg.power_heartbeat,
            "power_intent_expiry_multiplier", d->cfg.power_multiplier, "power_intent_min_expiry",
            d->cfg.power_min_expiry_s, "events_window_days", d->cfg.window_days, "topic_root",
            d->root);
    hub_metric_set(d->m_events, (double)d->nev);
    /* Start-up: a cycle before the first wait, publishing every list and
     * intent (seed 004 publishes before its first sleep). */
    sch__poll_soon(d, 1);
    if (d->timer_open) {
        uint64_t ms = (uint64_t)d->cfg.poll_s * 1000u;
        uv_timer_start(&d->timer, on_timer, ms, ms);
    }
}

void hub_schdom_stop(hub_schdom_t *d)
{
    if (d == NULL || d->stopping)
        return;
    d->stopping = 1;
    if (d->timer_open) {
        uv_timer_stop(&d->timer);
        uv_close((uv_handle_t *)&d->timer, NULL);
        d->timer_open = 0;
    }
}

void hub_schdom_free(hub_schdom_t *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nev; i++)
        sch__event_free(d->ev[i]);
    hub_free(d->ev);
    for (size_t i = 0; i < d->ngroups; i++) {
        sch_group_t *g = d->groups[i];
        hub_free(g->active);
        hub_free(g->pub_active);
        hub_free(g->pub_body);
        if (g->has_intent)
            sch_intent_free(&g->intent);
        hub_free(g->evs);
        hub_free(g->cov);
        sch_basis_free(&g->basis);
        hub_free(g);
    }
    hub_free(d->groups);
    hub_free(d->fired);
    while (d->hooks != NULL) {
        sch_hook_t *h = d->hooks;
        d->hooks = h->next;
        hub_free(h->actions);
        hub_free(h);
    }
    hub_free(d);
}
