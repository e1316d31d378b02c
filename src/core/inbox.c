/* core/inbox.c - MPSC message queue into the loop thread. */
#include "core/inbox.h"

#include <pthread.h>

#include "core/mem.h"

struct hub_inbox {
    uv_async_t async;     /* first: the handle's data points back here */
    pthread_mutex_t lock; /* guards head/tail only */
    hub_msg_t *head;
    hub_msg_t *tail;
    void *ud;
};

static void on_async(uv_async_t *h)
{
    hub_inbox_drain((hub_inbox_t *)h->data);
}

int hub_inbox_new(hub_inbox_t **out, uv_loop_t *loop, void *ud)
{
    hub_inbox_t *in = hub_calloc(1, sizeof(*in));
    int rc = uv_async_init(loop, &in->async, on_async);
    if (rc < 0) {
        hub_free(in);
        return rc;
    }
    in->async.data = in;
    in->ud = ud;
    pthread_mutex_init(&in->lock, NULL);
    *out = in;
    return 0;
}

void hub_inbox_post(hub_inbox_t *in, hub_msg_t *msg)
{
    msg->next = NULL;
    pthread_mutex_lock(&in->lock);
    if (in->tail)
        in->tail->next = msg;
    else
        in->head = msg;
    in->tail = msg;
    pthread_mutex_unlock(&in->lock);
    uv_async_send(&in->async);
}

void hub_inbox_drain(hub_inbox_t *in)
{
    hub_msg_t *m;

    pthread_mutex_lock(&in->lock);
    m = in->head;
    in->head = in->tail = NULL;
    pthread_mutex_unlock(&in->lock);
    while (m != NULL) {
        hub_msg_t *next = m->next;
        m->fn(m, in->ud);
        m = next;
    }
}

static void on_closed(uv_handle_t *h)
{
    hub_inbox_t *in = h->data;
    pthread_mutex_destroy(&in->lock);
    hub_free(in);
}

void hub_inbox_close(hub_inbox_t *in)
{
    hub_inbox_drain(in);
    uv_close((uv_handle_t *)&in->async, on_closed);
}

int hub_inbox_is_handle(const hub_inbox_t *in, const uv_handle_t *h)
{
    return in != NULL && h == (const uv_handle_t *)&in->async;
}
