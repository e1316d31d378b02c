/* proto/ws.c - the /ws WebSocket: sessions, commands in, state fan-out.
 *
 * Fan-out frames each state once (a server frame is unmasked, so the bytes
 * are the same for every client) and gathers the states of one group commit
 * into one buffer, which goes to every session in one write; a session that
 * cannot take it at once queues the same refcounted buffer on its ring and
 * writes from there when lws says its socket is writable. A session whose
 * oldest unsent frame is older than DMX_WS_SLOW_MS, or whose ring holds
 * DMX_WS_BACKLOG frames, is disconnected (1008 "too slow") so it never holds
 * up anyone else. Every write is pre-framed (LWS_WRITE_RAW), so lws's own
 * control frames (pong, close) can only go between whole frames.
 *
 * Threading: loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "proto/proto_int.h"

#define SNDBUF_BYTES    (128 * 1024)
#define WRITES_PER_TURN 32

#define WS_HDR_MAX 10 /* RFC 6455 5.2: 2, 4 or 10 bytes without a mask */

/* One or more complete WebSocket frames, shared by every session that has
 * not written them yet. */
typedef struct frame {
    int refs;
    int broadcast;       /* counts toward broadcast latency */
    unsigned nframes;    /* WebSocket frames in buf */
    size_t len, cap;     /* bytes after LWS_PRE, and room for them */
    uint64_t t_us;       /* when its first state was announced */
    unsigned char buf[]; /* LWS_PRE headroom, then len bytes */
} frame_t;

typedef struct hub_ws_sess {
    struct hub_ws_sess *next, *prev;
    struct lws *wsi;
    hub_ws_hub_t *hub;
    frame_t **ring;
    size_t cap, head, count;
    size_t frames; /* WebSocket frames in the ring (entries hold one or more) */
    char *rx;
    size_t rx_len, rx_cap;
    int rx_binary;
    hub_cmd_t **pending; /* commands waiting for the engine */
    size_t npending, cappending;
    int kill;
} sess_t;

struct hub_ws_hub {
    hub_server_t *s;
    sess_t *head;
    size_t nclients;
    int closing;
    frame_t *pend; /* states of the batch being announced, not yet sent */
    hub_metric_t *m_slow, *m_latency, *m_errors;
};

/* Append one text frame holding data to *fp (created or grown as needed;
 * only while nobody holds a reference to it). */
static void frame_append(frame_t **fp, const char *data, size_t len, int broadcast)
{
    frame_t *f = *fp;
    size_t need = (f ? f->len : 0) + WS_HDR_MAX + len;
    unsigned char *h;
    size_t n;

    if (f == NULL || need > f->cap) {
        size_t cap = f ? f->cap * 2 : 256;
        while (cap < need)
            cap *= 2;
        f = hub_realloc(f, sizeof(*f) + LWS_PRE + cap);
        if (*fp == NULL) {
            f->refs = 0;
            f->broadcast = broadcast;
            f->nframes = 0;
            f->len = 0;
            f->t_us = hub_mono_us();
        }
        f->cap = cap;
        *fp = f;
    }
    h = f->buf + LWS_PRE + f->len;
    h[0] = 0x81; /* FIN, text */
    if (len < 126) {
        h[1] = (unsigned char)len;
        n = 2;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        n = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        n = 10;
    }
    memcpy(h + n, data, len);
    f->len += n + len;
    f->nframes++;
}

static frame_t *frame_new(const char *data, size_t len, int broadcast)
{
    frame_t *f = NULL;
    frame_append(&f, data, len, broadcast);
    return f;
}

static void frame_unref(frame_t *f)
{
    if (--f->refs <= 0)
        hub_free(f);
}

static void ring_clear(sess_t *ss)
{
    while (ss->count > 0) {
        frame_unref(ss->ring[ss->head]);
        ss->head = (ss->head + 1) % ss->cap;
        ss->count--;
    }
    ss->frames = 0;
}

