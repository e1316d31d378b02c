/* proto/relay.c - intents and queries from the network contexts to the
 * engine's thread, and their answers back.
 *
 * A network context parses a request into an intent and posts it, with a
 * reference to the connection's peer, to the loop thread's inbox. There the
 * engine takes it; its done callback renders the fate: for an HTTP peer an
 * answer posted back to the context's inbox, where the peer's connection, if
 * it is still open, is answered; for a WebSocket peer a private frame in the
 * group commit's buffer (ws_fanout.c), so a result is never overtaken by, and
 * never overtakes, the patches around it. Pages that read loop-thread state
 * make the same trip (hub__relay_query). Nothing here holds a lock: ownership
 * moves with each message.
 *
 * Threading: hub__relay_submit/query on a network context's thread; the
 * on_relay_* handlers and hub__relay_answer on the loop thread; on_answer on
 * the context's thread again.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jbuf.h"
#include "core/mem.h"
#include "proto/proto_int.h"

/* Intents beyond the queue a context may have on their way: a batch being
 * committed (up to 4096) and what sits in the inbox. */
#define INFLIGHT_SLACK 65536

typedef struct relay_intent {
    hub_msg_t msg; /* first: the inbox hands us &msg */
    hub_net_t *net;
    hub_peer_t *peer; /* a reference, moved to the intent */
    hub_intent_t *in;
} relay_intent_t;

typedef struct relay_query {
    hub_msg_t msg;
    hub_net_t *net;
    hub_peer_t *peer; /* a reference, moved to the answer */
    hub_query_t q;
} relay_query_t;

hub_peer_t *hub__peer_new(hub_net_t *net, void *conn, int is_ws)
{
    static atomic_uint_fast64_t next_id = 1;
    hub_peer_t *p = hub_calloc(1, sizeof(*p));
    atomic_init(&p->refs, 1);
    p->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    p->net = net;
    p->conn = conn;
    p->is_ws = is_ws;
    return p;
}

