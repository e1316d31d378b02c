/* core/inbox.h - the only door from other threads into the loop.
 *
 * A multi-producer queue of heap messages plus a uv_async wake-up. A message
 * is posted from any thread and run on the loop thread by its own fn, which
 * must free it. The inbox is unbounded: a producer that can outrun the loop
 * bounds itself (the store has at most one batch in flight).
 */
#ifndef HUB_CORE_INBOX_H
#define HUB_CORE_INBOX_H

#include <uv.h>

typedef struct hub_msg hub_msg_t;
typedef void (*hub_msg_fn)(hub_msg_t *msg, void *ud);

struct hub_msg {
    hub_msg_t *next; /* owned by the inbox while queued */
    hub_msg_fn fn;   /* runs on the loop thread and must free msg */
};

typedef struct hub_inbox hub_inbox_t;

/* Create on the loop thread. ud is passed to every fn. */
int hub_inbox_new(hub_inbox_t **out, uv_loop_t *loop, void *ud);
/* Thread-safe. Moves ownership of msg to the loop. */
void hub_inbox_post(hub_inbox_t *inbox, hub_msg_t *msg);
/* Run whatever is queued now (loop thread). Used at shutdown to drain. */
void hub_inbox_drain(hub_inbox_t *inbox);
/* Close the async handle; messages still queued are run first. Frees inbox
 * when the handle has closed (uv_close semantics: run the loop after). */
void hub_inbox_close(hub_inbox_t *inbox);
/* 1 if h is the inbox's own handle (to tell it apart when walking a loop). */
int hub_inbox_is_handle(const hub_inbox_t *inbox, const uv_handle_t *h);

#endif