static void kill_sess(sess_t *ss, const char *why)
{
    if (ss->kill)
        return;
    ss->kill = 1;
    hub_metric_inc(ss->hub->m_slow);
    hub_log(HUB_LOG_WARN, "ws_slow_client", "{s:s,s:I}", "reason", why, "backlog",
            (json_int_t)ss->frames);
    ring_clear(ss);
    lws_callback_on_writable(ss->wsi);
    /* A socket that never drains never becomes writable: close it anyway. */
    lws_set_timeout(ss->wsi, PENDING_TIMEOUT_USER_OK, 1);
}

/* Queue f on ss. Grows the ring up to the backlog limit (small clients stay
 * small: 10,000 sessions must fit in a few MB). */
static void enqueue(sess_t *ss, frame_t *f, uint64_t now_us)
{
    const hub_config_t *cfg = ss->hub->s->d.cfg;

    if (ss->kill)
        return;
    if (ss->count > 0 && now_us - ss->ring[ss->head]->t_us > (uint64_t)cfg->ws_slow_ms * 1000) {
        kill_sess(ss, "behind by more than DMX_WS_SLOW_MS");
        return;
    }
    if (ss->frames >= (size_t)cfg->ws_backlog) {
        kill_sess(ss, "backlog over DMX_WS_BACKLOG frames");
        return;
    }
    if (ss->count == ss->cap) {
        size_t ncap = ss->cap ? ss->cap * 2 : 4;
        frame_t **nr = hub_malloc(ncap * sizeof(*nr));
        for (size_t i = 0; i < ss->count; i++)
            nr[i] = ss->ring[(ss->head + i) % ss->cap];
        hub_free(ss->ring);
        ss->ring = nr;
        ss->cap = ncap;
        ss->head = 0;
    }
    ss->ring[(ss->head + ss->count) % ss->cap] = f;
    ss->count++;
    ss->frames += f->nframes;
    f->refs++;
    if (ss->count == 1)
        lws_callback_on_writable(ss->wsi);
}

static void flush_pending(hub_ws_hub_t *h);

static void send_private(sess_t *ss, const char *text, size_t len)
{
    frame_t *f;

    flush_pending(ss->hub); /* states announced before it go out before it */
    f = frame_new(text, len, 0);
    enqueue(ss, f, f->t_us);
    if (f->refs == 0)
        hub_free(f);
}

static void send_error(sess_t *ss, const char *cmd_id, const char *msg, const char *field)
{
    json_t *o = json_pack("{s:s,s:o,s:s,s:s}", "type", "error", "cmdId",
                          cmd_id && cmd_id[0] ? json_string(cmd_id) : json_null(), "error", msg,
                          "field", field ? field : "");
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    hub_metric_inc(ss->hub->m_errors);
    send_private(ss, text, strlen(text));
    free(text);
    json_decref(o);
}

/* Write f to ss at once when nothing is waiting ahead of it: one write()
 * instead of asking lws for a writable callback, which costs two epoll_ctl
 * and a loop turn per client per state. Only from outside lws callbacks
 * (states are announced from the engine's idle and store completions). A
 * partial write is buffered by lws; frames after it queue in the ring, where
 * their age counts towards DMX_WS_SLOW_MS. Returns 1 if written. */