hub_peer_t *hub__peer_ref(hub_peer_t *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void hub__peer_release(hub_peer_t *p)
{
    if (p != NULL && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        hub_free(p);
}

static void answer_free(hub_answer_t *a)
{
    hub__peer_release(a->peer);
    if (a->frames != NULL)
        hub__frame_unref(a->frames);
    hub_free(a->body);
    hub_free(a->file);
    hub_free(a);
}

/* Deliver on the peer's own thread. */
void hub__relay_deliver(hub_answer_t *a)
{
    hub_peer_t *p = a->peer;

    if (p->conn != NULL) {
        if (p->is_ws)
            hub__ws_answer(p->conn, a);
        else
            hub__http_answer(p->conn, a);
    }
    answer_free(a);
}

static void on_answer(hub_msg_t *msg, void *ud)
{
    (void)ud;
    hub__relay_deliver((hub_answer_t *)msg);
}

void hub__relay_answer(hub_net_t *net, hub_answer_t *a)
{
    if (net->gone) { /* the context has stopped reading its inbox */
        answer_free(a);
        return;
    }
    a->msg.fn = on_answer;
    hub_inbox_post(net->inbox, &a->msg);
}

/* ---- replies a domain gives later ------------------------------------------- */

typedef struct http_reply {
    hub_reply_t base; /* first */
    hub_net_t *net;
    hub_peer_t *peer; /* a reference, moved to the answer */
} http_reply_t;

static void reply_send(hub_reply_t *r, int status, const char *body, size_t len)
{
    http_reply_t *h = (http_reply_t *)r;
    hub_answer_t *a = hub_calloc(1, sizeof(*a));

    a->peer = h->peer;
    a->status = status;
    a->ctype = "application/json";
    a->body = hub_malloc(len + 1);
    memcpy(a->body, body, len);
    a->body[len] = '\0';
    a->len = len;
    a->retry_after = status == 503;
    hub__relay_answer(h->net, a);
    hub_free(h);
}

hub_reply_t *hub__reply_new(hub_net_t *net, hub_peer_t *peer)
{
    http_reply_t *h = hub_calloc(1, sizeof(*h));
    h->base.send = reply_send;
    h->net = net;
    h->peer = peer;
    return &h->base;
}

/* ---- rendering a fate ------------------------------------------------------- */

static void set_body(hub_answer_t *a, int status, hub_jbuf_t *b)
{
    a->status = status;
    a->ctype = "application/json";
    a->body = hub_jbuf_take(b, &a->len);
}

/* {"error":msg} or {"error":msg,"field":f}: the seed-000 error body. */
static void legacy_error(hub_answer_t *a, int status, const char *msg, const char *field)
{
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "error");
    hub_jbuf_str(&b, msg);
    if (field != NULL) {
        hub_jbuf_key(&b, "field");
        hub_jbuf_str(&b, field);
    }
    hub_jbuf_close(&b, '}');
    set_body(a, status, &b);
}

static const char *legacy_msg(int outcome)
{
    switch (outcome) {
    case HUB_EDROPPED:
        return "dropped: the command queue was full and this was its oldest ui command "
               "(overload policy); retry later";
    case HUB_ESTORE:
        return "not durable: the store could not commit this command; it was not applied "
               "durably, retry (see the hub's log: store_commit_failed)";
    case HUB_EOVERLOAD:
        return "overloaded: the command queue is full (DMX_QUEUE_SIZE); retry later";
    default: return "shutting down: retry against the restarted hub";
    }
}

char *hub__result_json(const hub_intent_t *in, size_t *len)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "ok");
    if (in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE) {
        hub_jbuf_bool(&b, 1);
        hub_jbuf_key(&b, "seq");
        hub_jbuf_uint(&b, in->seq);
        hub_jbuf_key(&b, "req_id");
        hub_jbuf_str(&b, in->req_id);
        if (in->outcome == HUB_INTENT_DUPLICATE) {
            hub_jbuf_key(&b, "duplicate");
            hub_jbuf_bool(&b, 1);
        }
    } else {
        hub_jbuf_bool(&b, 0);
        hub_jbuf_key(&b, "req_id");
        hub_jbuf_str(&b, in->req_id);
        hub_jbuf_key(&b, "error");
        hub_jbuf_open(&b, '{');
        hub_jbuf_key(&b, "code");
        hub_jbuf_str(&b, hub_errcode_name(in->err.code));
        hub_jbuf_key(&b, "message");
        hub_jbuf_str(&b, in->err.msg);
        if (in->err.field[0] != '\0') {
            hub_jbuf_key(&b, "field");
            hub_jbuf_str(&b, in->err.field);
        }
        hub_jbuf_close(&b, '}');
    }
    hub_jbuf_close(&b, '}');
    return hub_jbuf_take(&b, len);
}

void hub__answer_intent(hub_answer_t *a, const hub_intent_t *in, const hub_engine_t *e)
{
    if (in->legacy) {
        const char *rgb;
        size_t rl = 0;
        hub_jbuf_t b;
        switch (in->outcome) {
        case HUB_INTENT_APPLIED:
        case HUB_INTENT_DUPLICATE:
            rgb = hub_engine_view(e, "rgb", &rl);
            hub_jbuf_init(&b);
            hub_jbuf_lit(&b, "{\"status\":\"");
            if (in->outcome == HUB_INTENT_APPLIED)
                hub_jbuf_lit(&b, "applied\",\"state\":");
            else
                hub_jbuf_lit(&b, "duplicate\",\"state\":");
            hub_jbuf_raw(&b, rgb ? rgb : "null", rgb ? rl : 4);
            hub_jbuf_lit(&b, "}");
            set_body(a, 200, &b);
            return;
        case HUB_INTENT_REJECTED:
            /* fixture.set_values of "demo" is refused only when the patch
             * file's demo lacks a role: a server-side problem. */
            legacy_error(a, 500, in->err.msg, NULL);
            return;
        case HUB_ESTORE: legacy_error(a, 500, legacy_msg(in->outcome), NULL); return;
        default:
            a->retry_after = 1;
            legacy_error(a, 503, legacy_msg(in->outcome), NULL);
            return;
        }
    }
    a->ctype = "application/json";
    a->status = in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE
                    ? 200
                    : hub_errcode_http(in->err.code);
    a->retry_after = in->err.code == HUB_ERR_OVERLOADED || in->err.code == HUB_ERR_DROPPED;
    a->body = hub__result_json(in, &a->len);
}

