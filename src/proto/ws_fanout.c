/* proto/ws_fanout.c - the loop thread's side of the WebSocket fan-out.
 *
 * Each announced state is framed once into the buffer of the batch being
 * announced; after the batch's last state the buffer is posted, one
 * reference each, to every network context, which writes it to its
 * sessions (ws.c, hub__ws_deliver). So one group commit costs one message
 * per context and one write per client, however many states it holds.
 *
 * Threading: loop thread only; the frame is read-only once posted.
 */
#include "core/mem.h"
#include "proto/frame.h"
#include "proto/proto_int.h"

typedef struct fanout_msg {
    hub_msg_t msg;
    hub_frame_t *frame; /* one reference */
} fanout_msg_t;

static void on_fanout(hub_msg_t *msg, void *ud)
{
    hub_net_t *net = ud;
    fanout_msg_t *m = (fanout_msg_t *)msg;

    hub__ws_deliver(net->ws, m->frame);
    hub__frame_unref(m->frame);
    hub_free(m);
}

void hub__fanout_flush(hub_server_t *s)
{
    hub_frame_t *f = s->pend;
    int live = 0;

    if (f == NULL)
        return;
    s->pend = NULL;
    for (int i = 0; i < s->nnets; i++)
        live += !s->nets[i]->gone;
    if (live == 0) {
        hub__frame_free(f);
        return;
    }
    hub__frame_ref(f, live); /* before the first post: a context may finish it at once */
    for (int i = 0; i < s->nnets; i++) {
        hub_net_t *net = s->nets[i];
        if (net->gone)
            continue;
        fanout_msg_t *m = hub_malloc(sizeof(*m));
        m->msg.fn = on_fanout;
        m->frame = f;
        hub_inbox_post(net->inbox, &m->msg);
    }
}

void hub__fanout_state(hub_server_t *s, const hub_view_t *view)
{
    /* Nobody to tell: a client that connects next starts from the snapshot. */
    if (atomic_load_explicit(&s->ws_clients, memory_order_relaxed) > 0 || s->pend != NULL)
        hub__frame_append(&s->pend, view->ws_json, view->ws_len, 1, view->seq);
    if (!view->more)
        hub__fanout_flush(s);
}

void hub__fanout_free(hub_server_t *s)
{
    if (s->pend != NULL)
        hub__frame_free(s->pend);
    s->pend = NULL;
}
