/* app.c - wiring and lifecycle of the hub.
 *
 * Start: the domains (each registered with the engine in one line), the
 * store (their schema steps and tables), the engine's restored state, the
 * outputs and their clock, MQTT, the HTTP/WS server. Stop (SIGINT/SIGTERM):
 * stop intake, drain the queue, MQTT "offline", close the server, blackout
 * every output, flush the store. SIGHUP reloads the patch file as one
 * intent.
 */
#include "app.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "core/addr.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/inbox.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/ulid.h"
#include "domains/dmx/dmx.h"
#include "domains/show/show.h"
#include "engine/engine.h"
#include "output/artnet.h"
#include "output/frameclock.h"
#include "output/ola.h"
#include "output/sacn.h"
#include "domains/devices/devices.h"
#include "domains/schedules/schedules.h"
#include "domains/scenes/scenes.h"
#include "proto/mqtt.h"
#include "proto/server.h"
#include "store/store.h"

#define DRAIN_BUDGET_MS 600
#define MQTT_OFFLINE_MS 400

enum { RUNNING, DRAINING, MQTT_CLOSING, SERVER_CLOSING, DONE };

struct hub_app {
    const hub_config_t *cfg;
    uv_loop_t loop;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t flush_timer; /* log flush, 100 ms */
    uv_timer_t stop_timer;  /* shutdown steps */
    hub_metrics_t *metrics;
    hub_inbox_t *inbox;
    hub_store_t *store;
    hub_engine_t *engine;
    hub_dmx_t *dmx;
    hub_showdom_t *show;
    hub_devdom_t *devices;
    hub_schdom_t *schedules;
    hub_scndom_t *scenes;
    hub_mqtt_t *mqtt;
    hub_server_t *server;
    hub_ola_t *ola;
    hub_artnet_t *artnet;
    hub_sacn_t *sacn;
    hub_frameclock_t *clock;
    int startup_reload; /* the changed patch file's reload is pending: not ready */
    int phase;
    uint64_t phase_deadline_us;
    uint64_t start_us;
};

static void on_flush(uv_timer_t *t)
{
    hub_log_flush();
}

static int store_ready(void *ud, char *why, size_t n)
{
    hub_app_t *app = ud;
    const char *err = hub_engine_store_error(app->engine);
    if (app->startup_reload) {
        snprintf(why, n, "applying the changed patch file (dmx.reload_fixtures at start)");
        return 0;
    }
    if (err == NULL)
        return 1;
    snprintf(why, n, "last commit failed: %s", err);
    return 0;
}

/* ---- outputs ------------------------------------------------------------------ */

static void on_dmx_layers(void *ud, int universe, const hub_dmx_layers_t *layers)
{
    hub_frameclock_set_universe(ud, universe, layers);
}

static void on_show_playback(void *ud, int has_prog, hub_show_prog_t *prog,
                             const hub_transport_t *tr)
{
    hub_frameclock_set_playback(ud, has_prog, prog, tr);
}

static void on_show_previews(void *ud, hub_show_previews_t *pv)
{
    hub_frameclock_set_previews(ud, pv);
}

typedef struct event_msg {
    hub_msg_t msg;
    int level;
    char source[16];
    char text[256];
} event_msg_t;

static void on_event_msg(hub_msg_t *msg, void *ud)
{
    hub_app_t *app = ud;
    event_msg_t *m = (event_msg_t *)msg;
    if (app->engine != NULL)
        hub_engine_event(app->engine, m->level, m->source, "%s", m->text);
    hub_free(m);
}

/* Output thread: an operator event, to the loop thread. */
static void on_output_event(void *ud, int level, const char *source, const char *text)
{
    hub_app_t *app = ud;
    event_msg_t *m = hub_calloc(1, sizeof(*m));
    m->msg.fn = on_event_msg;
    m->level = level;
    snprintf(m->source, sizeof(m->source), "%s", source);
    snprintf(m->text, sizeof(m->text), "%s", text);
    hub_inbox_post(app->inbox, &m->msg);
}

static void on_frames(void *ud, const int *universes, const uint8_t (*slots)[512], size_t n,
                      uint64_t ts_ms)
{
    hub_server_dmx_frames(ud, universes, slots, n, ts_ms);
}

static void frames_refresh(void *ud)
{
    hub_frameclock_ws_refresh(ud);
}

static int frames_wanted(void *ud)
{
    return hub_server_frames_wanted(ud);
}

