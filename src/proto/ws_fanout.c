/* proto/ws_fanout.c - the loop thread's side of the WebSocket fan-out.
 *
 * Everything a group commit makes for WebSocket clients is framed once, in
 * seq order, into one buffer: for each applied intent the results of its
 * WS senders (private frames), then its patch (for the rooms its paths
 * touch) and any frames its domain sends to a room (the seed-000 "state"
 * frames in room "demo"). At the end of the commit (on_flush) the buffer is
 * posted, one reference each, to every network context, which writes each
 * session what it wants of it (ws.c, hub__ws_deliver). So one group commit
 * costs one message per context and one write per client.
 *
 * DMX frames (room "frames") come from the output thread and are posted
 * the same way, in a buffer of their own (hub__fanout_frames).
 *
 * Threading: loop thread only, except hub__fanout_frames (any thread); a
 * buffer is read-only once posted.
 */
#include <stdio.h>
#include <string.h>

#include "core/base64.h"
#include "core/jbuf.h"
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

/* Post f to every live context (any thread for DMX frames: nets and their
 * inboxes live until hub_server_free, after the output thread stopped). */
static void post_all(hub_server_t *s, hub_frame_t *f)
{
    int live = 0;

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

void hub__fanout_flush(hub_server_t *s)
{
    hub_frame_t *f = s->pend;

    if (f == NULL)
        return;
    s->pend = NULL;
    post_all(s, f);
}

static int anyone(const hub_server_t *s)
{
    return atomic_load_explicit(&s->ws_clients, memory_order_relaxed) > 0;
}

void hub__ws_render_patch(hub_jbuf_t *b, uint64_t seq, const char *patches, size_t len)
{
    hub_jbuf_lit(b, "{\"type\":\"patch\",\"seq\":");
    hub_jbuf_uint(b, seq);
    hub_jbuf_lit(b, ",\"patches\":");
    hub_jbuf_raw(b, patches, len);
    hub_jbuf_lit(b, "}");
}

void hub__fanout_announce(hub_server_t *s, const hub_announce_t *ann)
{
    hub_frame_meta_t m;
    hub_jbuf_t b;

    /* Nobody to tell: a client that connects next starts from a snapshot. */
    if (!anyone(s))
        return;
    memset(&m, 0, sizeof(m));
    m.seq = ann->seq;
    m.flags = HUB_FRAME_SEQ;
    if (ann->nchanges > 0) {
        hub_jbuf_init(&b);
        hub__ws_render_patch(&b, ann->seq, ann->patches, ann->patches_len);
        m.rooms = ann->rooms;
        hub__frame_append(&s->pend, b.p, b.len, &m);
        hub_jbuf_free(&b);
    }
    for (size_t i = 0; i < ann->nmsgs; i++) {
        const hub_outmsg_t *o = &ann->msgs[i];
        int bit;
        if (o->kind != HUB_OUT_FRAME)
            continue;
        bit = hub_engine_room_bit(s->d.engine, o->name, strlen(o->name));
        if (bit < 0)
            continue;
        m.rooms = 1ull << bit;
        hub__frame_append(&s->pend, o->text, o->len, &m);
    }
}

void hub__fanout_private(hub_server_t *s, hub_peer_t *peer, const char *text, size_t len)
{
    hub_frame_meta_t m;

    memset(&m, 0, sizeof(m));
    m.flags = HUB_FRAME_PRIVATE;
    m.target = peer->id;
    hub__frame_append(&s->pend, text, len, &m);
}

void hub__fanout_event(hub_server_t *s, const hub_event_t *ev)
{
    static const char *const levels[] = {"info", "warning", "error"};
    hub_frame_meta_t m;
    hub_jbuf_t b;

    if (!anyone(s))
        return;
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "type");
    hub_jbuf_str(&b, "event");
    hub_jbuf_key(&b, "level");
    hub_jbuf_str(&b, levels[ev->level >= 0 && ev->level <= 2 ? ev->level : 0]);
    hub_jbuf_key(&b, "message");
    hub_jbuf_str(&b, ev->message);
    hub_jbuf_key(&b, "source");
    hub_jbuf_str(&b, ev->source);
    hub_jbuf_key(&b, "ts");
    hub_jbuf_uint(&b, ev->ts_ms);
    hub_jbuf_close(&b, '}');
    memset(&m, 0, sizeof(m));
    m.rooms = 1ull << HUB_ROOM_SYSTEM;
    hub__frame_append(&s->pend, b.p, b.len, &m);
    hub_jbuf_free(&b);
}

void hub__fanout_free(hub_server_t *s)
{
    if (s->pend != NULL)
        hub__frame_free(s->pend);
    s->pend = NULL;
}

int hub_server_frames_wanted(const hub_server_t *s)
{
    return atomic_load_explicit(&((hub_server_t *)s)->room_clients[HUB_ROOM_FRAMES],
                                memory_order_relaxed) > 0;
}

void hub_server_dmx_frames(hub_server_t *s, const int *universes, const uint8_t (*slots)[512],
                           size_t n, uint64_t ts_ms)
{
    char head[96], data[HUB_BASE64_LEN(512) + 1], text[HUB_BASE64_LEN(512) + 160];
    hub_frame_t *f = NULL;
    hub_frame_meta_t m;

    if (n == 0 || !hub_server_frames_wanted(s) || atomic_load(&s->closing))
        return;
    memset(&m, 0, sizeof(m));
    m.rooms = 1ull << HUB_ROOM_FRAMES;
    m.flags = HUB_FRAME_UNIVERSE;
    for (size_t i = 0; i < n; i++) {
        hub_base64_encode(slots[i], 512, data);
        snprintf(head, sizeof(head), "{\"type\":\"frame\",\"universe\":%d,\"data\":\"",
                 universes[i]);
        int len = snprintf(text, sizeof(text), "%s%s\",\"ts\":%llu}", head, data,
                           (unsigned long long)ts_ms);
        m.universe = universes[i];
        hub__frame_append(&f, text, (size_t)len, &m);
    }
    post_all(s, f);
}
