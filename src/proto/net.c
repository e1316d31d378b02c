/* proto/net.c - one network context: an lws context on a libuv loop of its
 * own, run by a thread of its own.
 *
 * A context does not listen: the server's acceptor (server.c) hands it
 * sockets, which lws adopts. It reaches the engine only through
 * proto/relay.c and hears back through its inbox.
 *
 * Closing takes three steps, so that nothing is ever posted to an inbox
 * nobody reads: the loop thread posts "close" (lws closes every connection
 * and the context); once lws is done the context says so (lws_done), the
 * loop thread marks it gone (it posts nothing more from then on) and posts
 * "exit", the last message, which closes the inbox and so ends the loop and
 * the thread.
 *
 * Threading: hub__net_new/start/adopt/close/closed/free on the loop thread;
 * everything else on the context's own thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "proto/proto_int.h"

#define CLOSE_POLL_MS 5

typedef struct net_msg {
    hub_msg_t msg;
    int fd; /* adopt */
} net_msg_t;

static int on_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    hub_net_t *net = ctx ? lws_context_user(ctx) : NULL;

    if (net == NULL)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return hub__ws_callback(net, wsi, reason, user, in, len);
    default: return hub__http_callback(net, wsi, reason, user, in, len);
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

static void on_adopt(hub_msg_t *msg, void *ud)
{
    hub_net_t *net = ud;
    net_msg_t *m = (net_msg_t *)msg;

    if (net->closing)
        close(m->fd);
    else if (lws_adopt_socket_vhost(net->vhost, m->fd) == NULL) /* lws closed fd */
        hub_log(HUB_LOG_WARN, "http_adopt_failed", "{s:i}", "context", net->index);
    hub_free(m);
}

void hub__net_adopt(hub_net_t *net, int fd)
{
    net_msg_t *m;

    if (net->gone) {
        close(fd);
        return;
    }
    m = hub_calloc(1, sizeof(*m));
    m->msg.fn = on_adopt;
    m->fd = fd;
    hub_inbox_post(net->inbox, &m->msg);
}

typedef struct walk {
    hub_net_t *net;
    uv_handle_t *timer;
    int lws_handles;
} walk_t;

static void count_lws(uv_handle_t *h, void *arg)
{
    walk_t *w = arg;
    if (h != w->timer && !hub_inbox_is_handle(w->net->inbox, h))
        w->lws_handles++;
}

static void free_handle(uv_handle_t *h)
{
    hub_free(h);
}

/* On a foreign loop lws closes its handles after lws_context_destroy() and
 * then waits to be called once more to free the context (which sets
 * net->ctx = NULL through pcontext). The loop is ours alone, so lws is done
 * closing when no handle but the inbox and this timer is left on it. */
static void on_close_poll(uv_timer_t *t)
{
    hub_net_t *net = t->data;
    walk_t w = {net, (uv_handle_t *)t, 0};

    uv_walk(&net->loop, count_lws, &w);
    if (w.lws_handles > 0)
        return;
    if (net->ctx != NULL)
        lws_context_destroy(net->ctx);
    if (net->ctx != NULL)
        return; /* not finished after all: try again next tick */
    uv_close((uv_handle_t *)t, free_handle);
    atomic_store(&net->lws_done, 1);
}

static void on_close_msg(hub_msg_t *msg, void *ud)
{
    hub_net_t *net = ud;
    uv_timer_t *t = hub_calloc(1, sizeof(*t));

    hub_free(msg);
    net->closing = 1;
    hub__ws_close_all(net->ws);
    uv_timer_init(&net->loop, t);
    t->data = net;
    uv_timer_start(t, on_close_poll, CLOSE_POLL_MS, CLOSE_POLL_MS);
    lws_context_destroy(net->ctx); /* finishes on the loop; sets net->ctx = NULL */
}

static void on_exit_msg(hub_msg_t *msg, void *ud)
{
    hub_net_t *net = ud;

    hub_free(msg);
    hub_inbox_close(net->inbox); /* the last message: the loop may now end */
    net->inbox = NULL;
}

