/* bench/lg_ws.c - lws WebSocket clients on a foreign libuv loop. */
#include "lg_ws.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lg_cmd.h"

enum { WS_CONNECTING, WS_OPEN, WS_CLOSED };

typedef struct frame {
    struct frame *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE bytes of headroom, then the text */
} frame_t;

struct lg_wsc {
    lg_ws_t *owner;
    struct lws *wsi;
    uint32_t id;
    int state;
    int close_code;
    char *rx; /* a fragmented message being joined */
    size_t rxlen, rxcap;
    frame_t *qhead, *qtail;
    size_t queued;
    char src_ip[16];
};

struct lg_ws {
    uv_loop_t *loop;
    struct lws_context *ctx;
    const lg_ws_ops_t *ops;
    void *ud;
    lg_wsc_t **all;
    size_t nall, capall;
    int closing; /* lg_ws_free running: no more callbacks */
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        abort();
    }
    return p;
}

static void finish(lg_wsc_t *c, int was_open)
{
    if (c->state == WS_CLOSED)
        return;
    c->state = WS_CLOSED;
    c->wsi = NULL;
    if (!c->owner->closing && c->owner->ops->on_close)
        c->owner->ops->on_close(c, was_open, c->close_code, c->owner->ud);
}

static int flush(lg_wsc_t *c, struct lws *wsi)
{
    while (c->qhead && !lws_send_pipe_choked(wsi)) {
        frame_t *f = c->qhead;
        if (lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT) < (int)f->len)
            return -1;
        c->qhead = f->next;
        if (!c->qhead)
            c->qtail = NULL;
        c->queued--;
        free(f);
    }
    if (c->qhead)
        lws_callback_on_writable(wsi);
    return 0;
}

static void deliver(lg_wsc_t *c, const char *in, size_t len, int final)
{
    uint64_t t = lg_now_ns();
    if (c->owner->closing)
        return;
    if (final && c->rxlen == 0) {
        c->owner->ops->on_text(c, in, len, t, c->owner->ud);
        return;
    }
    if (c->rxcap < c->rxlen + len + 1) {
        c->rxcap = (c->rxlen + len + 1) * 2;
        c->rx = realloc(c->rx, c->rxcap);
        if (!c->rx)
            abort();
    }
    memcpy(c->rx + c->rxlen, in, len);
    c->rxlen += len;
    if (final) {
        c->owner->ops->on_text(c, c->rx, c->rxlen, t, c->owner->ud);
        c->rxlen = 0;
    }
}

static int on_lws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    lg_wsc_t *c = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!c)
            return -1;
        c->wsi = wsi;
        c->state = WS_OPEN;
        if (!c->owner->closing && c->owner->ops->on_open)
            c->owner->ops->on_open(c, c->owner->ud);
        if (c->qhead)
            lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (c && !lws_frame_is_binary(wsi))
            deliver(c, in, len, lws_is_final_fragment(wsi));
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c && flush(c, wsi) < 0)
            return -1;
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && len >= 2)
            c->close_code = ((unsigned char *)in)[0] << 8 | ((unsigned char *)in)[1];
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c)
            finish(c, 0);
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c)
            finish(c, 1);
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        if (c) {
            finish(c, c->state == WS_OPEN);
            lws_set_opaque_user_data(wsi, NULL);
        }
        break;
    default: break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {{"lg-ws", on_lws, 0, 1024, 0, NULL, 0},
                                                 {NULL, NULL, 0, 0, 0, NULL, 0}};

lg_ws_t *lg_ws_new(uv_loop_t *loop, const lg_ws_ops_t *ops, void *ud)
{
    struct lws_context_creation_info info;
    struct rlimit rl;
    void *loops[1] = {loop};
    lg_ws_t *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    w->loop = loop;
    w->ops = ops;
    w->ud = ud;
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = loops;
    info.timeout_secs = 30;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        info.fd_limit_per_thread = (unsigned)rl.rlim_cur;
    w->ctx = lws_create_context(&info);
    if (!w->ctx) {
        fprintf(stderr, "loadgen: lws_create_context failed\n");
        exit(2);
    }
    return w;
}

lg_wsc_t *lg_ws_connect(lg_ws_t *w, const char *host, int port, const char *path,
                        const char *src_ip, uint32_t id)
{
    struct lws_client_connect_info i;
    lg_wsc_t *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->owner = w;
    c->id = id;
    c->state = WS_CONNECTING;
    if (w->nall == w->capall) {
        w->capall = w->capall ? w->capall * 2 : 64;
        w->all = realloc(w->all, w->capall * sizeof(*w->all));
        if (!w->all)
            abort();
    }
    w->all[w->nall++] = c;
    memset(&i, 0, sizeof(i));
    i.context = w->ctx;
    i.address = host;
    i.port = port;
    i.path = path;
    i.host = host;
    i.origin = NULL;
    i.protocol = NULL;
    i.local_protocol_name = "lg-ws";
    i.opaque_user_data = c;
    if (src_ip) {
        snprintf(c->src_ip, sizeof(c->src_ip), "%s", src_ip);
        i.iface = c->src_ip;
    }
    if (!lws_client_connect_via_info(&i))
        finish(c, 0);
    return c;
}

uint32_t lg_wsc_id(const lg_wsc_t *c)
{
    return c->id;
}

int lg_wsc_open(const lg_wsc_t *c)
{
    return c->state == WS_OPEN;
}

int lg_wsc_send(lg_wsc_t *c, const char *txt, size_t len)
{
    if (c->state != WS_OPEN || !c->wsi)
        return -1;
    frame_t *f = xmalloc(sizeof(*f) + LWS_PRE + len);
    f->next = NULL;
    f->len = len;
    memcpy(f->buf + LWS_PRE, txt, len);
    if (c->qtail)
        c->qtail->next = f;
    else
        c->qhead = f;
    c->qtail = f;
    c->queued++;
    lws_callback_on_writable(c->wsi);
    return 0;
}

size_t lg_wsc_queued(const lg_wsc_t *c)
{
    return c->queued;
}

void lg_ws_free(lg_ws_t *w)
{
    /* The caller has closed its own handles, so the loop ends once lws has
     * closed every connection and its own handles. */
    w->closing = 1;
    lws_context_destroy(w->ctx);
    uv_run(w->loop, UV_RUN_DEFAULT);
    for (size_t k = 0; k < w->nall; k++) {
        lg_wsc_t *c = w->all[k];
        while (c->qhead) {
            frame_t *f = c->qhead;
            c->qhead = f->next;
            free(f);
        }
        free(c->rx);
        free(c);
    }
    free(w->all);
    free(w);
}