/* ---- intents ------------------------------------------------------------------- */

/* The WS frame of an intent's fate: seed 000's ack/error for a `set`, the
 * result frame for an `intent`; NULL when there is nothing to say (an
 * applied `set`: its state frame says it). */
static char *ws_answer_text(const hub_intent_t *in, size_t *len)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    if (in->legacy) {
        if (in->outcome == HUB_INTENT_APPLIED) {
            hub_jbuf_free(&b);
            return NULL;
        }
        if (in->outcome == HUB_INTENT_DUPLICATE) {
            hub_jbuf_lit(&b, "{\"type\":\"ack\",\"status\":\"duplicate\",\"cmdId\":");
            hub_jbuf_str(&b, in->req_id);
            hub_jbuf_lit(&b, ",\"seq\":");
            hub_jbuf_uint(&b, in->seq);
            hub_jbuf_lit(&b, "}");
        } else {
            const char *msg =
                in->outcome == HUB_EDROPPED ? "dropped: the command queue was full and this was "
                                              "its oldest ui command (overload policy); send again"
                : in->outcome == HUB_ESTORE ? "not durable: the store could not commit; send again"
                : in->outcome == HUB_EOVERLOAD
                    ? "overloaded: the command queue is full (DMX_QUEUE_SIZE); send again"
                : in->outcome == HUB_INTENT_REJECTED ? in->err.msg
                                                     : "shutting down: reconnect and send again";
            hub_jbuf_lit(&b, "{\"type\":\"error\",\"cmdId\":");
            hub_jbuf_str(&b, in->req_id);
            hub_jbuf_lit(&b, ",\"error\":");
            hub_jbuf_str(&b, msg);
            hub_jbuf_lit(&b, ",\"field\":\"\"}");
        }
        return hub_jbuf_take(&b, len);
    }
    hub__ws_render_result(&b, in);
    return hub_jbuf_take(&b, len);
}

void hub__ws_render_result(hub_jbuf_t *b, const hub_intent_t *in)
{
    size_t n;
    char *r = hub__result_json(in, &n);
    /* {"type":"result", + the rest of {"ok":…} */
    hub_jbuf_lit(b, "{\"type\":\"result\",");
    hub_jbuf_raw(b, r + 1, n - 1);
    free(r);
}

/* Loop thread: the engine has decided in's fate. */
static void on_intent_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    hub_peer_t *peer = ud;
    hub_net_t *net = peer->net;
    hub_server_t *s = net->s;

    (void)ann;
    atomic_fetch_sub_explicit(&net->inflight, 1, memory_order_relaxed);
    if (peer->is_ws) {
        size_t len;
        char *text = ws_answer_text(in, &len);
        if (text != NULL) { /* by peer id: no reference to keep */
            hub__fanout_private(s, peer, text, len);
            hub_free(text);
        }
        hub__peer_release(peer);
        return;
    }
    const hub_route_def_t *route = in->route;
    if (route != NULL && route->answer != NULL) { /* the route's own format */
        route->answer(in->route_ctx, in, ann, hub__reply_new(net, peer));
        return;
    }
    hub_answer_t *a = hub_calloc(1, sizeof(*a));
    a->peer = peer;
    hub__answer_intent(a, in, s->d.engine);
    hub__relay_answer(net, a);
}

