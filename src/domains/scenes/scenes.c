/* domains/scenes/scenes.c - the scenes domain: registration, entities, the
 * tick timer that fires due actions and times out feedback, and the MQTT
 * link (simulation mode).
 *
 * One timer serves every run: it sleeps until the earliest due action or
 * feedback deadline and then submits one scene.tick, which fires whatever
 * is due across all runs (50 scenes at once cost one intent per instant,
 * not 50).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/ulid.h"
#include "domains/scenes/scenes_int.h"

#define RETRY_MS 5 /* a tick found the queue full */

static const char *const roots[] = {"scenes", NULL};

/* ---- own intents ------------------------------------------------------------------------ */

hub_intent_t *scn__intent_new(const char *name, const char *src)
{
    return hub_intent_new_internal(name, src);
}

int scn__own_only(hub_apply_t *ap)
{
    return hub_apply_own_only(ap, "its timers, feedback, the MQTT link");
}

static void on_own_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    hub_scndom_t *d = ud;
    (void)ann;
    if (strcmp(in->name, "scene.tick") == 0) {
        d->tick_pending = 0;
        if (!d->stopping)
            scn__arm(d);
    }
    /* conflict: nothing to record (a tick woken early, an outcome already known) */
    int quiet = in->outcome == HUB_INTENT_REJECTED && in->err.code == HUB_ERR_CONFLICT;
    if (in->outcome != HUB_INTENT_APPLIED && in->outcome != HUB_INTENT_DUPLICATE)
        hub_log(quiet ? HUB_LOG_DEBUG : HUB_LOG_WARN, "scene_intent_refused", "{s:s,s:s}", "name",
                in->name, "error",
                in->outcome == HUB_INTENT_REJECTED ? in->err.msg : hub_strerror(in->outcome));
}

int scn__submit(hub_scndom_t *d, const char *name, json_t *payload, const char *src)
{
    hub_error_t err;
    int rc = hub_engine_submit_internal(d->engine, name, payload, src, on_own_done, d, &err);
    if (rc != 0 && err.msg[0])
        hub_log(HUB_LOG_ERROR, "scene_intent_refused", "{s:s,s:s}", "name", name, "error", err.msg);
    return rc;
}

scn_run_t *scn__run(const hub_scndom_t *d, const char *id)
{
    for (size_t i = 0; i < d->nruns; i++)
        if (strcmp(d->runs[i]->id, id) == 0)
            return d->runs[i];
    return NULL;
}

/* ---- the tick ---------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    hub_scndom_t *d = t->data;
    if (d->stopping)
        return;
    scn__publish_due(d);
    if (d->tick_pending) { /* it records them once the pending one is done */
        scn__arm(d);
        return;
    }
    int rc = scn__submit(d, "scene.tick", json_object(), "timer");
    if (rc == 0)
        d->tick_pending = 1;
    else if (rc == HUB_EOVERLOAD && d->timers_open)
        uv_timer_start(&d->tick_timer, on_tick, RETRY_MS, 0);
}

/* Sleep until the earliest due action or feedback deadline. */
void scn__arm(hub_scndom_t *d)
{
    uint64_t due = UINT64_MAX;
    uint64_t limit = (uint64_t)d->cfg.feedback_timeout_ms * 1000u;

    if (!d->timers_open)
        return;
    uint64_t now = hub_mono_us();
    for (size_t i = 0; i < d->nruns; i++) {
        const scn_run_t *r = d->runs[i];
        /* While a tick is pending only publishing is due (it records the rest
         * when it is done); else the next action to fire. */
        for (size_t k = r->next; k < r->def.n && r->acts[k].due_us < due; k++) {
            if (!d->tick_pending ||
                (r->def.actions[k].kind == SCN_MQTT && !d->simulation && r->acts[k].token == 0)) {
                due = r->acts[k].due_us;
                break;
            }
        }
        if (d->tick_pending)
            continue;
        for (size_t k = 0; k < r->next; k++) {
            const scn_act_t *s = &r->acts[k];
            if (s->sent_us == 0 || s->sent_us + limit >= due)
                continue;
            if (s->status == SCN_ST_SENT && r->def.actions[k].kind == SCN_MQTT)
                due = s->sent_us + limit; /* its feedback times out */
            else if (s->status == SCN_ST_PLAYED && s->sent_us + limit > now)
                due = s->sent_us + limit; /* its player's window to fail closes */
        }
    }
    if (due == UINT64_MAX) {
        uv_timer_stop(&d->tick_timer);
        return;
    }
    /* libuv times from its cached loop time: refresh it so the timer does
     * not fire early by however long this loop turn has run. */
    uv_update_time(d->loop);
    now = hub_mono_us();
    uint64_t ms = due > now ? (due - now + 999) / 1000 : 0;
    uv_timer_start(&d->tick_timer, on_tick, ms, 0);
}