static int write_direct(sess_t *ss, frame_t *f, uint64_t now_us)
{
    if (ss->kill || ss->count > 0 || lws_partial_buffered(ss->wsi))
        return 0;
    if (lws_write(ss->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_RAW) < (int)f->len) {
        lws_set_timeout(ss->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        ss->kill = 1;
        return 1;
    }
    hub_metric_observe(ss->hub->m_latency, (double)(hub_mono_us() - now_us) / 1e6);
    return 1;
}

/* Send the gathered states: one write per session per group commit. */
static void flush_pending(hub_ws_hub_t *h)
{
    frame_t *f = h->pend;

    if (f == NULL)
        return;
    h->pend = NULL;
    for (sess_t *ss = h->head; ss != NULL; ss = ss->next)
        if (!write_direct(ss, f, f->t_us))
            enqueue(ss, f, f->t_us);
    if (f->refs == 0)
        hub_free(f);
}

static void on_state(const hub_view_t *view, void *ud)
{
    hub_ws_hub_t *h = ud;

    if (h->nclients == 0 || h->closing)
        return;
    frame_append(&h->pend, view->ws_json, view->ws_len, 1);
    if (!view->more)
        flush_pending(h);
}

static double clients_fn(void *ud)
{
    return (double)((hub_ws_hub_t *)ud)->nclients;
}

hub_ws_hub_t *hub__ws_hub_new(hub_server_t *s)
{
    static const double lat[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                 0.01,   0.025,   0.05,   0.1,   0.25,   0.5};
    hub_ws_hub_t *h = hub_calloc(1, sizeof(*h));
    h->s = s;
    hub_metrics_gauge_fn(s->d.metrics, "dmx_ws_clients", "Connected WebSocket clients", clients_fn,
                         h);
    h->m_slow = hub_metrics_counter(s->d.metrics, "dmx_ws_slow_dropped_total",
                                    "WebSocket clients disconnected for being too slow");
    h->m_errors = hub_metrics_counter(s->d.metrics, "dmx_ws_errors_total",
                                      "Error frames sent to WebSocket clients");
    h->m_latency =
        hub_metrics_histogram(s->d.metrics, "dmx_ws_broadcast_latency_seconds",
                              "From a state being announced to its frame being written to a client",
                              lat, sizeof(lat) / sizeof(lat[0]));
    hub_engine_subscribe(s->d.engine, on_state, h);
    return h;
}

void hub__ws_hub_free(hub_ws_hub_t *h)
{
    hub_free(h->pend);
    hub_free(h);
}

void hub__ws_close_all(hub_ws_hub_t *h)
{
    h->closing = 1;
}

/* --- commands from a client ------------------------------------------------ */

static void pending_remove(sess_t *ss, hub_cmd_t *cmd)
{
    for (size_t i = 0; i < ss->npending; i++)
        if (ss->pending[i] == cmd) {
            ss->pending[i] = ss->pending[--ss->npending];
            return;
        }
}

static void on_cmd_done(hub_cmd_t *cmd, int outcome, const hub_view_t *view, void *ud)
{
    sess_t *ss = ud;
    char buf[256];

    pending_remove(ss, cmd);
    if (outcome == HUB_CMD_APPLIED)
        return; /* the broadcast state frame is the answer */
    if (outcome == HUB_CMD_DUPLICATE) {
        int n =
            snprintf(buf, sizeof(buf),
                     "{\"type\":\"ack\",\"status\":\"duplicate\",\"cmdId\":\"%s\",\"seq\":%llu}",
                     cmd->cmd_id, (unsigned long long)view->seq);
        send_private(ss, buf, (size_t)n);
        return;
    }
    send_error(ss, cmd->cmd_id,
               outcome == HUB_EDROPPED
                   ? "dropped: the command queue was full and this was its oldest ui command "
                     "(overload policy); send again"
               : outcome == HUB_ESTORE ? "not durable: the store could not commit; send again"
                                       : "shutting down: reconnect and send again",
               "");
}

static void on_message(sess_t *ss, const char *text, size_t len)
{
    hub_server_t *s = ss->hub->s;
    json_error_t jerr;
    hub_parse_err_t perr;
    hub_cmd_t *cmd;
    json_t *obj, *type;
    char msg[256];
    int rc;

    obj = json_loadb(text, len, HUB_CMD_JSON_FLAGS, &jerr);
    if (obj == NULL) {
        snprintf(msg, sizeof(msg), "malformed JSON at line %d column %d: %.120s", jerr.line,
                 jerr.column, jerr.text);
        send_error(ss, NULL, msg, "");
        return;
    }
    type = json_object_get(obj, "type");
    if (!json_is_object(obj)) {
        send_error(ss, NULL, "message must be a JSON object", "");
    } else if (!json_is_string(type)) {
        send_error(ss, NULL, "type is required: send {\"type\":\"set\",…}", "type");
    } else if (strcmp(json_string_value(type), "set") != 0) {
        snprintf(msg, sizeof(msg),
                 "unknown type \"%.40s\": clients send {\"type\":\"set\",…}; only the hub sends "
                 "state",
                 json_string_value(type));
        send_error(ss, NULL, msg, "type");
    } else if (hub_cmd_from_json(obj, "ui", &cmd, &perr) != 0) {
        send_error(ss, perr.cmd_id, perr.msg, perr.field);
    } else {
        cmd->recv_us = hub_mono_us();
        cmd->done = on_cmd_done;
        cmd->ud = ss;
        rc = hub_engine_submit(s->d.engine, cmd);
        if (rc != 0) {
            send_error(ss, cmd->cmd_id,
                       rc == HUB_EOVERLOAD
                           ? "overloaded: the command queue is full (DMX_QUEUE_SIZE); send again"
                           : "shutting down: reconnect and send again",
                       "");
            hub_cmd_free(cmd);
        } else {
            if (ss->npending == ss->cappending) {
                ss->cappending = ss->cappending ? ss->cappending * 2 : 4;
                ss->pending = hub_realloc(ss->pending, ss->cappending * sizeof(*ss->pending));
            }
            ss->pending[ss->npending++] = cmd;
        }
    }
    json_decref(obj);
}

static int on_receive(sess_t *ss, struct lws *wsi, const void *in, size_t len)
{
    size_t max = (size_t)ss->hub->s->d.cfg->max_body;

    if (lws_is_first_fragment(wsi)) {
        ss->rx_len = 0;
        ss->rx_binary = lws_frame_is_binary(wsi);
    }
    if (ss->rx_len + len + lws_remaining_packet_payload(wsi) > max) {
        static const char why[] = "message over 16384 bytes";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
                         sizeof(why) - 1);
        return -1;
    }
    if (ss->rx_len + len > ss->rx_cap) {
        ss->rx_cap = ss->rx_len + len + 256;
        ss->rx = hub_realloc(ss->rx, ss->rx_cap);
    }
    memcpy(ss->rx + ss->rx_len, in, len);
    ss->rx_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    if (ss->rx_binary)
        send_error(ss, NULL, "binary frames are not accepted: send JSON text frames", "");
    else
        on_message(ss, ss->rx, ss->rx_len);
    ss->rx_len = 0;
    return 0;
}

