/* proto/http_pages.c - answers rendered on the loop thread, where the state
 * they report lives: /readyz, /metrics, /devices, GET /api/v1/state, the
 * domains' read routes, the journal, and the snapshot or replay a WebSocket
 * session asks for with hello or subscribe. proto/relay.c brings each
 * request here and the answer back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/err.h"
#include "core/jbuf.h"
#include "core/mem.h"
#include "proto/proto_int.h"

/* A client further behind than this gets a snapshot, not a replay. */
#define HELLO_REPLAY_MAX 100000

char *hub__page_readyz(hub_server_t *s, int *status, size_t *len)
{
    json_t *o = json_object();
    int ready = 1;
    char why[256];
    size_t depth = hub_engine_queue_depth(s->d.engine);

    if (s->d.mqtt != NULL) {
        json_object_set_new(o, "mqtt", json_string(hub_mqtt_status(s->d.mqtt)));
        if (!hub_mqtt_connected(s->d.mqtt))
            ready = 0;
        if (hub_engine_link(s->d.engine) == HUB_LINK_UNREACHABLE)
            json_object_set_new(o, "simulation",
                                json_string("the MQTT broker is unreachable: scene actions are "
                                            "logged as simulated, not sent"));
    } else {
        json_object_set_new(o, "mqtt", json_string("disabled (DMX_MQTT_ENABLED=false)"));
    }
    json_object_set_new(o, "queue_depth", json_integer((json_int_t)depth));
    if (depth > 0)
        ready = 0;
    if (s->d.ready != NULL) {
        why[0] = '\0';
        if (!s->d.ready(s->d.ready_ud, why, sizeof(why))) {
            ready = 0;
            json_object_set_new(o, "store", json_string(why));
        }
    }
    if (atomic_load(&s->closing))
        ready = 0;
    json_object_set_new(o, "status", json_string(ready ? "ready" : "not ready"));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    *status = ready ? 200 : 503;
    *len = strlen(text);
    char *copy = hub_strndup(text, *len);
    free(text);
    return copy;
}

static hub_answer_t *new_answer(hub_peer_t *peer)
{
    hub_answer_t *a = hub_calloc(1, sizeof(*a));
    a->peer = peer;
    a->status = 200;
    a->ctype = "application/json";
    return a;
}

static void error_body(hub_answer_t *a, const hub_error_t *err)
{
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "ok");
    hub_jbuf_bool(&b, 0);
    hub_jbuf_key(&b, "error");
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "code");
    hub_jbuf_str(&b, hub_errcode_name(err->code));
    hub_jbuf_key(&b, "message");
    hub_jbuf_str(&b, err->msg);
    if (err->field[0]) {
        hub_jbuf_key(&b, "field");
        hub_jbuf_str(&b, err->field);
    }
    hub_jbuf_close(&b, '}');
    hub_jbuf_close(&b, '}');
    a->status = hub_errcode_http(err->code);
    a->body = hub_jbuf_take(&b, &a->len);
}

/* Append {"type":"snapshot","seq":N,"state":{…}} of the state rooms in rooms. */
static void append_snapshot(hub_server_t *s, uint64_t rooms, hub_frame_t **fp)
{
    hub_jbuf_t b, st;

    hub_jbuf_init(&st);
    hub_engine_render_state(s->d.engine, rooms, &st);
    hub_jbuf_init(&b);
    hub_jbuf_lit(&b, "{\"type\":\"snapshot\",");
    hub_jbuf_raw(&b, st.p + 1, st.len - 1);
    hub__frame_append(fp, b.p, b.len, NULL);
    hub_jbuf_free(&b);
    hub_jbuf_free(&st);
}

/* A hello that carried a req_id is told when the session is in sync:
 * {"type":"result","req_id":…,"ok":true,"seq":N} after its snapshot or
 * replay (and alone when nothing was missed). Then the frames are ready. */
