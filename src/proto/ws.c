/* proto/ws.c - the /ws WebSocket: sessions, commands in, state fan-out.
 *
 * Runs on a network context's thread (proto_int.h). The loop thread frames
 * the states of each group commit into one buffer (ws_fanout.c) and posts it
 * to every context; here it goes to each session in one write, or, for a
 * session that cannot take it at once, onto the session's ring of the same
 * refcounted buffers, written when lws says the socket is writable. A
 * session whose oldest unsent frame is older than DMX_WS_SLOW_MS, or whose
 * ring holds DMX_WS_BACKLOG frames, is disconnected (1008 "too slow") so it
 * never holds up anyone else. Every write is pre-framed (LWS_WRITE_RAW), so
 * lws's own control frames (pong, close) can only go between whole frames.
 *
 * A new session's first frame is the latest state (the snapshot); broadcast
 * frames it already covers are skipped, so its stream has no gap and no
 * repeat. Commands go to the engine through proto/relay.c; an applied one is
 * answered by its state, anything else by an ack or error frame.
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
#include "proto/frame.h"
#include "proto/proto_int.h"

#define SNDBUF_BYTES    (128 * 1024)
#define WRITES_PER_TURN 32

typedef struct hub_ws_sess {
    struct hub_ws_sess *next, *prev;
    struct lws *wsi;
    hub_ws_hub_t *hub;
    hub_frame_t **ring;
    size_t cap, head, count;
    size_t frames;     /* WebSocket frames in the ring (entries hold one or more) */
    uint64_t last_seq; /* the newest state this session has been given */
    hub_peer_t *peer;  /* commands' way back to this session */
    char *rx;
    size_t rx_len, rx_cap;
    int rx_binary;
    int kill;
} sess_t;

struct hub_ws_hub {
    hub_net_t *net;
    hub_server_t *s;
    sess_t *head;
    size_t nclients;
    int closing;
};