/* --- lws events ------------------------------------------------------------- */

/* Refuse the handshake with a real HTTP/1.1 status and a JSON body, then
 * hang up. (lws_return_http_status answers HTTP/1.0 with an HTML page at
 * this stage, which some WebSocket clients cannot report.) The answer is a
 * few hundred bytes on a fresh socket, so one send() takes it. */
static int reject(struct lws *wsi, int status, const char *why)
{
    static const struct {
        int code;
        const char *text;
    } reasons[] = {
        {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"}};
    const char *reason = "Error";
    char body[256], msg[512];
    int fd = lws_get_socket_fd(wsi);

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == status)
            reason = reasons[i].text;
    int blen = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", why);
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                     "content-length: %d\r\nconnection: close\r\n\r\n%s",
                     status, reason, blen, body);
    if (fd >= 0 && n > 0 && (size_t)n < sizeof(msg))
        (void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL);
    return -1;
}

static int confirm_upgrade(hub_server_t *s, struct lws *wsi, const char *proto)
{
    char buf[512];

    if (s->closing)
        return -1;
    if (proto == NULL || strcmp(proto, "websocket") != 0)
        return reject(wsi, 400, "only WebSocket upgrades are accepted");
    hub__hdr(wsi, WSI_TOKEN_GET_URI, buf, sizeof(buf));
    if (strcmp(buf, "/ws") != 0)
        return reject(wsi, 404, "the WebSocket endpoint is /ws");
    if (hub__hdr(wsi, WSI_TOKEN_ORIGIN, buf, sizeof(buf)) != 0 &&
        !hub_config_origin_allowed(s->d.cfg, buf)) {
        hub_log(HUB_LOG_WARN, "ws_origin_refused", "{s:s}", "origin", buf);
        return reject(wsi, 403, "origin not allowed (DMX_ALLOW_ORIGINS)");
    }
    const char *token = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
    if (!hub__auth_ok(s, token ? token : "", "ws"))
        return reject(wsi, 401, "missing or wrong API key: connect to /ws?token=<key>");
    return 0;
}