static void refuse(hub_net_t *net, hub_peer_t *peer, hub_intent_t *in, int rc)
{
    hub_server_t *s = net->s;

    in->outcome = rc;
    hub_error_set(&in->err, HUB_ERR_OVERLOADED, "",
                  rc == HUB_ESHUTDOWN ? "shutting down: retry against the restarted hub"
                                      : "overloaded: the queue is full (DMX_QUEUE_SIZE); retry "
                                        "later");
    if (peer->is_ws) {
        size_t len;
        char *text = ws_answer_text(in, &len);
        hub_answer_t *a = hub_calloc(1, sizeof(*a));
        a->peer = peer;
        a->ws_kind = HUB_WS_FRAMES;
        a->frames = hub__frame_new(text, len);
        hub__frame_ref(a->frames, 1);
        hub_free(text);
        hub__relay_answer(net, a);
        return;
    }
    hub_answer_t *a = hub_calloc(1, sizeof(*a));
    a->peer = peer;
    hub__answer_intent(a, in, s->d.engine);
    hub__relay_answer(net, a);
}

static void on_relay_intent(hub_msg_t *msg, void *ud)
{
    relay_intent_t *m = (relay_intent_t *)msg;
    hub_server_t *s = m->net->s;
    hub_intent_t *in = m->in;
    int rc;

    (void)ud;
    in->done = on_intent_done;
    in->ud = m->peer;
    rc = hub_engine_submit(s->d.engine, in);
    if (rc != 0) { /* refused: the intent stays ours */
        atomic_fetch_sub_explicit(&m->net->inflight, 1, memory_order_relaxed);
        refuse(m->net, m->peer, in, rc);
        hub_intent_free(in);
    }
    hub_free(m);
}

void hub__relay_submit(hub_net_t *net, hub_peer_t *peer, hub_intent_t *in)
{
    hub_server_t *s = net->s;
    relay_intent_t *m;

    /* The engine's queue and its overload policy decide normally; this only
     * trips when clients flood faster than the loop thread can even refuse,
     * and bounds the memory they can tie up in the inbox. */
    if (atomic_load_explicit(&net->inflight, memory_order_relaxed) >=
        s->d.cfg->queue_size + INFLIGHT_SLACK) {
        hub_metric_inc(s->m_refused);
        hub_intent_t *copy = in;
        copy->outcome = HUB_EOVERLOAD;
        hub_error_set(&copy->err, HUB_ERR_OVERLOADED, "",
                      "overloaded: the queue is full (DMX_QUEUE_SIZE); retry later");
        hub_answer_t *a = hub_calloc(1, sizeof(*a));
        a->peer = hub__peer_ref(peer);
        if (peer->is_ws) {
            size_t len;
            char *text = ws_answer_text(in, &len);
            a->ws_kind = HUB_WS_FRAMES;
            a->frames = hub__frame_new(text, len);
            hub__frame_ref(a->frames, 1);
            hub_free(text);
        } else {
            /* Answered here: the loop's views are not readable, and a
             * legacy overload answer carries no state. */
            hub__answer_intent(a, in, NULL);
        }
        hub_intent_free(in);
        hub__relay_deliver(a);
        return;
    }
    atomic_fetch_add_explicit(&net->inflight, 1, memory_order_relaxed);
    m = hub_calloc(1, sizeof(*m));
    m->msg.fn = on_relay_intent;
    m->net = net;
    m->peer = hub__peer_ref(peer);
    m->in = in;
    hub_inbox_post(s->d.inbox, &m->msg);
}

/* ---- queries ---------------------------------------------------------------------- */

static void on_relay_query(hub_msg_t *msg, void *ud)
{
    relay_query_t *q = (relay_query_t *)msg;
    hub_server_t *s = q->net->s;
    hub_answer_t *a;

    (void)ud;
    if (q->q.what == HUB_Q_FILE) /* a file route: http_file.c */
        a = hub__file_query(q->peer, &q->q);
    else
        a = hub__page_query(s, q->net, q->peer, &q->q);
    if (a != NULL)
        hub__relay_answer(q->net, a);
    /* else the page keeps the peer reference and answers later */
    hub_free(q->q.rq);
    hub_free(q);
}

void hub__relay_query(hub_net_t *net, hub_peer_t *peer, const hub_query_t *q)
{
    relay_query_t *m = hub_calloc(1, sizeof(*m));
    m->msg.fn = on_relay_query;
    m->net = net;
    m->peer = hub__peer_ref(peer);
    m->q = *q;
    hub_inbox_post(net->s->d.inbox, &m->msg);
}