static int open_outputs(hub_app_t *app, char *err, size_t errlen)
{
    const hub_config_t *c = app->cfg;
    hub_addr_t *targets = NULL, *listen = NULL;
    size_t n = 0, nl = 0;
    int rc = 0;

    if (c->artnet_enabled) {
        rc = hub_addr_parse_list(c->artnet_targets, 6454, &targets, &n, err, errlen);
        if (rc == 0 && strcmp(c->artnet_listen, "false") != 0) {
            rc = hub_addr_parse_list(strcmp(c->artnet_listen, "true") == 0 ? "0.0.0.0:6454"
                                                                           : c->artnet_listen,
                                     6454, &listen, &nl, err, errlen);
        }
        hub_artnet_cfg_t ac = {.targets = targets,
                               .ntargets = n,
                               .sync = c->artnet_sync,
                               .listen = nl > 0 ? listen : NULL,
                               .short_name = "showhub",
                               .long_name = "showhub DMX state hub"};
        if (rc == 0)
            rc = hub_artnet_new(&app->artnet, &ac, app->metrics, err, errlen);
        hub_free(targets);
        hub_free(listen);
        if (rc < 0)
            return rc;
        hub_log(HUB_LOG_INFO, "artnet_output", "{s:s,s:b,s:s}", "targets", c->artnet_targets,
                "sync", c->artnet_sync, "listen", c->artnet_listen);
    }
    if (c->sacn_enabled) {
        targets = NULL;
        n = 0;
        if (c->sacn_targets != NULL)
            rc = hub_addr_parse_list(c->sacn_targets, 5568, &targets, &n, err, errlen);
        hub_sacn_cfg_t sc = {.targets = targets,
                             .ntargets = n,
                             .priority = c->sacn_priority,
                             .source_name = c->sacn_source_name,
                             .data_dir = c->data_dir};
        if (rc == 0)
            rc = hub_sacn_new(&app->sacn, &sc, app->metrics, err, errlen);
        hub_free(targets);
        if (rc < 0)
            return rc;
        hub_log(HUB_LOG_INFO, "sacn_output", "{s:s,s:i,s:s}", "targets",
                c->sacn_targets ? c->sacn_targets : "multicast", "priority", c->sacn_priority,
                "cid", hub_sacn_cid(app->sacn));
    }
    if (c->ola_enabled) {
        hub_ola_cfg_t oc = {
            .url = c->ola_url, .universe = c->ola_universe, .fps = c->ola_fps, .timeout_ms = 200};
        rc = hub_ola_new(&app->ola, &oc, app->metrics, err, errlen);
        if (rc < 0)
            return rc;
    } else {
        /* Same series either way, so dashboards need no special case. */
        hub_metrics_counter(app->metrics, "dmx_ola_frames_total",
                            "DMX frames sent to OLA (output disabled: DMX_OLA_ENABLED=false)");
        hub_metrics_counter(app->metrics, "dmx_ola_errors_total",
                            "Failed OLA sends (output disabled: DMX_OLA_ENABLED=false)");
    }
    hub_frameclock_cfg_t fc = {.fps = c->output_fps,
                               .keepalive_ms = c->output_keepalive_ms,
                               .ws_hz = c->ws_frame_hz,
                               .test_pattern = strcmp(c->output_test, "chase") == 0 ? HUB_TEST_CHASE
                                                                                    : HUB_TEST_OFF,
                               .playback_fps = c->playback_fps,
                               .rt_priority = c->output_priority,
                               .artnet = app->artnet,
                               .sacn = app->sacn,
                               .ola = app->ola};
    rc = hub_frameclock_new(&app->clock, &fc, app->metrics);
    if (rc < 0) {
        snprintf(err, errlen, "output clock: %s", hub_strerror(rc));
        return rc;
    }
    hub_frameclock_set_events(app->clock, on_output_event, app);
    hub_dmx_set_sink(app->dmx, on_dmx_layers, app->clock);
    hub_dmx_sink_all(app->dmx); /* the restored state to the lights */
    hub_show_sink_t ss = {on_show_playback, on_show_previews, app->clock};
    hub_showdom_set_sink(app->show, &ss);
    return 0;
}

/* ---- SIGHUP: reload the patch file ---------------------------------------------- */