static void on_established(hub_server_t *s, struct lws *wsi, hub_pss_t *pss)
{
    hub_ws_hub_t *h = s->ws;
    sess_t *ss = hub_calloc(1, sizeof(*ss));
    int fd = lws_get_socket_fd(wsi);
    int sndbuf = SNDBUF_BYTES;
    const hub_view_t *v = hub_engine_view(s->d.engine);

    /* A bounded kernel buffer keeps "behind" measurable: beyond it, frames
     * wait in our ring where their age is known. */
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    memset(pss, 0, sizeof(*pss));
    pss->is_ws = 1;
    pss->ws = ss;
    ss->wsi = wsi;
    ss->hub = h;
    ss->next = h->head;
    if (h->head)
        h->head->prev = ss;
    h->head = ss;
    h->nclients++;
    send_private(ss, v->ws_json, v->ws_len);
}

static void on_closed(hub_pss_t *pss)
{
    sess_t *ss = pss->ws;
    hub_ws_hub_t *h;

    if (ss == NULL)
        return;
    h = ss->hub;
    for (size_t i = 0; i < ss->npending; i++)
        hub_cmd_detach(ss->pending[i]);
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        h->head = ss->next;
    if (ss->next)
        ss->next->prev = ss->prev;
    h->nclients--;
    ring_clear(ss);
    hub_free(ss->ring);
    hub_free(ss->rx);
    hub_free(ss->pending);
    hub_free(ss);
    pss->ws = NULL;
}

static int on_writeable(sess_t *ss, struct lws *wsi)
{
    uint64_t now = hub_mono_us();
    int n = 0;

    if (ss->kill) {
        static const char why[] = "too slow";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)why,
                         sizeof(why) - 1);
        return -1;
    }
    while (ss->count > 0 && n++ < WRITES_PER_TURN) {
        frame_t *f = ss->ring[ss->head];
        if (lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_RAW) < (int)f->len)
            return -1;
        if (f->broadcast)
            hub_metric_observe(ss->hub->m_latency, (double)(now - f->t_us) / 1e6);
        ss->head = (ss->head + 1) % ss->cap;
        ss->count--;
        ss->frames -= f->nframes;
        frame_unref(f);
        if (lws_partial_buffered(wsi))
            break;
    }
    if (ss->count > 0)
        lws_callback_on_writable(wsi);
    return 0;
}

int hub__ws_callback(hub_server_t *s, struct lws *wsi, enum lws_callback_reasons reason,
                     hub_pss_t *pss, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: return confirm_upgrade(s, wsi, (const char *)in);
    case LWS_CALLBACK_ESTABLISHED: on_established(s, wsi, pss); return 0;
    case LWS_CALLBACK_RECEIVE: return pss->ws ? on_receive(pss->ws, wsi, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE: return pss->ws ? on_writeable(pss->ws, wsi) : 0;
    case LWS_CALLBACK_CLOSED: on_closed(pss); return 0;
    default: return 0;
    }
}
