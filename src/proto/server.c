/* proto/server.c - the HTTP + WebSocket server: listener, network contexts,
 * and what they share (the latest state, the fan-out of each batch).
 *
 * The loop thread owns the listening socket and hands each accepted
 * connection to the next network context in turn (net.c), each on a thread
 * of its own, so HTTP parsing, answers and WebSocket writes spread over the
 * cores while the engine stays the single writer on the loop thread. See
 * docs/decisions/network-threads.md.
 *
 * Threading: everything here on the loop thread, except hub__snapshot_get.
 */
#include "proto/server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "proto/proto_int.h"

#define ACCEPT_BURST     64
#define LISTEN_BACKLOG   4096
#define ACCEPT_PAUSE_MS  100
#define MAX_NETS_DEFAULT 8
#define EMFILE_LOG_US    10000000u

static void on_lws_log(int level, const char *line)
{
    char msg[512];
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    snprintf(msg, sizeof(msg), "%.*s", (int)n, line);
    hub_log(level == LLL_ERR ? HUB_LOG_ERROR : HUB_LOG_WARN, "lws", "{s:s}", "msg", msg);
}

/* ---- the latest state ---------------------------------------------------- */

/* The seed-000 views as the engine has them now, and the published seq. */
static void snapshot_set(hub_server_t *s)
{
    hub_snapshot_t *sn = &s->snap;
    const hub_engine_t *e = s->d.engine;
    size_t rl = 0, wl = 0;
    const char *rgb = hub_engine_view(e, "rgb", &rl);
    const char *ws = hub_engine_view(e, "ws_state", &wl);

    pthread_mutex_lock(&sn->lock);
    sn->seq = hub_engine_seq(e);
    if (rgb != NULL && rl < HUB_JSON_MAX) {
        memcpy(sn->rgb_json, rgb, rl);
        sn->rgb_json[rl] = '\0';
        sn->rgb_len = rl;
    }
    if (ws != NULL && wl < HUB_JSON_MAX) {
        memcpy(sn->ws_json, ws, wl);
        sn->ws_json[wl] = '\0';
        sn->ws_len = wl;
    }
    pthread_mutex_unlock(&sn->lock);
}

size_t hub__snapshot_get(hub_server_t *s, int rgb, char *buf, uint64_t *seq)
{
    hub_snapshot_t *sn = &s->snap;
    size_t n;

    pthread_mutex_lock(&sn->lock);
    n = rgb ? sn->rgb_len : sn->ws_len;
    memcpy(buf, rgb ? sn->rgb_json : sn->ws_json, n + 1);
    *seq = sn->seq;
    pthread_mutex_unlock(&sn->lock);
    return n;
}

uint64_t hub__snapshot_seq(hub_server_t *s)
{
    uint64_t seq;
    pthread_mutex_lock(&s->snap.lock);
    seq = s->snap.seq;
    pthread_mutex_unlock(&s->snap.lock);
    return seq;
}

/* Every announced intent, before its sender is answered: what reads serve. */
static void on_state(void *ud, const hub_announce_t *ann)
{
    (void)ann;
    snapshot_set(ud);
}

/* After the answer: its frames to the sessions. */
static void on_fanout(void *ud, const hub_announce_t *ann)
{
    hub__fanout_announce(ud, ann);
}

static void on_event(void *ud, const hub_event_t *ev)
{
    hub_server_t *s = ud;
    hub__fanout_event(s, ev);
    hub__fanout_flush(s);
}

static void on_flush(void *ud)
{
    hub__fanout_flush(ud);
}

static double ws_clients_fn(void *ud)
{
    return (double)atomic_load(&((hub_server_t *)ud)->ws_clients);
}

/* ---- the listener ---------------------------------------------------------- */

static int open_listener(hub_server_t *s, const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char sport[16];
    int rc, fd, one = 1, e = 0;

    snprintf(sport, sizeof(sport), "%d", port);
    rc = getaddrinfo(host, sport, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen,
                 "DMX_HTTP_HOST=%s cannot be resolved (%s): use a local address "
                 "such as 0.0.0.0 or 127.0.0.1",
                 host, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        e = errno;
    freeaddrinfo(res);
    if (e != 0) {
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "cannot listen on %s:%d: %s; %s", host, port, strerror(e),
                 e == EADDRINUSE
                     ? "another process uses the port: stop it or set DMX_HTTP_PORT"
                     : "set DMX_HTTP_HOST to a local address or DMX_HTTP_PORT to a free port");
        return -1;
    }
    s->listen_fd = fd;
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

static void on_accept(uv_poll_t *p, int status, int events);

static void on_accept_pause(uv_timer_t *t)
{
    hub_server_t *s = t->data;
    if (!atomic_load(&s->closing))
        uv_poll_start(s->listen_poll, UV_READABLE, on_accept);
}

static void on_accept(uv_poll_t *p, int status, int events)
{
    hub_server_t *s = p->data;
    int one = 1;

    for (int i = 0; i < ACCEPT_BURST; i++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The backlog keeps the rest; try again once descriptors free up. */
                uint64_t now = hub_mono_us();
                if (now - s->emfile_logged_us > EMFILE_LOG_US) {
                    s->emfile_logged_us = now;
                    hub_log(HUB_LOG_WARN, "http_accept_paused", "{s:s,s:s}", "error",
                            strerror(errno), "hint",
                            "out of file descriptors: raise the open-files limit (ulimit -n)");
                }
                uv_poll_stop(s->listen_poll);
                uv_timer_start(s->accept_pause, on_accept_pause, ACCEPT_PAUSE_MS, 0);
            }
            return; /* EAGAIN, or a connection that died in the backlog */
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        hub__net_adopt(s->nets[s->next_net], fd);
        s->next_net = (s->next_net + 1) % s->nnets;
    }
}