static void on_reload_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    hub_app_t *app = ud;
    (void)ann;
    if (strcmp(in->src, "startup") == 0)
        app->startup_reload = 0; /* ready now, whatever the outcome */
    if (in->outcome == HUB_INTENT_APPLIED)
        hub_log(HUB_LOG_INFO, "fixtures_reloaded", "{s:I,s:s}", "seq", (json_int_t)in->seq, "via",
                strcmp(in->src, "startup") == 0 ? "start-up: the file changed" : "SIGHUP");
    else
        hub_engine_event(app->engine, HUB_EVENT_ERROR, "dmx", "reload refused: %s", in->err.msg);
}

/* src: "signal" (SIGHUP) or "startup" (the file changed while stopped).
 * 0 when submitted (on_reload_done follows), -1 when refused. */
static int reload(hub_app_t *app, const char *src)
{
    char id[HUB_REQ_ID_MAX + 1];
    hub_error_t err;
    hub_intent_t *in;

    hub_ulid_new(id);
    in = hub_intent_new(id, src, "dmx.reload_fixtures");
    in->recv_us = hub_mono_us();
    in->done = on_reload_done;
    in->ud = app;
    if (hub_engine_prepare(app->engine, in, &err) != 0) {
        hub_engine_event(app->engine, HUB_EVENT_ERROR, "dmx", "reload refused: %s", err.msg);
        hub_intent_free(in);
        return -1;
    }
    if (hub_engine_submit(app->engine, in) != 0) {
        hub_engine_event(app->engine, HUB_EVENT_ERROR, "dmx",
                         "reload refused: the queue is full or the hub is stopping; send SIGHUP "
                         "again");
        hub_intent_free(in);
        return -1;
    }
    return 0;
}

/* ---- shutdown ------------------------------------------------------------------- */

static void step(hub_app_t *app);

static void on_mqtt_closed(void *ud)
{
    hub_app_t *app = ud;
    app->phase = SERVER_CLOSING;
    app->phase_deadline_us = hub_mono_us() + 300 * 1000;
    hub_server_close(app->server);
    step(app);
}

/* The shutdown state machine, polled by stop_timer every 5 ms. */
static void step(hub_app_t *app)
{
    uint64_t now = hub_mono_us();

    switch (app->phase) {
    case DRAINING:
        if (!hub_engine_idle(app->engine) && now < app->phase_deadline_us)
            return;
        if (!hub_engine_idle(app->engine))
            hub_log(HUB_LOG_WARN, "shutdown_drain_timeout", "{s:I}", "queue_depth",
                    (json_int_t)hub_engine_queue_depth(app->engine));
        app->phase = MQTT_CLOSING;
        if (app->mqtt != NULL) {
            hub_mqtt_shutdown(app->mqtt, MQTT_OFFLINE_MS, on_mqtt_closed, app);
            return;
        }
        on_mqtt_closed(app);
        return;
    case SERVER_CLOSING:
        if (!hub_server_closed(app->server) && now < app->phase_deadline_us)
            return;
        app->phase = DONE;
        uv_stop(&app->loop);
        return;
    default: return;
    }
}

static void on_stop_timer(uv_timer_t *t)
{
    step(t->data);
}

static void on_signal(uv_signal_t *h, int signum)
{
    hub_app_t *app = h->data;

    if (signum == SIGHUP) {
        if (app->phase == RUNNING) {
            (void)reload(app, "signal");
            hub_showdom_rescan(app->show);
        }
        return;
    }
    if (app->phase != RUNNING) {
        hub_log(HUB_LOG_WARN, "shutdown_forced", "{s:i}", "signal", signum);
        hub_log_flush();
        _exit(1);
    }
    hub_log(HUB_LOG_INFO, "shutdown", "{s:s}", "signal", signum == SIGINT ? "SIGINT" : "SIGTERM");
    hub_showdom_shutdown(app->show); /* a playing show pauses where it is, durably */
    hub_devdom_stop(app->devices);   /* requests waiting for a publish are answered */
    hub_schdom_stop(app->schedules); /* the poll timer */
    hub_scndom_stop(app->scenes);    /* timers and media players */
    hub_engine_stop_intake(app->engine);
    /* The clock must not post frames to network contexts about to close. */
    hub_frameclock_set_frames(app->clock, NULL, NULL, NULL);
    app->phase = DRAINING;
    app->phase_deadline_us = hub_mono_us() + DRAIN_BUDGET_MS * 1000;
    uv_timer_start(&app->stop_timer, on_stop_timer, 0, 5);
}

