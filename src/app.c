/* app.c - wiring and lifecycle of the hub. */
#include "app.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/inbox.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "engine/engine.h"
#include "out/ola.h"
#include "proto/mqtt.h"
#include "proto/server.h"
#include "store/store.h"

#define DRAIN_BUDGET_MS 600
#define MQTT_OFFLINE_MS 400

enum { RUNNING, DRAINING, MQTT_CLOSING, SERVER_CLOSING, DONE };

struct hub_app {
    const hub_config_t *cfg;
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t flush_timer; /* log flush, 100 ms */
    uv_timer_t stop_timer;  /* shutdown steps */
    hub_metrics_t *metrics;
    hub_inbox_t *inbox;
    hub_store_t *store;
    hub_engine_t *engine;
    hub_mqtt_t *mqtt;
    hub_server_t *server;
    hub_ola_t *ola;
    int phase;
    uint64_t phase_deadline_us;
    uint64_t start_us;
};

static void on_flush(uv_timer_t *t)
{
    hub_log_flush();
}

static void on_ola_state(const hub_view_t *view, void *ud)
{
    hub_app_t *app = ud;
    const hub_universe_t *u = NULL;
    for (size_t i = 0; i < view->state->nuniverses; i++)
        if (view->state->universes[i].id == app->cfg->ola_universe)
            u = &view->state->universes[i];
    if (u != NULL)
        hub_ola_set_frame(app->ola, u->slots, HUB_DMX_SLOTS);
}

static int store_ready(void *ud, char *why, size_t n)
{
    hub_app_t *app = ud;
    const char *err = hub_engine_store_error(app->engine);
    if (err == NULL)
        return 1;
    snprintf(why, n, "last commit failed: %s", err);
    return 0;
}

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

    if (app->phase != RUNNING) {
        hub_log(HUB_LOG_WARN, "shutdown_forced", "{s:i}", "signal", signum);
        hub_log_flush();
        _exit(1);
    }
    hub_log(HUB_LOG_INFO, "shutdown", "{s:s}", "signal", signum == SIGINT ? "SIGINT" : "SIGTERM");
    hub_engine_stop_intake(app->engine);
    app->phase = DRAINING;
    app->phase_deadline_us = hub_mono_us() + DRAIN_BUDGET_MS * 1000;
    uv_timer_start(&app->stop_timer, on_stop_timer, 0, 5);
}

static int open_store(hub_app_t *app, hub_restore_t *restore, char *err, size_t errlen)
{
    const hub_config_t *c = app->cfg;
    hub_store_cfg_t sc = {
        .data_dir = c->data_dir,
        .sync_full = c->store_sync_full,
        .journal_retention = (size_t)c->journal_retention,
        .dedupe_capacity = (size_t)c->dedupe_capacity,
        .dedupe_ttl_ms = (uint64_t)c->dedupe_ttl_s * 1000,
        .demo_universe = c->ola_universe,
    };
    int rc = hub_store_open(&app->store, &sc, app->metrics, err, errlen);
    if (rc < 0)
        return rc;
    rc = hub_store_load(app->store, restore, err, errlen);
    if (rc < 0)
        return rc;
    return hub_store_start(app->store, app->inbox);
}

int hub_app_new(hub_app_t **out, const hub_config_t *cfg, char *err, size_t errlen)
{
    hub_app_t *app = hub_calloc(1, sizeof(*app));
    hub_restore_t restore;
    int rc;

    memset(&restore, 0, sizeof(restore));
    app->cfg = cfg;
    app->start_us = hub_mono_us();
    uv_loop_init(&app->loop);
    app->metrics = hub_metrics_new();
    hub_inbox_new(&app->inbox, &app->loop, app);

    rc = open_store(app, &restore, err, errlen);
    if (rc < 0)
        goto fail;

    hub_engine_cfg_t ec = {
        .queue_size = (size_t)cfg->queue_size,
        .dedupe_capacity = (size_t)cfg->dedupe_capacity,
        .dedupe_ttl_ms = (uint64_t)cfg->dedupe_ttl_s * 1000,
        .demo_universe = cfg->ola_universe,
    };
    rc = hub_engine_new(&app->engine, &app->loop, &ec, app->metrics,
                        hub_store_persist_ops(app->store), &restore);
    hub_log(HUB_LOG_INFO, "state_restored", "{s:b,s:I,s:I}", "found", restore.found, "seq",
            (json_int_t)restore.state.seq, "dedupe_ids", (json_int_t)restore.nids);
    hub_restore_free(&restore);
    if (rc < 0) {
        snprintf(err, errlen, "engine: %s", hub_strerror(rc));
        goto fail;
    }

    if (cfg->ola_enabled) {
        hub_ola_cfg_t oc = {.url = cfg->ola_url,
                            .universe = cfg->ola_universe,
                            .fps = cfg->ola_fps,
                            .timeout_ms = 200};
        rc = hub_ola_new(&app->ola, &oc, app->metrics, err, errlen);
        if (rc < 0)
            goto fail;
        hub_engine_subscribe(app->engine, on_ola_state, app);
        on_ola_state(hub_engine_view(app->engine), app); /* restored state to the lights */
    } else {
        /* Same series either way, so dashboards need no special case. */
        hub_metrics_counter(app->metrics, "dmx_ola_frames_total",
                            "DMX frames sent to OLA (output disabled: DMX_OLA_ENABLED=false)");
        hub_metrics_counter(app->metrics, "dmx_ola_errors_total",
                            "Failed OLA sends (output disabled: DMX_OLA_ENABLED=false)");
    }

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

    hub_server_deps_t sd = {.loop = &app->loop,
                            .inbox = app->inbox,
                            .cfg = cfg,
                            .engine = app->engine,
                            .metrics = app->metrics,
                            .mqtt = app->mqtt,
                            .ready = store_ready,
                            .ready_ud = app};
    rc = hub_server_new(&app->server, &sd, err, errlen);
    if (rc < 0)
        goto fail;

    uv_signal_init(&app->loop, &app->sigint);
    uv_signal_init(&app->loop, &app->sigterm);
    app->sigint.data = app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
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
    if (app->engine != NULL)
        hub_engine_unsubscribe_all(app->engine);
    if (app->server != NULL && !hub_server_closed(app->server)) {
        /* The network threads must be done before the engine goes: they
         * post commands to it. Bounded: at most ~2 s. */
        hub_server_close(app->server);
        for (int i = 0; i < 2000 && !hub_server_closed(app->server); i++) {
            uv_run(&app->loop, UV_RUN_NOWAIT);
            usleep(1000);
        }
    }
    hub_ola_free(app->ola); /* sends the blackout */
    if (app->engine != NULL)
        hub_engine_close_store(app->engine);
    if (app->store != NULL)
        hub_store_close(app->store); /* posts the last completions */
    if (app->inbox != NULL)
        hub_inbox_drain(app->inbox);
    hub_engine_free(app->engine);
    hub_server_free(app->server); /* after the engine: it answers into the contexts */
    hub_mqtt_free(app->mqtt);
    if (app->inbox != NULL)
        hub_inbox_close(app->inbox);
    uv_walk(&app->loop, close_walk, NULL);
    uv_run(&app->loop, UV_RUN_DEFAULT);
    uv_loop_close(&app->loop);
    hub_metrics_free(app->metrics);
    hub_log(HUB_LOG_INFO, "stopped", NULL);
    hub_log_flush();
    hub_free(app);
}