/* ---- lifecycle ------------------------------------------------------------- */

static int net_count(const hub_config_t *cfg)
{
    long n = cfg->http_threads;
    if (n <= 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n > MAX_NETS_DEFAULT)
            n = MAX_NETS_DEFAULT;
    }
    return n < 1 ? 1 : (int)n;
}

static void free_handle(uv_handle_t *h)
{
    hub_free(h);
}

int hub_server_new(hub_server_t **out, const hub_server_deps_t *deps, char *err, size_t errlen)
{
    static const double lat[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                 0.01,   0.025,   0.05,   0.1,   0.25,   0.5};
    hub_server_t *s = hub_calloc(1, sizeof(*s));
    hub_metrics_t *m = deps->metrics;
    int rc;

    s->d = *deps;
    s->listen_fd = -1;
    pthread_mutex_init(&s->snap.lock, NULL);
    snapshot_set(s);
    s->room_demo = hub_engine_room_bit(deps->engine, "demo", 4);
    for (int i = 0; i < hub_engine_nrooms(deps->engine); i++)
        if (i != HUB_ROOM_FRAMES)
            s->default_rooms |= 1ull << i;
    s->m_requests = hub_metrics_counter(m, "dmx_http_requests_total", "HTTP requests answered");
    s->m_auth_fail = hub_metrics_counter(
        m, "dmx_auth_failures_total", "Requests and WebSocket handshakes refused for the API key");
    hub_metrics_gauge_fn(m, "dmx_ws_clients", "Connected WebSocket clients", ws_clients_fn, s);
    s->m_ws_slow = hub_metrics_counter(m, "dmx_ws_slow_dropped_total",
                                       "WebSocket clients disconnected for being too slow");
    s->m_ws_errors =
        hub_metrics_counter(m, "dmx_ws_errors_total", "Error frames sent to WebSocket clients");
    s->m_ws_latency =
        hub_metrics_histogram(m, "dmx_ws_broadcast_latency_seconds",
                              "From a state being announced to its frame being written to a client",
                              lat, sizeof(lat) / sizeof(lat[0]));
    s->m_refused = hub_engine_refused_counter(deps->engine);
    lws_set_log_level(LLL_ERR | LLL_WARN, on_lws_log);

    if (open_listener(s, deps->cfg->http_host, deps->cfg->http_port, err, errlen) != 0) {
        rc = HUB_EINVAL;
        goto fail;
    }
    s->nnets = net_count(deps->cfg);
    s->nets = hub_calloc((size_t)s->nnets, sizeof(*s->nets));
    for (int i = 0; i < s->nnets; i++) {
        rc = hub__net_new(&s->nets[i], s, i, err, errlen);
        if (rc < 0)
            goto fail;
    }
    for (int i = 0; i < s->nnets; i++) {
        rc = hub__net_start(s->nets[i]);
        if (rc < 0) {
            snprintf(err, errlen, "cannot start network thread %d: %s", i, strerror(-rc));
            goto fail;
        }
    }
    s->listen_poll = hub_calloc(1, sizeof(*s->listen_poll));
    uv_poll_init(deps->loop, s->listen_poll, s->listen_fd);
    s->listen_poll->data = s;
    s->accept_pause = hub_calloc(1, sizeof(*s->accept_pause));
    uv_timer_init(deps->loop, s->accept_pause);
    s->accept_pause->data = s;
    uv_poll_start(s->listen_poll, UV_READABLE, on_accept);
    hub_subscriber_t sub = {.on_state = on_state,
                            .on_fanout = on_fanout,
                            .on_event = on_event,
                            .on_flush = on_flush,
                            .ud = s};
    hub_engine_subscribe(deps->engine, &sub);
    hub_log(HUB_LOG_INFO, "http_contexts", "{s:i}", "threads", s->nnets);
    *out = s;
    return 0;

fail:
    hub_server_free(s);
    return rc;
}

int hub_server_port(const hub_server_t *s)
{
    return s->port;
}

void hub_server_close(hub_server_t *s)
{
    if (atomic_exchange(&s->closing, 1))
        return;
    if (s->listen_poll != NULL)
        uv_poll_stop(s->listen_poll);
    if (s->accept_pause != NULL)
        uv_timer_stop(s->accept_pause);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    s->listen_fd = -1;
    for (int i = 0; i < s->nnets; i++)
        hub__net_close(s->nets[i]);
}

int hub_server_closed(const hub_server_t *s)
{
    int done = 1;
    for (int i = 0; i < s->nnets; i++)
        if (!hub__net_closed(s->nets[i]))
            done = 0;
    return done;
}

void hub_server_free(hub_server_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->nnets; i++)
        hub__net_free(s->nets[i]);
    s->nets_joined = 1;
    hub_free(s->nets);
    s->nets = NULL;
    s->nnets = 0;
    hub__fanout_free(s);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->listen_poll != NULL)
        uv_close((uv_handle_t *)s->listen_poll, free_handle);
    if (s->accept_pause != NULL)
        uv_close((uv_handle_t *)s->accept_pause, free_handle);
    pthread_mutex_destroy(&s->snap.lock);
    hub_free(s);
}