/* ---- start ---------------------------------------------------------------------- */

/* The devices domain's reads (logs, old commands) on the store's reader. */
static void read_job(void *rctx, void (*fn)(void *ud, hub_db_t *db), void (*done)(void *ud, int rc),
                     void *ud)
{
    hub_app_t *app = rctx;
    if (app->store == NULL) {
        done(ud, HUB_ESHUTDOWN);
        return;
    }
    hub_store_read_job(app->store, fn, done, ud);
}

/* The fleet's groups, for the schedules' power intents. */
static void fleet_groups(void *ctx, hub_schdom_group_fn fn, void *ud)
{
    hub_devdom_groups(ctx, fn, ud);
}

static void read_journal(void *ud, uint64_t since, size_t limit, hub_journal_cb cb, void *cb_ud)
{
    hub_app_t *app = ud;
    if (app->store == NULL) { /* closed: a resync asked while shutting down */
        hub_journal_page_t *p = hub_calloc(1, sizeof(*p));
        p->rc = HUB_ESHUTDOWN;
        p->since = since;
        cb(p, cb_ud);
        return;
    }
    hub_store_read_journal(app->store, since, limit, cb, cb_ud);
}

static int open_state(hub_app_t *app, char *err, size_t errlen)
{
    const hub_config_t *c = app->cfg;
    char path[1024];
    hub_restore_t restore;
    int rc;

    /* The domains: one line each. */
    snprintf(path, sizeof(path), "%s/fixtures.json", c->data_dir);
    hub_dmx_cfg_t dc = {.fixtures_file = c->fixtures_file ? c->fixtures_file : path,
                        .file_explicit = c->fixtures_file != NULL,
                        .demo_universe = c->ola_universe};
    rc = hub_dmx_new(&app->dmx, &dc, err, errlen);
    if (rc < 0)
        return HUB_ECONFIG;
    snprintf(path, sizeof(path), "%s/shows", c->data_dir);
    hub_showdom_cfg_t shc = {.shows_dir = c->shows_dir ? c->shows_dir : path,
                             .default_show = c->default_show,
                             .max_bytes = c->show_max_bytes,
                             .dmx = app->dmx};
    rc = hub_showdom_new(&app->show, &shc, err, errlen);
    if (rc < 0)
        return HUB_ECONFIG;

    hub_engine_cfg_t ec = {
        .queue_size = (size_t)c->queue_size,
        .dedupe_capacity = (size_t)c->dedupe_capacity,
        .dedupe_ttl_ms = (uint64_t)c->dedupe_ttl_s * 1000,
    };
    rc = hub_engine_new(&app->engine, &app->loop, &ec, app->metrics);
    if (rc < 0) {
        snprintf(err, errlen, "engine: %s", hub_strerror(rc));
        return rc;
    }
    rc = hub_engine_register(app->engine, hub_dmx_domain(), app->dmx);
    if (rc == 0)
        rc = hub_engine_register(app->engine, hub_showdom_domain(), app->show);
    hub_showdom_bind(app->show, app->engine);
    if (rc == 0) {
        hub_devdom_cfg_t dv = {.topic_root = c->fleet_topic_root,
                               .grace_s = c->heartbeat_grace_s,
                               .poll_s = c->poll_interval_s,
                               .expiry_s = c->command_expiry_s,
                               .recovery = c->crash_recovery,
                               .recovery_grace_s = c->crash_recovery_grace_s,
                               .recovery_lockout_min = c->crash_recovery_lockout_min,
                               .recovery_expiry_s = c->crash_recovery_expiry_s,
                               .outage_fraction = c->fleet_outage_fraction,
                               .compat_topics = c->fleet_compat_topics,
                               .log_retention = c->fleet_log_retention,
                               .log_retention_days = c->fleet_log_retention_days,
                               .max_devices = c->fleet_max_devices};
        hub_db_reader_t reader = {.run = read_job, .rctx = app};
        rc = hub_devdom_bind(&app->devices, app->engine, &app->loop, app->metrics, &dv, &reader);
    }
    if (rc == 0) {
        hub_schdom_cfg_t sc = {.topic_root = c->fleet_topic_root,
                               .poll_s = c->poll_interval_s,
                               .refresh_s = c->refresh_s,
                               .window_days = c->events_window_days,
                               .power_publish = c->power_intent_publish,
                               .power_heartbeat = c->power_intent_heartbeat,
                               .power_multiplier = c->power_intent_expiry_multiplier,
                               .power_min_expiry_s = c->power_intent_min_expiry_s,
                               .groups = fleet_groups,
                               .groups_ctx = app->devices};
        rc = hub_schdom_bind(&app->schedules, app->engine, &app->loop, app->metrics, &sc);
    }
    if (rc == 0) {
        char sdir[4096], mdir[4096];
        snprintf(sdir, sizeof(sdir), "%s/scenes", c->data_dir);
        snprintf(mdir, sizeof(mdir), "%s/media", c->data_dir);
        hub_scndom_cfg_t sc = {.dir = c->scenes_dir ? c->scenes_dir : sdir,
                               .media_command = c->scene_media_command,
                               .media_dir = c->scene_media_dir ? c->scene_media_dir : mdir,
                               .feedback_timeout_ms = c->scene_feedback_timeout_ms,
                               .mqtt_enabled = c->mqtt_enabled};
        rc = hub_scndom_bind(&app->scenes, app->engine, &app->loop, app->metrics, &sc);
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot register the domains");
        return rc;
    }

    hub_store_cfg_t sc = {
        .data_dir = c->data_dir,
        .sync_full = c->store_sync_full,
        .journal_retention = (size_t)c->journal_retention,
        .journal_max_bytes = (uint64_t)c->journal_max_mb * 1024 * 1024,
        .dedupe_capacity = (size_t)c->dedupe_capacity,
        .dedupe_ttl_ms = (uint64_t)c->dedupe_ttl_s * 1000,
    };
    rc = hub_store_open(&app->store, &sc, app->metrics, err, errlen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < hub_engine_ndomains(app->engine); i++) {
        void *ctx;
        const hub_domain_def_t *def = hub_engine_domain_at(app->engine, i, &ctx);
        rc = hub_store_attach(app->store, def, ctx, err, errlen);
        if (rc < 0)
            return rc;
    }
    rc = hub_store_load(app->store, &restore, err, errlen);
    if (rc < 0)
        return rc;
    rc = hub_engine_start(app->engine, &restore, hub_store_persist_ops(app->store));
    hub_log(HUB_LOG_INFO, "state_restored", "{s:b,s:I,s:I}", "found", restore.found, "seq",
            (json_int_t)restore.seq, "dedupe_ids", (json_int_t)restore.nids);
    hub_restore_free(&restore);
    if (rc < 0) {
        snprintf(err, errlen, "engine: %s", hub_strerror(rc));
        return rc;
    }
    rc = hub_store_start(app->store, app->inbox);
    if (rc == 0 && hub_dmx_patch_changed(app->dmx)) {
        app->startup_reload = reload(app, "startup") == 0;
    }
    return rc;
}

