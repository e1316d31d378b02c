/* engine/outbox.c - what a domain publishes at announce time (domain.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "engine/engine_int.h"

void hub__outbox_init(hub_outbox_t *o)
{
    memset(o, 0, sizeof(*o));
    hub_arena_init(&o->arena);
}

void hub__outbox_reset(hub_outbox_t *o)
{
    o->n = 0;
    hub_arena_reset(&o->arena);
}

void hub__outbox_free(hub_outbox_t *o)
{
    hub_arena_reset(&o->arena);
    hub_free(o->msgs);
    o->msgs = NULL;
    o->n = o->cap = 0;
}

static hub_outmsg_t *add(hub_outbox_t *o, int kind, const char *name, const char *text, size_t len)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 8;
        o->msgs = hub_realloc(o->msgs, o->cap * sizeof(*o->msgs));
    }
    hub_outmsg_t *m = &o->msgs[o->n++];
    memset(m, 0, sizeof(*m));
    m->kind = kind;
    m->name = hub_arena_strndup(&o->arena, name, strlen(name));
    m->text = hub_arena_strndup(&o->arena, text, len);
    m->len = len;
    return m;
}

void hub_outbox_mqtt(hub_outbox_t *o, const char *topic, const char *payload, size_t len, int qos,
                     int retain, int flags)
{
    hub_outmsg_t *m = add(o, HUB_OUT_MQTT, topic, payload, len);
    m->qos = qos;
    m->retain = retain;
    m->flags = flags;
}

void hub_outbox_mqtt_ex(hub_outbox_t *o, const char *topic, const char *payload, size_t len,
                        int qos, int retain, int flags, hub_sent_fn sent, void *ctx, uint64_t token)
{
    hub_outmsg_t *m = add(o, HUB_OUT_MQTT, topic, payload, len);
    m->qos = sent != NULL ? 1 : qos;
    m->retain = retain;
    m->flags = flags;
    m->sent = sent;
    m->sent_ctx = ctx;
    m->token = token;
}

void hub_outbox_mqtt_tracked(hub_outbox_t *o, const char *topic, const char *payload, size_t len,
                             int retain, hub_sent_fn sent, void *ctx, uint64_t token)
{
    hub_outbox_mqtt_ex(o, topic, payload, len, 1, retain, 0, sent, ctx, token);
}

void hub_reply_error(hub_reply_t *r, int status, const char *msg)
{
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "error");
    hub_jbuf_str(&b, msg);
    hub_jbuf_close(&b, '}');
    hub_reply_send(r, status, b.p, b.len);
    hub_jbuf_free(&b);
}

void hub_outbox_frame(hub_outbox_t *o, const char *room, const char *text, size_t len)
{
    add(o, HUB_OUT_FRAME, room, text, len);
}

void hub_outbox_view(hub_outbox_t *o, const char *view, const char *text, size_t len)
{
    add(o, HUB_OUT_VIEW, view, text, len);
}

void hub_outbox_event(hub_outbox_t *o, int level, const char *source, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    hub_outmsg_t *m = add(o, HUB_OUT_EVENT, source, msg, (size_t)n);
    m->level = level;
}