/* ---- the MQTT link ------------------------------------------------------------------------- */

static void on_link(void *ud, int state)
{
    hub_scndom_t *d = ud;
    int sim = state == HUB_LINK_UNREACHABLE || state == HUB_LINK_DISABLED;

    /* DOWN is retrying: simulation mode starts only once it is unreachable
     * and ends only once it is back. */
    if (d->stopping || state == HUB_LINK_DOWN || sim == d->mode_wanted)
        return;
    json_t *p = json_pack("{s:b,s:i}", "simulation", sim, "link", state);
    if (scn__submit(d, "scene.mode", p, "mqtt") == 0)
        d->mode_wanted = sim;
    else /* the next link change tries again */
        hub_log(HUB_LOG_WARN, "scene_mode_lost", "{s:b}", "simulation", sim);
}

/* ---- domain hooks --------------------------------------------------------------------------- */

static void entities(void *ctx, hub_entity_fn emit, void *ud)
{
    hub_scndom_t *d = ctx;
    hub_jbuf_t b;
    char path[96];

    hub_jbuf_init(&b);
    for (size_t i = 0; i < d->nfiles; i++) {
        hub_jbuf_reset(&b);
        scn__render_file(&b, d->files[i]);
        snprintf(path, sizeof(path), "scenes.list.%s", d->files[i]->name);
        emit(ud, path, b.p, b.len);
    }
    for (size_t i = 0; i < d->nended; i++) {
        snprintf(path, sizeof(path), "scenes.runs.%s", d->ended[i].id);
        emit(ud, path, d->ended[i].text, d->ended[i].len);
    }
    hub_jbuf_reset(&b);
    scn__render_feedback(&b, d);
    emit(ud, "scenes.feedback", b.p, b.len);
    hub_jbuf_reset(&b);
    scn__render_mode(&b, d);
    emit(ud, "scenes.mode", b.p, b.len);
    hub_jbuf_free(&b);
}

static void register_metrics(hub_scndom_t *d)
{
    static const char *const kinds[] = {"mqtt", "local", "intent", "command"};
    static const double lat_s[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5};
    char labels[96];

    if (d->metrics == NULL)
        return;
    for (int k = 0; k < 4; k++)
        for (int s = SCN_ST_SENT; s < SCN_ST_COUNT; s++) {
            snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", kinds[k],
                     scn_status_names[s]);
            d->m_actions[k][s] = hub_metrics_counter_labeled(
                d->metrics, "scene_actions_total", "Scene actions by kind and outcome", labels);
        }
    d->m_latency = hub_metrics_histogram(d->metrics, "scene_feedback_latency_seconds",
                                         "Time from a scene action's publish to its feedback",
                                         lat_s, sizeof(lat_s) / sizeof(lat_s[0]));
    static const char *const fb[] = {"outcome=\"ok\"", "outcome=\"error\"", "outcome=\"timeout\""};
    for (int i = 0; i < 3; i++)
        d->m_fb[i] =
            hub_metrics_counter_labeled(d->metrics, "scene_feedback_total",
                                        "Feedback outcomes of published scene actions", fb[i]);
    d->m_sim = hub_metrics_gauge(d->metrics, "scene_simulation_mode",
                                 "1 while scene MQTT actions are simulated (broker unreachable)");
    d->m_running = hub_metrics_gauge(d->metrics, "scene_runs_running", "Scene runs running now");
}

