/* engine/queue.h - the bounded command queue and its overflow policy.
 *
 * FIFO of intents, at most capacity. When full, pushing drops the oldest
 * queued intent whose src is "ui" (returned through *dropped, for the caller
 * to answer) and queues the new one; with no "ui" intent queued the new
 * intent is refused (HUB_EOVERLOAD), so infrastructure traffic is never
 * dropped silently. Loop thread only; O(1) per operation.
 */
#ifndef HUB_ENGINE_QUEUE_H
#define HUB_ENGINE_QUEUE_H

#include <stddef.h>

#include "engine/intent.h"

typedef struct hub_queue {
    hub_intent_t *head, *tail;       /* all queued, oldest first */
    hub_intent_t *ui_head, *ui_tail; /* the "ui" ones among them, oldest first */
    size_t len;
    size_t capacity;
} hub_queue_t;

void hub_queue_init(hub_queue_t *q, size_t capacity);
/* Queue cmd (ownership moves to q) and return 0, setting *dropped to a
 * intent the policy removed (owned by the caller now) or NULL. Returns
 * HUB_EOVERLOAD and keeps nothing when full with no "ui" command queued. */
int hub_queue_push(hub_queue_t *q, hub_intent_t *cmd, hub_intent_t **dropped);
/* Oldest command (ownership to the caller), or NULL when empty. */
hub_intent_t *hub_queue_pop(hub_queue_t *q);
/* Unlink every queued intent and return them as a next-linked list. */
hub_intent_t *hub_queue_take_all(hub_queue_t *q);

#endif