int hub_app_new(hub_app_t **out, const hub_config_t *cfg, char *err, size_t errlen)
{
    hub_app_t *app = hub_calloc(1, sizeof(*app));
    int rc;

    app->cfg = cfg;
    app->start_us = hub_mono_us();
    uv_loop_init(&app->loop);
    app->metrics = hub_metrics_new();
    hub_inbox_new(&app->inbox, &app->loop, app);

    rc = open_state(app, err, errlen);
    if (rc < 0)
        goto fail;
    rc = open_outputs(app, err, errlen);
    if (rc < 0)
        goto fail;
    hub_showdom_start(app->show, app->engine, &app->loop);
    hub_devdom_start(app->devices);
    hub_schdom_start(app->schedules); /* its first cycle runs once the loop does */

    if (cfg->mqtt_enabled) {
        hub_mqtt_cfg_t mc = {.host = cfg->mqtt_host,
                             .port = cfg->mqtt_port,
                             .username = cfg->mqtt_username,
                             .password = cfg->mqtt_password,
                             .client_id = cfg->mqtt_client_id};
        rc = hub_mqtt_new(&app->mqtt, &app->loop, app->engine, &mc, app->metrics);
        if (rc < 0) {
            snprintf(err, errlen, "MQTT client: %s", hub_strerror(rc));
            goto fail;
        }
    }
    hub_scndom_start(app->scenes); /* after the MQTT client: it reads the link */

    hub_server_deps_t sd = {.loop = &app->loop,
                            .inbox = app->inbox,
                            .cfg = cfg,
                            .engine = app->engine,
                            .metrics = app->metrics,
                            .mqtt = app->mqtt,
                            .ready = store_ready,
                            .ready_ud = app,
                            .read_journal = read_journal,
                            .journal_ud = app,
                            .frames_refresh = frames_refresh,
                            .frames_ud = app->clock};
    rc = hub_server_new(&app->server, &sd, err, errlen);
    if (rc < 0)
        goto fail;
    hub_frameclock_set_frames(app->clock, on_frames, frames_wanted, app->server);
    rc = hub_frameclock_start(app->clock);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start the output thread: %s", strerror(-rc));
        goto fail;
    }

    uv_signal_init(&app->loop, &app->sigint);
    uv_signal_init(&app->loop, &app->sigterm);
    uv_signal_init(&app->loop, &app->sighup);
    app->sigint.data = app->sigterm.data = app->sighup.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    uv_signal_start(&app->sighup, on_signal, SIGHUP);
    uv_timer_init(&app->loop, &app->flush_timer);
    uv_timer_start(&app->flush_timer, on_flush, 100, 100);
    uv_timer_init(&app->loop, &app->stop_timer);
    app->stop_timer.data = app;
    *out = app;
    return 0;