static void finish_hello(hub_answer_t *a, const char *req_id, uint64_t seq)
{
    if (req_id[0] != '\0') {
        hub_jbuf_t b;
        hub_jbuf_init(&b);
        hub_jbuf_lit(&b, "{\"type\":\"result\",");
        hub_jbuf_key(&b, "req_id");
        hub_jbuf_str(&b, req_id);
        hub_jbuf_key(&b, "ok");
        hub_jbuf_bool(&b, 1);
        hub_jbuf_key(&b, "seq");
        hub_jbuf_uint(&b, seq);
        hub_jbuf_close(&b, '}');
        hub__frame_append(&a->frames, b.p, b.len, NULL);
        hub_jbuf_free(&b);
    }
    if (a->frames != NULL)
        hub__frame_ref(a->frames, 1);
}

/* ---- the journal ------------------------------------------------------------------- */

typedef struct journal_wait {
    hub_server_t *s;
    hub_net_t *net;
    hub_peer_t *peer; /* the reference the query carried */
    uint64_t rooms;   /* hello */
    uint64_t upto;    /* hello: the seq the session was told it starts after */
    int hello;
    char req_id[HUB_REQ_ID_MAX + 1]; /* hello: "" or its req_id */
} journal_wait_t;

static void render_entries(hub_jbuf_t *b, const hub_journal_page_t *p)
{
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < p->n; i++) {
        const hub_journal_entry_t *e = &p->entries[i];
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "seq");
        hub_jbuf_uint(b, e->seq);
        hub_jbuf_key(b, "req_id");
        hub_jbuf_str(b, e->req_id);
        hub_jbuf_key(b, "src");
        hub_jbuf_str(b, e->src);
        hub_jbuf_key(b, "name");
        hub_jbuf_str(b, e->name);
        hub_jbuf_key(b, "payload");
        hub_jbuf_json(b, e->payload, strlen(e->payload));
        hub_jbuf_key(b, "patches");
        if (e->patches != NULL)
            hub_jbuf_json(b, e->patches, strlen(e->patches));
        else
            hub_jbuf_null(b);
        hub_jbuf_key(b, "ts");
        hub_jbuf_uint(b, e->ts_ms);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
}

/* The room bits of a journal entry's "dmx,show" list. */
static uint64_t rooms_of(const hub_engine_t *e, const char *list)
{
    uint64_t mask = 0;
    while (list != NULL && *list) {
        const char *comma = strchr(list, ',');
        size_t n = comma ? (size_t)(comma - list) : strlen(list);
        int bit = hub_engine_room_bit(e, list, n);
        if (bit >= 0)
            mask |= 1ull << bit;
        list = comma ? comma + 1 : NULL;
    }
    return mask;
}

static void on_hello_journal(hub_journal_page_t *p, void *ud)
{
    journal_wait_t *w = ud;
    hub_server_t *s = w->s;
    hub_answer_t *a = new_answer(w->peer);
    uint64_t want = w->upto - p->since; /* entries since+1 .. upto */
    int ok = p->rc == 0 && p->n >= want;

    for (uint64_t i = 0; ok && i < want; i++)
        ok = p->entries[i].seq == p->since + 1 + i && p->entries[i].patches != NULL;
    if (ok) {
        hub_jbuf_t b;
        hub_frame_meta_t m;
        hub_jbuf_init(&b);
        memset(&m, 0, sizeof(m));
        m.flags = HUB_FRAME_SEQ;
        for (uint64_t i = 0; i < want; i++) {
            const hub_journal_entry_t *e = &p->entries[i];
            m.seq = e->seq;
            m.rooms = rooms_of(s->d.engine, e->rooms);
            if ((m.rooms & w->rooms) == 0)
                continue;
            hub_jbuf_reset(&b);
            hub__ws_render_patch(&b, e->seq, e->patches, strlen(e->patches));
            hub__frame_append(&a->frames, b.p, b.len, &m);
        }
        hub_jbuf_free(&b);
        a->ws_kind = HUB_WS_REPLAY;
        a->seq = w->upto;
    } else {
        /* The journal no longer holds them all: the whole state instead. */
        a->ws_kind = HUB_WS_SNAPSHOT;
        a->seq = hub_engine_seq(s->d.engine);
        append_snapshot(s, w->rooms, &a->frames);
    }
    finish_hello(a, w->req_id, a->seq);
    hub__relay_answer(w->net, a);
    hub_journal_page_free(p);
    hub_free(w);
}

