/* engine/queue.c - bounded FIFO with the drop-oldest-ui overflow policy. */
#include "engine/queue.h"

#include "core/err.h"

void hub_queue_init(hub_queue_t *q, size_t capacity)
{
    q->head = q->tail = q->ui_head = q->ui_tail = NULL;
    q->len = 0;
    q->capacity = capacity;
}

static void unlink_intent(hub_queue_t *q, hub_intent_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        q->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        q->tail = c->prev;
    if (c->is_ui) {
        if (c->ui_prev)
            c->ui_prev->ui_next = c->ui_next;
        else
            q->ui_head = c->ui_next;
        if (c->ui_next)
            c->ui_next->ui_prev = c->ui_prev;
        else
            q->ui_tail = c->ui_prev;
    }
    c->next = c->prev = c->ui_next = c->ui_prev = NULL;
    q->len--;
}

int hub_queue_push(hub_queue_t *q, hub_intent_t *cmd, hub_intent_t **dropped)
{
    *dropped = NULL;
    if (q->len >= q->capacity) {
        if (q->ui_head == NULL)
            return HUB_EOVERLOAD;
        *dropped = q->ui_head;
        unlink_intent(q, q->ui_head);
    }
    cmd->next = NULL;
    cmd->prev = q->tail;
    if (q->tail)
        q->tail->next = cmd;
    else
        q->head = cmd;
    q->tail = cmd;
    cmd->ui_next = cmd->ui_prev = NULL;
    if (cmd->is_ui) {
        cmd->ui_prev = q->ui_tail;
        if (q->ui_tail)
            q->ui_tail->ui_next = cmd;
        else
            q->ui_head = cmd;
        q->ui_tail = cmd;
    }
    q->len++;
    return 0;
}

hub_intent_t *hub_queue_pop(hub_queue_t *q)
{
    hub_intent_t *c = q->head;
    if (c != NULL)
        unlink_intent(q, c);
    return c;
}

hub_intent_t *hub_queue_take_all(hub_queue_t *q)
{
    hub_intent_t *all = q->head;
    for (hub_intent_t *c = all; c != NULL; c = c->next)
        c->prev = c->ui_next = c->ui_prev = NULL;
    q->head = q->tail = q->ui_head = q->ui_tail = NULL;
    q->len = 0;
    return all;
}