static void post(hub_net_t *net, hub_msg_fn fn)
{
    hub_msg_t *m = hub_calloc(1, sizeof(*m));
    m->fn = fn;
    hub_inbox_post(net->inbox, m);
}

void hub__net_close(hub_net_t *net)
{
    if (!net->gone)
        post(net, on_close_msg);
}

int hub__net_closed(hub_net_t *net)
{
    if (net->gone)
        return 1;
    if (!atomic_load(&net->lws_done))
        return 0;
    net->gone = 1;
    post(net, on_exit_msg);
    return 1;
}

static void *net_main(void *arg)
{
    hub_net_t *net = arg;

    uv_run(&net->loop, UV_RUN_DEFAULT);
    atomic_store(&net->exited, 1);
    return NULL;
}

int hub__net_new(hub_net_t **out, hub_server_t *s, int index, char *err, size_t errlen)
{
    struct lws_context_creation_info info;
    hub_net_t *net = hub_calloc(1, sizeof(*net));
    void *loops[1];
    struct rlimit rl;
    int rc;

    net->s = s;
    net->index = index;
    rc = uv_loop_init(&net->loop);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create network loop %d: %s", index, uv_strerror(rc));
        hub_free(net);
        return rc;
    }
    hub_inbox_new(&net->inbox, &net->loop, net);
    net->ws = hub__ws_hub_new(net);

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* sockets come from the acceptor */
    info.protocols = protocols;
    info.user = net;
    info.pcontext = &net->ctx;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    loops[0] = &net->loop;
    info.foreign_loops = loops;
    info.retry_and_idle_policy = &idle_policy;
    info.keepalive_timeout = 5;
    info.timeout_secs = 10;
    /* lws indexes its tables by fd number, which is process-wide. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        info.fd_limit_per_thread = (unsigned int)rl.rlim_cur;
    info.max_http_header_pool = 1024;
    net->ctx = lws_create_context(&info);
    if (net->ctx == NULL || (net->vhost = lws_get_vhost_by_name(net->ctx, "default")) == NULL) {
        snprintf(err, errlen,
                 "cannot create the HTTP/WebSocket context %d (see the lws lines "
                 "above); check DMX_HTTP_THREADS and the open-files limit",
                 index);
        hub__net_free(net);
        return HUB_EINVAL;
    }
    *out = net;
    return 0;
}

int hub__net_start(hub_net_t *net)
{
    int rc = pthread_create(&net->thread, NULL, net_main, net);
    if (rc != 0)
        return -rc;
    net->started = 1;
    return 0;
}

/* A context whose thread never ran: run its loop here to finish lws. */
static void drain_unstarted(hub_net_t *net)
{
    if (net->ctx != NULL) {
        on_close_msg(hub_calloc(1, sizeof(hub_msg_t)), net);
        while (!atomic_load(&net->lws_done) && uv_run(&net->loop, UV_RUN_ONCE) != 0)
            ;
    }
    if (net->inbox != NULL)
        hub_inbox_close(net->inbox);
    net->inbox = NULL;
    uv_run(&net->loop, UV_RUN_DEFAULT);
    uv_loop_close(&net->loop);
}

void hub__net_free(hub_net_t *net)
{
    if (net == NULL)
        return;
    if (net->started) {
        /* Normally closed already (hub_server_close); if not, do it now. */
        if (!net->gone) {
            hub__net_close(net);
            for (int i = 0; i < 2000 && !hub__net_closed(net); i++)
                usleep(1000);
            if (!net->gone) {
                hub_log(HUB_LOG_ERROR, "http_context_stuck", "{s:i}", "context", net->index);
                net->gone = 1;
                post(net, on_exit_msg);
            }
        }
        pthread_join(net->thread, NULL);
        uv_loop_close(&net->loop);
    } else {
        drain_unstarted(net);
    }
    hub__ws_hub_free(net->ws);
    hub_free(net);
}