static void on_journal_page(hub_journal_page_t *p, void *ud)
{
    journal_wait_t *w = ud;
    hub_answer_t *a = new_answer(w->peer);

    if (p->rc != 0) {
        hub_error_t err;
        hub_error_set(&err, HUB_ERR_OVERLOADED, "",
                      p->rc == HUB_ESHUTDOWN ? "shutting down"
                                             : "the journal could not be read; see the hub's log");
        error_body(a, &err);
        a->retry_after = 1;
    } else {
        hub_jbuf_t b;
        hub_jbuf_init(&b);
        hub_jbuf_open(&b, '{');
        hub_jbuf_key(&b, "entries");
        render_entries(&b, p);
        hub_jbuf_key(&b, "next");
        hub_jbuf_uint(&b, p->n > 0 ? p->entries[p->n - 1].seq : p->since);
        hub_jbuf_key(&b, "oldest");
        hub_jbuf_uint(&b, p->oldest);
        hub_jbuf_close(&b, '}');
        a->body = hub_jbuf_take(&b, &a->len);
    }
    hub__relay_answer(w->net, a);
    hub_journal_page_free(p);
    hub_free(w);
}

static journal_wait_t *wait_new(hub_server_t *s, hub_net_t *net, hub_peer_t *peer)
{
    journal_wait_t *w = hub_calloc(1, sizeof(*w));
    w->s = s;
    w->net = net;
    w->peer = peer;
    return w;
}

/* ---- WebSocket hello and subscribe ------------------------------------------------- */

static hub_answer_t *hello(hub_server_t *s, hub_net_t *net, hub_peer_t *peer, hub_query_t *q)
{
    uint64_t n = hub_engine_seq(s->d.engine);
    hub_answer_t *a = new_answer(peer);

    a->rooms = q->rooms;
    a->seq = n;
    if ((q->rooms & (1ull << HUB_ROOM_FRAMES)) && s->d.frames_refresh != NULL)
        s->d.frames_refresh(s->d.frames_ud);
    if (q->has_since && q->since == n) {
        a->ws_kind = HUB_WS_ROOMS; /* nothing missed */
        finish_hello(a, q->req_id, n);
        return a;
    }
    if (!q->has_since || q->since > n || n - q->since > HELLO_REPLAY_MAX ||
        s->d.read_journal == NULL) {
        a->ws_kind = HUB_WS_ROOMS;
        append_snapshot(s, q->rooms, &a->frames);
        finish_hello(a, q->req_id, n);
        return a;
    }
    /* Hold what comes after n; the replay of since+1..n follows. The BEGIN
     * answer takes the query's peer reference, the wait one of its own. */
    journal_wait_t *w = wait_new(s, net, hub__peer_ref(peer));
    a->ws_kind = HUB_WS_BEGIN;
    hub__relay_answer(net, a);
    w->hello = 1;
    w->rooms = q->rooms;
    w->upto = n;
    memcpy(w->req_id, q->req_id, sizeof(w->req_id));
    s->d.read_journal(s->d.journal_ud, q->since, (size_t)(n - q->since), on_hello_journal, w);
    return NULL;
}