int hub_scndom_bind(hub_scndom_t **out, hub_engine_t *e, uv_loop_t *loop, hub_metrics_t *metrics,
                    const hub_scndom_cfg_t *cfg)
{
    hub_scndom_t *d = hub_calloc(1, sizeof(*d));
    char why[512];
    int rc;

    d->engine = e;
    d->loop = loop;
    d->metrics = metrics;
    d->cfg = *cfg;
    if (d->cfg.feedback_timeout_ms <= 0)
        d->cfg.feedback_timeout_ms = 1000;
    d->dir = hub_strdup(cfg->dir ? cfg->dir : "scenes");
    d->media_dir = hub_strdup(cfg->media_dir ? cfg->media_dir : "media");
    d->media_command =
        cfg->media_command && cfg->media_command[0] ? hub_strdup(cfg->media_command) : NULL;
    /* Without MQTT at all every MQTT action is simulated from the start (no
     * intent: nothing changed, so no seq is spent on it). */
    d->simulation = d->mode_wanted = !cfg->mqtt_enabled;
    d->link = cfg->mqtt_enabled ? HUB_LINK_DOWN : HUB_LINK_DISABLED;
    if (hub_mkdir_p(d->dir, why, sizeof(why)) != 0)
        hub_log(HUB_LOG_WARN, "scenes_dir_unusable", "{s:s,s:s}", "dir", d->dir, "error", why);
    json_t *entries = scn__scan_json(d->dir);
    scn__files_replace(d, entries);
    json_decref(entries);
    scn__topics_init(d);
    d->def = (hub_domain_def_t){
        .name = "scenes",
        .roots = roots,
        .intents = scn__intents,
        .migrations = scn__migrations,
        .nmigrations = scn__nmigrations,
        .load = scn__load,
        .entities = entities,
        .announce = scn__announce,
        .routes = scn__routes,
        .topics = d->topics,
    };
    rc = hub_engine_register(e, &d->def, d);
    if (rc != 0) {
        scn__files_free(d);
        hub_free(d->dir);
        hub_free(d->media_dir);
        hub_free(d->media_command);
        hub_free(d);
        return rc;
    }
    register_metrics(d);
    hub_engine_on_link(e, on_link, d);
    if (loop != NULL) {
        uv_timer_init(loop, &d->tick_timer);
        d->tick_timer.data = d;
        d->timers_open = 1;
    }
    hub_log(HUB_LOG_INFO, "scenes_config", "{s:s,s:I,s:s,s:s,s:i}", "dir", d->dir, "scenes",
            (json_int_t)d->nfiles, "media_dir", d->media_dir, "media_command",
            d->media_command ? d->media_command : "(unset: simulated)", "feedback_timeout_ms",
            d->cfg.feedback_timeout_ms);
    *out = d;
    return 0;
}

void hub_scndom_start(hub_scndom_t *d)
{
    if (d == NULL)
        return;
    hub_metric_set(d->m_sim, d->simulation);
}

void hub_scndom_stop(hub_scndom_t *d)
{
    if (d == NULL || d->stopping)
        return;
    d->stopping = 1;
    if (d->timers_open) {
        uv_timer_stop(&d->tick_timer);
        uv_close((uv_handle_t *)&d->tick_timer, NULL);
        d->timers_open = 0;
    }
    scn__media_stop(d);
}

void hub_scndom_free(hub_scndom_t *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nruns; i++)
        scn__run_free(d->runs[i]);
    for (size_t i = 0; i < d->nretired; i++)
        scn__run_free(d->retired[i]);
    for (size_t i = 0; i < d->nended; i++)
        hub_free(d->ended[i].text);
    hub_free(d->runs);
    hub_free(d->retired);
    hub_free(d->ended);
    hub_free(d->ghosts);
    scn__files_free(d);
    hub_free(d->dir);
    hub_free(d->media_dir);
    hub_free(d->media_command);
    hub_free(d);
}
