/* proto/server.h - the HTTP + WebSocket server (libwebsockets on libuv).
 *
 * The loop thread listens and hands connections round-robin to
 * DMX_HTTP_THREADS network contexts, each an lws context on a libuv loop of
 * its own, on a thread of its own. One
 * protocol handles both roles: REST routes and static files (proto/http.c,
 * http_static.c) and the /ws WebSocket (proto/ws.c). Contexts reach the
 * engine only by messages through the loop thread's inbox (proto/relay.c).
 * Threading: these functions on the loop thread only.
 */
#ifndef HUB_PROTO_SERVER_H
#define HUB_PROTO_SERVER_H

#include <stddef.h>

#include <uv.h>

#include "core/config.h"
#include "core/inbox.h"
#include "core/metrics.h"
#include "engine/engine.h"
#include "proto/mqtt.h"

typedef struct hub_server hub_server_t;

typedef struct hub_server_deps {
    uv_loop_t *loop;
    hub_inbox_t *inbox; /* the loop thread's: commands and page requests come here */
    const hub_config_t *cfg;
    hub_engine_t *engine;
    hub_metrics_t *metrics;
    hub_mqtt_t *mqtt; /* NULL when MQTT is disabled */
    /* Extra readiness check (e.g. the store); writes why not into why. */
    int (*ready)(void *ud, char *why, size_t n);
    void *ready_ud;
    /* Journal reads (GET /api/v1/journal, WS hello{since}); NULL: none. */
    hub_journal_read_fn read_journal;
    void *journal_ud;
    /* A session joined room "frames" (loop thread): send it every universe's
     * current output. NULL: nothing to do. */
    void (*frames_refresh)(void *ud);
    void *frames_ud;
} hub_server_deps_t;

/* Listen on cfg->http_host:http_port. On failure writes what to do to err. */
int hub_server_new(hub_server_t **out, const hub_server_deps_t *deps, char *err, size_t errlen);
/* Stop serving: close every connection and the listener. The loop must run
 * afterwards for lws to finish; hub_server_closed() tells when it has. */
void hub_server_close(hub_server_t *s);
int hub_server_closed(const hub_server_t *s);
/* Join the network threads and free. Call after the engine is freed: its
 * last answers go to the contexts, which must still exist to drop them. */
void hub_server_free(hub_server_t *s);
int hub_server_port(const hub_server_t *s);

/* Any thread (the output clock): the output of n universes changed; each
 * goes to the sessions in room "frames" as {"type":"frame","universe":u,
 * "data":"<base64 of 512 bytes>","ts":ts_ms}. Cheap when nobody listens. */
void hub_server_dmx_frames(hub_server_t *s, const int *universes, const uint8_t (*slots)[512],
                           size_t n, uint64_t ts_ms);
/* Any thread: 1 if some session is in room "frames". */
int hub_server_frames_wanted(const hub_server_t *s);

#endif