static hub_answer_t *subscribe(hub_server_t *s, hub_peer_t *peer, hub_query_t *q)
{
    hub_answer_t *a = new_answer(peer);
    uint64_t state = q->rooms & hub_engine_state_rooms(s->d.engine);

    a->ws_kind = HUB_WS_JOIN;
    a->rooms = q->rooms;
    a->seq = hub_engine_seq(s->d.engine);
    if ((q->rooms & (1ull << HUB_ROOM_FRAMES)) && s->d.frames_refresh != NULL)
        s->d.frames_refresh(s->d.frames_ud);
    if (state != 0)
        append_snapshot(s, state, &a->frames);
    if (s->room_demo >= 0 && (q->rooms & (1ull << s->room_demo))) {
        size_t wl = 0;
        const char *ws = hub_engine_view(s->d.engine, "ws_state", &wl);
        if (ws != NULL)
            hub__frame_append(&a->frames, ws, wl, NULL);
    }
    if (a->frames != NULL)
        hub__frame_ref(a->frames, 1);
    return a;
}

/* ---- the dispatcher ------------------------------------------------------------------ */

hub_answer_t *hub__page_query(hub_server_t *s, hub_net_t *net, hub_peer_t *peer, hub_query_t *q)
{
    hub_answer_t *a;
    hub_jbuf_t b;
    hub_error_t err;

    switch (q->what) {
    case HUB_Q_READYZ:
        a = new_answer(peer);
        a->body = hub__page_readyz(s, &a->status, &a->len);
        return a;
    case HUB_Q_METRICS: {
        a = new_answer(peer);
        a->ctype = "text/plain; version=0.0.4; charset=utf-8";
        size_t n;
        char *text = hub_metrics_render(s->d.metrics, &n);
        a->body = text;
        a->len = n;
        return a;
    }
    case HUB_Q_DEVICES:
        a = new_answer(peer);
        if (s->d.mqtt != NULL) {
            a->body = hub_mqtt_devices_json(s->d.mqtt, &a->len);
        } else {
            a->body = hub_strdup("[]");
            a->len = 2;
        }
        return a;
    case HUB_Q_STATE: {
        uint64_t seq = hub_engine_seq(s->d.engine);
        a = new_answer(peer);
        snprintf(a->etag, sizeof(a->etag), "\"%llu\"", (unsigned long long)seq);
        if (q->if_none_match == seq + 1) {
            a->status = 304;
            return a;
        }
        hub_jbuf_init(&b);
        hub_engine_render_state(s->d.engine, q->rooms, &b);
        a->body = hub_jbuf_take(&b, &a->len);
        return a;
    }
    case HUB_Q_ROUTE:
        if (q->route->read_async != NULL) {
            hub_reply_t *r = hub__reply_new(net, peer);
            memset(&err, 0, sizeof(err));
            if (q->route->read_async(q->route_ctx, q->rq, r, &err) == 0)
                return NULL; /* the reply has the peer now */
            hub_free(r);     /* not taken: the reference is ours again */
            a = new_answer(peer);
            error_body(a, &err);
            return a;
        }
        a = new_answer(peer);
        hub_jbuf_init(&b);
        memset(&err, 0, sizeof(err));
        if (q->route->read(q->route_ctx, q->rq, &b, &err) != 0) {
            hub_jbuf_free(&b);
            error_body(a, &err);
            return a;
        }
        a->body = hub_jbuf_take(&b, &a->len);
        return a;
    case HUB_Q_JOURNAL:
        if (s->d.read_journal == NULL) {
            a = new_answer(peer);
            hub_error_set(&err, HUB_ERR_OVERLOADED, "", "this hub keeps no journal");
            error_body(a, &err);
            return a;
        }
        s->d.read_journal(s->d.journal_ud, q->since, q->limit, on_journal_page,
                          wait_new(s, net, peer));
        return NULL;
    case HUB_Q_HELLO: return hello(s, net, peer, q);
    case HUB_Q_SUBSCRIBE: return subscribe(s, peer, q);
    default:
        a = new_answer(peer);
        a->status = 500;
        a->body = hub_strdup("{\"error\":\"unknown query\"}");
        a->len = strlen(a->body);
        return a;
    }
}
