/* proto/relay.c - commands and page requests from the network contexts to
 * the engine's thread, and their answers back.
 *
 * A network context parses a request into a command and posts it, with a
 * reference to the connection's peer, to the loop thread's inbox. There the
 * engine takes it; its done callback posts the fate back to the context's
 * inbox, where the peer's connection, if it is still open, is answered.
 * Pages that read loop-thread state (/readyz, /metrics, /devices) make the
 * same trip. Nothing here holds a lock: ownership moves with each message.
 *
 * Threading: hub__relay_submit/query on a network context's thread; the
 * on_relay_* handlers and hub__relay_answer on the loop thread; on_answer
 * on the context's thread again.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "proto/proto_int.h"

/* Commands beyond the queue a context may have on their way: a batch being
 * committed (up to 4096) and what sits in the inbox. */
#define INFLIGHT_SLACK 65536

typedef struct relay_cmd {
    hub_msg_t msg; /* first: the inbox hands us &msg */
    hub_net_t *net;
    hub_peer_t *peer; /* a reference, moved to the command */
    hub_cmd_t *cmd;
} relay_cmd_t;

typedef struct relay_query {
    hub_msg_t msg;
    hub_net_t *net;
    hub_peer_t *peer; /* a reference, moved to the answer */
    int what;         /* HUB_Q_* */
} relay_query_t;

hub_peer_t *hub__peer_new(hub_net_t *net, void *conn, int is_ws)
{
    hub_peer_t *p = hub_calloc(1, sizeof(*p));
    atomic_init(&p->refs, 1);
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
    hub_free(a->body);
    hub_free(a);
}

/* Deliver on the peer's own thread. */
static void deliver(hub_answer_t *a)
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
    deliver((hub_answer_t *)msg);
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

static hub_answer_t *cmd_answer(hub_peer_t *peer, const hub_cmd_t *cmd, int outcome,
                                const hub_view_t *view)
{
    hub_answer_t *a = hub_calloc(1, sizeof(*a));

    a->peer = peer;
    a->outcome = outcome;
    a->seq = view->seq;
    memcpy(a->cmd_id, cmd->cmd_id, sizeof(a->cmd_id));
    if (!peer->is_ws) { /* an HTTP answer carries the state */
        a->body = hub_malloc(view->rgb_len + 1);
        memcpy(a->body, view->rgb_json, view->rgb_len + 1);
        a->len = view->rgb_len;
    }
    return a;
}

/* Loop thread: the engine has decided cmd's fate. */
static void on_cmd_done(hub_cmd_t *cmd, int outcome, const hub_view_t *view, void *ud)
{
    hub_peer_t *peer = ud;
    hub_net_t *net = peer->net;

    atomic_fetch_sub_explicit(&net->inflight, 1, memory_order_relaxed);
    if (peer->is_ws && outcome == HUB_CMD_APPLIED) {
        hub__peer_release(peer); /* the state broadcast is the answer */
        return;
    }
    if (peer->is_ws) /* an ack must not overtake a state announced before it */
        hub__fanout_flush(net->s);
    hub__relay_answer(net, cmd_answer(peer, cmd, outcome, view));
}

static void on_relay_cmd(hub_msg_t *msg, void *ud)
{
    relay_cmd_t *m = (relay_cmd_t *)msg;
    hub_server_t *s = m->net->s;
    hub_cmd_t *cmd = m->cmd;
    int rc;

    cmd->done = on_cmd_done;
    cmd->ud = m->peer;
    rc = hub_engine_submit(s->d.engine, cmd);
    if (rc != 0) { /* refused: the command stays ours */
        atomic_fetch_sub_explicit(&m->net->inflight, 1, memory_order_relaxed);
        hub__relay_answer(m->net, cmd_answer(m->peer, cmd, rc, hub_engine_view(s->d.engine)));
        hub_cmd_free(cmd);
    }
    hub_free(m);
}

void hub__relay_submit(hub_net_t *net, hub_peer_t *peer, hub_cmd_t *cmd)
{
    hub_server_t *s = net->s;
    relay_cmd_t *m;

    /* The engine's queue and its overload policy decide normally; this only
     * trips when clients flood faster than the loop thread can even refuse,
     * and bounds the memory they can tie up in the inbox. */
    if (atomic_load_explicit(&net->inflight, memory_order_relaxed) >=
        s->d.cfg->queue_size + INFLIGHT_SLACK) {
        hub_answer_t *a = hub_calloc(1, sizeof(*a));
        hub_metric_inc(s->m_refused);
        a->peer = hub__peer_ref(peer);
        a->outcome = HUB_EOVERLOAD;
        memcpy(a->cmd_id, cmd->cmd_id, sizeof(a->cmd_id));
        hub_cmd_free(cmd);
        deliver(a);
        return;
    }
    atomic_fetch_add_explicit(&net->inflight, 1, memory_order_relaxed);
    m = hub_calloc(1, sizeof(*m));
    m->msg.fn = on_relay_cmd;
    m->net = net;
    m->peer = hub__peer_ref(peer);
    m->cmd = cmd;
    hub_inbox_post(s->d.inbox, &m->msg);
}

static void on_relay_query(hub_msg_t *msg, void *ud)
{
    relay_query_t *q = (relay_query_t *)msg;
    hub_server_t *s = q->net->s;
    hub_answer_t *a = hub_calloc(1, sizeof(*a));

    a->peer = q->peer;
    a->status = 200;
    a->ctype = "application/json";
    switch (q->what) {
    case HUB_Q_READYZ: a->body = hub__page_readyz(s, &a->status, &a->len); break;
    case HUB_Q_METRICS:
        a->ctype = "text/plain; version=0.0.4; charset=utf-8";
        a->body = hub_metrics_render(s->d.metrics, &a->len);
        break;
    default:
        if (s->d.mqtt != NULL) {
            a->body = hub_mqtt_devices_json(s->d.mqtt, &a->len);
        } else {
            a->body = hub_strdup("[]");
            a->len = 2;
        }
        break;
    }
    hub__relay_answer(q->net, a);
    hub_free(q);
}

void hub__relay_query(hub_net_t *net, hub_peer_t *peer, int what)
{
    relay_query_t *q = hub_calloc(1, sizeof(*q));
    q->msg.fn = on_relay_query;
    q->net = net;
    q->peer = hub__peer_ref(peer);
    q->what = what;
    hub_inbox_post(net->s->d.inbox, &q->msg);
}