fail:
    hub_app_free(app);
    return rc < 0 ? rc : HUB_EINVAL;
}

int hub_app_run(hub_app_t *app)
{
    const hub_config_t *c = app->cfg;

    if (app->mqtt != NULL)
        hub_mqtt_start(app->mqtt);
    hub_log(HUB_LOG_INFO, "listening", "{s:s,s:i,s:s,s:I}", "host", c->http_host, "port",
            hub_server_port(app->server), "url_ui", "/", "startup_ms",
            (json_int_t)((hub_mono_us() - app->start_us) / 1000));
    hub_log_flush();
    uv_run(&app->loop, UV_RUN_DEFAULT);
    return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void hub_app_free(hub_app_t *app)
{
    if (app == NULL)
        return;
    if (app->clock != NULL)
        hub_frameclock_set_frames(app->clock, NULL, NULL, NULL);
    if (app->engine != NULL)
        hub_engine_unsubscribe_all(app->engine);
    if (app->server != NULL && !hub_server_closed(app->server)) {
        /* The network threads must be done before the engine goes: they
         * post intents to it. Bounded: at most ~2 s. */
        hub_server_close(app->server);
        for (int i = 0; i < 2000 && !hub_server_closed(app->server); i++) {
            uv_run(&app->loop, UV_RUN_NOWAIT);
            usleep(1000);
        }
    }
    /* The last batch completes below (store close, inbox drain): its
     * announcements must not reach a freed clock. */
    if (app->dmx != NULL)
        hub_dmx_set_sink(app->dmx, NULL, NULL);
    if (app->show != NULL) {
        hub_show_sink_t none = {0};
        hub_showdom_set_sink(app->show, &none);
    }
    hub_frameclock_free(app->clock); /* blackout on every output, sACN terminated */
    hub_ola_free(app->ola);          /* its own blackout, and its thread */
    hub_artnet_free(app->artnet);
    hub_sacn_free(app->sacn);
    hub_devdom_stop(app->devices); /* idempotent; answers before the contexts go */
    hub_schdom_stop(app->schedules);
    hub_scndom_stop(app->scenes);
    if (app->engine != NULL)
        hub_engine_close_store(app->engine);
    if (app->store != NULL)
        hub_store_close(app->store); /* posts the last completions */
    app->store = NULL;               /* reads still queued in the inbox answer "shutting down" */
    if (app->inbox != NULL)
        hub_inbox_drain(app->inbox);
    hub_engine_free(app->engine);
    app->engine = NULL;
    hub_server_free(app->server); /* after the engine: it answers into the contexts */
    hub_mqtt_free(app->mqtt);
    if (app->inbox != NULL)
        hub_inbox_close(app->inbox);
    if (app->show != NULL)
        hub_showdom_stop(app->show);
    uv_walk(&app->loop, close_walk, NULL);
    uv_run(&app->loop, UV_RUN_DEFAULT);
    uv_loop_close(&app->loop);
    hub_showdom_free(app->show);
    hub_devdom_free(app->devices);
    hub_schdom_free(app->schedules);
    hub_scndom_free(app->scenes);
    hub_dmx_free(app->dmx);
    hub_metrics_free(app->metrics);
    hub_log(HUB_LOG_INFO, "stopped", NULL);
    hub_log_flush();
    hub_free(app);
}
