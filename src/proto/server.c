/* proto/server.c - the lws context on the libuv loop and the protocol
 * callback that routes each event to the HTTP or the WebSocket side. */
#include "proto/server.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/resource.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "proto/proto_int.h"

static int on_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    hub_server_t *s = ctx ? lws_context_user(ctx) : NULL;

    if (s == NULL)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return hub__ws_callback(s, wsi, reason, user, in, len);
    default: return hub__http_callback(s, wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    /* First protocol: gets plain HTTP and any WS upgrade without a subprotocol.
     * rx buffer 512: lws allocates it per connection; commands are < 200 bytes
     * and ws.c joins longer messages from fragments (10,000 clients: -35 MB).
     * tx_packet_size: without it lws sends at most rx buffer + 20 bytes per
     * write and queues the rest for POLLOUT (7 KB of /metrics took 14 writes). */
    {"showhub", on_event, sizeof(hub_pss_t), 512, 0, NULL, 128 * 1024},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Server-side keepalive: ping an idle WebSocket after 30 s, drop it at 60 s. */
static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 30,
    .secs_since_valid_hangup = 60,
};

static void on_lws_log(int level, const char *line)
{
    char msg[512];
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    snprintf(msg, sizeof(msg), "%.*s", (int)n, line);
    hub_log(level == LLL_ERR ? HUB_LOG_ERROR : HUB_LOG_WARN, "lws", "{s:s}", "msg", msg);
}

static int can_bind(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
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
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    if (e == 0)
        return 0;
    snprintf(err, errlen, "cannot listen on %s:%d: %s; %s", host, port, strerror(e),
             e == EADDRINUSE
                 ? "another process uses the port: stop it or set DMX_HTTP_PORT"
                 : "set DMX_HTTP_HOST to a local address or DMX_HTTP_PORT to a free port");
    return -1;
}

int hub_server_new(hub_server_t **out, const hub_server_deps_t *deps, char *err, size_t errlen)
{
    struct lws_context_creation_info info;
    void *loops[1];
    struct rlimit rl;
    hub_server_t *s = hub_calloc(1, sizeof(*s));

    s->d = *deps;
    s->m_requests =
        hub_metrics_counter(deps->metrics, "dmx_http_requests_total", "HTTP requests answered");
    s->m_auth_fail =
        hub_metrics_counter(deps->metrics, "dmx_auth_failures_total",
                            "Requests and WebSocket handshakes refused for the API key");
    s->ws = hub__ws_hub_new(s);

    lws_set_log_level(LLL_ERR | LLL_WARN, on_lws_log);
    memset(&info, 0, sizeof(info));
    info.port = deps->cfg->http_port;
    info.iface = deps->cfg->http_host;
    info.protocols = protocols;
    info.user = s;
    info.pcontext = &s->ctx;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (strchr(deps->cfg->http_host, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    loops[0] = deps->loop;
    info.foreign_loops = loops;
    info.retry_and_idle_policy = &idle_policy;
    info.keepalive_timeout = 5;
    info.timeout_secs = 10;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        info.fd_limit_per_thread = (unsigned int)rl.rlim_cur;
    info.max_http_header_pool = 1024;

    /* lws answers a failed bind with a context that has no vhost, and that
     * context cannot be destroyed cleanly on a foreign loop; so try the bind
     * first and say what to do. */
    if (can_bind(deps->cfg->http_host, deps->cfg->http_port, err, errlen) != 0) {
        hub__ws_hub_free(s->ws);
        hub_free(s);
        return HUB_EINVAL;
    }
    s->ctx = lws_create_context(&info);
    if (s->ctx != NULL && (s->vhost = lws_get_vhost_by_name(s->ctx, "default")) == NULL) {
        /* Lost a race for the port after can_bind(): nothing sane to unwind. */
        hub_log(HUB_LOG_ERROR, "startup_failed", "{s:s}", "error", "HTTP listener vanished");
        hub_log_flush();
        _exit(1);
    }
    if (s->ctx == NULL) {
        snprintf(err, errlen,
                 "cannot listen on %s:%d (is the port in use or the address not local?); "
                 "set DMX_HTTP_HOST / DMX_HTTP_PORT",
                 deps->cfg->http_host, deps->cfg->http_port);
        hub__ws_hub_free(s->ws);
        hub_free(s);
        return HUB_EINVAL;
    }
    *out = s;
    return 0;
}

int hub_server_port(const hub_server_t *s)
{
    return s->vhost ? lws_get_vhost_listen_port(s->vhost) : s->d.cfg->http_port;
}

void hub_server_close(hub_server_t *s)
{
    if (s->closing || s->ctx == NULL)
        return;
    s->closing = 1;
    hub__ws_close_all(s->ws);
    lws_context_destroy(s->ctx); /* finishes on the loop; sets s->ctx = NULL */
}

int hub_server_closed(const hub_server_t *s)
{
    return s->ctx == NULL;
}

void hub_server_free(hub_server_t *s)
{
    if (s == NULL)
        return;
    if (s->ctx != NULL)
        lws_context_destroy(s->ctx);
    hub__ws_hub_free(s->ws);
    hub_free(s);
}