static void ring_clear(sess_t *ss)
{
    while (ss->count > 0) {
        hub__frame_unref(ss->ring[ss->head]);
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
    hub_metric_inc(ss->hub->s->m_ws_slow);
    hub_log(HUB_LOG_WARN, "ws_slow_client", "{s:s,s:I}", "reason", why, "backlog",
            (json_int_t)ss->frames);
    ring_clear(ss);
    lws_callback_on_writable(ss->wsi);
    /* A socket that never drains never becomes writable: close it anyway. */
    lws_set_timeout(ss->wsi, PENDING_TIMEOUT_USER_OK, 1);
}

/* Queue f on ss. Grows the ring up to the backlog limit (small clients stay
 * small: 10,000 sessions must fit in a few MB). */
static void enqueue(sess_t *ss, hub_frame_t *f, uint64_t now_us)
{
    const hub_config_t *cfg = ss->hub->s->d.cfg;

    if (ss->kill)
        return;
    /* Frames are made on other threads, so a head newer than now is age 0. */
    if (ss->count > 0 && now_us > ss->ring[ss->head]->t_us &&
        now_us - ss->ring[ss->head]->t_us > (uint64_t)cfg->ws_slow_ms * 1000) {
        kill_sess(ss, "behind by more than DMX_WS_SLOW_MS");
        return;
    }
    if (ss->frames >= (size_t)cfg->ws_backlog) {
        kill_sess(ss, "backlog over DMX_WS_BACKLOG frames");
        return;
    }
    if (ss->count == ss->cap) {
        size_t ncap = ss->cap ? ss->cap * 2 : 4;
        hub_frame_t **nr = hub_malloc(ncap * sizeof(*nr));
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
    hub__frame_ref(f, 1);
    if (ss->count == 1)
        lws_callback_on_writable(ss->wsi);
}

static void send_private(sess_t *ss, const char *text, size_t len)
{
    hub_frame_t *f = hub__frame_new(text, len);
    enqueue(ss, f, hub_mono_us());
    if (atomic_load(&f->refs) == 0)
        hub__frame_free(f);
}

static void send_error(sess_t *ss, const char *cmd_id, const char *msg, const char *field)
{
    json_t *o = json_pack("{s:s,s:o,s:s,s:s}", "type", "error", "cmdId",
                          cmd_id && cmd_id[0] ? json_string(cmd_id) : json_null(), "error", msg,
                          "field", field ? field : "");
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    hub_metric_inc(ss->hub->s->m_ws_errors);
    send_private(ss, text, strlen(text));
    free(text);
    json_decref(o);
}

/* Write f to ss at once when nothing is waiting ahead of it: one write()
 * instead of asking lws for a writable callback, which costs two epoll_ctl
 * and a loop turn per client per state. Only from outside lws callbacks
 * (broadcasts arrive through the context's inbox). A
 * partial write is buffered by lws; frames after it queue in the ring, where
 * their age counts towards DMX_WS_SLOW_MS. Returns 1 if written. */
static int write_direct(sess_t *ss, hub_frame_t *f, hub_tally_t *lat)
{
    if (ss->kill || ss->count > 0 || lws_partial_buffered(ss->wsi))
        return 0;
    if (lws_write(ss->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_RAW) < (int)f->len) {
        lws_set_timeout(ss->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        ss->kill = 1;
        return 1;
    }
    hub_tally_observe(lat, (double)(hub_mono_us() - f->t_us) / 1e6);
    return 1;
}

/* One batch's states (posted by ws_fanout.c) to every session here. */
void hub__ws_deliver(hub_ws_hub_t *h, hub_frame_t *f)
{
    uint64_t last = f->seq0 + f->nframes - 1, now = hub_mono_us();
    hub_tally_t lat;

    if (h->closing)
        return;
    hub_tally_init(&lat, h->s->m_ws_latency);
    for (sess_t *ss = h->head; ss != NULL; ss = ss->next) {
        hub_frame_t *g = f;
        if (last <= ss->last_seq)
            continue; /* its first frame was newer */
        if (f->seq0 <= ss->last_seq)
            g = hub__frame_tail(f, ss->last_seq + 1);
        ss->last_seq = last;
        if (!write_direct(ss, g, &lat))
            enqueue(ss, g, now);
        if (g != f && atomic_load(&g->refs) == 0)
            hub__frame_free(g);
    }
    hub_tally_flush(&lat);
}

hub_ws_hub_t *hub__ws_hub_new(hub_net_t *net)
{
    hub_ws_hub_t *h = hub_calloc(1, sizeof(*h));
    h->net = net;
    h->s = net->s;
    return h;
}

void hub__ws_hub_free(hub_ws_hub_t *h)
{
    hub_free(h);
}

void hub__ws_close_all(hub_ws_hub_t *h)
{
    h->closing = 1;
}

/* --- commands from a client ------------------------------------------------ */

/* The fate of a command this session sent (not sent for an applied one:
 * the broadcast state says it). */
void hub__ws_answer(struct hub_ws_sess *ss, const hub_answer_t *a)
{
    char buf[256];

    if (a->outcome == HUB_CMD_APPLIED)
        return;
    if (a->outcome == HUB_CMD_DUPLICATE) {
        int n =
            snprintf(buf, sizeof(buf),
                     "{\"type\":\"ack\",\"status\":\"duplicate\",\"cmdId\":\"%s\",\"seq\":%llu}",
                     a->cmd_id, (unsigned long long)a->seq);
        send_private(ss, buf, (size_t)n);
        return;
    }
    send_error(ss, a->cmd_id,
               a->outcome == HUB_EDROPPED
                   ? "dropped: the command queue was full and this was its oldest ui command "
                     "(overload policy); send again"
               : a->outcome == HUB_ESTORE ? "not durable: the store could not commit; send again"
               : a->outcome == HUB_EOVERLOAD
                   ? "overloaded: the command queue is full (DMX_QUEUE_SIZE); send again"
                   : "shutting down: reconnect and send again",
               "");
}

static void on_message(sess_t *ss, const char *text, size_t len)
{
    json_error_t jerr;
    hub_parse_err_t perr;
    hub_cmd_t *cmd;
    json_t *obj, *type;
    char msg[256];

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
        hub__relay_submit(ss->hub->net, ss->peer, cmd);
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

static int confirm_upgrade(hub_net_t *net, struct lws *wsi, const char *proto)
{
    hub_server_t *s = net->s;
    char buf[512];

    if (net->closing || atomic_load(&s->closing))
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

static void on_established(hub_net_t *net, struct lws *wsi, hub_pss_t *pss)
{
    hub_ws_hub_t *h = net->ws;
    sess_t *ss = hub_calloc(1, sizeof(*ss));
    int fd = lws_get_socket_fd(wsi);
    int sndbuf = SNDBUF_BYTES;
    char json[HUB_JSON_MAX];
    size_t n;

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
    ss->peer = hub__peer_new(net, ss, 1);
    /* Counted before the snapshot is read: the loop thread frames states
     * only while someone is counted, and one it skipped is in the snapshot. */
    atomic_fetch_add(&net->s->ws_clients, 1);
    n = hub__snapshot_get(net->s, 0, json, &ss->last_seq);
    send_private(ss, json, n);
}

static void on_closed(hub_pss_t *pss)
{
    sess_t *ss = pss->ws;
    hub_ws_hub_t *h;

    if (ss == NULL)
        return;
    h = ss->hub;
    ss->peer->conn = NULL; /* answers still on their way are dropped */
    hub__peer_release(ss->peer);
    atomic_fetch_sub(&h->s->ws_clients, 1);
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
        hub_frame_t *f = ss->ring[ss->head];
        if (lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_RAW) < (int)f->len)
            return -1;
        if (f->broadcast)
            hub_metric_observe(ss->hub->s->m_ws_latency, (double)(now - f->t_us) / 1e6);
        ss->head = (ss->head + 1) % ss->cap;
        ss->count--;
        ss->frames -= f->nframes;
        hub__frame_unref(f);
        if (lws_partial_buffered(wsi))
            break;
    }
    if (ss->count > 0)
        lws_callback_on_writable(wsi);
    return 0;
}

int hub__ws_callback(hub_net_t *net, struct lws *wsi, enum lws_callback_reasons reason,
                     hub_pss_t *pss, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: return confirm_upgrade(net, wsi, (const char *)in);
    case LWS_CALLBACK_ESTABLISHED: on_established(net, wsi, pss); return 0;
    case LWS_CALLBACK_RECEIVE: return pss->ws ? on_receive(pss->ws, wsi, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE: return pss->ws ? on_writeable(pss->ws, wsi) : 0;
    case LWS_CALLBACK_CLOSED: on_closed(pss); return 0;
    default: return 0;
    }
}
