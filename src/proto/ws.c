/* proto/ws.c - the /ws WebSocket: sessions, rooms, messages in, frames out.
 *
 * Two protocols share the socket. Seed 000's: the first frame of every
 * connection is the current state ({"type":"state",…}), `set` changes the
 * demo fixture and every change comes back as a state frame (room "demo",
 * where every session starts). Seed 001's: `hello` (a snapshot, or the
 * patches missed since a seq), `intent` (exactly one `result`), `patch`
 * frames for the rooms a session is in, `subscribe`/`unsubscribe`, `event`
 * frames in room "system" and live DMX output in room "frames".
 *
 * Runs on a network context's thread (proto_int.h). The loop thread frames
 * what each group commit produced into one buffer (ws_fanout.c) and posts
 * it to every context; here each session gets the frames it wants of it
 * (its rooms, its results, what its snapshot does not already cover), in
 * one write, or, for a session that cannot take it at once, onto the
 * session's ring of refcounted buffers, written when lws says the socket is
 * writable. A session whose oldest unsent frame is older than DMX_WS_SLOW_MS,
 * or whose ring holds DMX_WS_BACKLOG frames, is disconnected (1008 "too
 * slow") so it never holds up anyone else. Every write is pre-framed
 * (LWS_WRITE_RAW), so lws's own control frames (pong, close) can only go
 * between whole frames.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/jbuf.h"
#include "core/log.h"
#include "core/mem.h"
#include "proto/frame.h"
#include "proto/proto_int.h"

#define SNDBUF_BYTES    (128 * 1024)
#define WRITES_PER_TURN 32
#define UNIVERSES_MAX   1024
#define SELECT_CACHE    8

typedef struct hub_ws_sess {
    struct hub_ws_sess *next, *prev;
    struct lws *wsi;
    hub_ws_hub_t *hub;
    hub_frame_t **ring;
    size_t cap, head, count;
    size_t frames;     /* WebSocket frames in the ring (entries hold one or more) */
    uint64_t last_seq; /* the newest seq this session has (or its snapshot covers) */
    uint64_t rooms;    /* room bits */
    int *universes;    /* room "frames" narrowed to these (sorted); NULL: all */
    size_t nuniverses;
    int hold;         /* a replay is coming: queue, do not write */
    hub_peer_t *peer; /* intents' way back to this session */
    char *rx;
    size_t rx_len, rx_cap;
    int rx_binary;
    int kill;
} sess_t;

struct hub_ws_hub {
    hub_net_t *net;
    hub_server_t *s;
    sess_t *head;
    size_t nclients;
    int closing;
};

/* ---- rooms ------------------------------------------------------------------ */

static void set_rooms(sess_t *ss, uint64_t rooms)
{
    hub_server_t *s = ss->hub->s;
    uint64_t diff = ss->rooms ^ rooms;

    for (int i = 0; diff != 0 && i < HUB_MAX_ROOMS; i++) {
        if (!(diff & (1ull << i)))
            continue;
        diff &= ~(1ull << i);
        atomic_fetch_add(&s->room_clients[i], (rooms & (1ull << i)) ? 1 : -1);
    }
    ss->rooms = rooms;
    if (!(rooms & (1ull << HUB_ROOM_FRAMES))) {
        hub_free(ss->universes);
        ss->universes = NULL;
        ss->nuniverses = 0;
    }
}

static int has_universe(const sess_t *ss, int u)
{
    size_t lo = 0, hi = ss->nuniverses;
    if (ss->universes == NULL)
        return 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ss->universes[mid] == u)
            return 1;
        if (ss->universes[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* ---- the ring ------------------------------------------------------------------ */

static void ring_clear(sess_t *ss)
{
    while (ss->count > 0) {
        hub__frame_unref(ss->ring[ss->head]);
        ss->head = (ss->head + 1) % ss->cap;
        ss->count--;
    }
    ss->frames = 0;
}

static void kill_sess(sess_t *ss, const char *why)
{
    if (ss->kill)
        return;
    ss->kill = 1;
    hub_metric_inc(ss->hub->s->m_ws_slow);
    hub_log(HUB_LOG_WARN, "ws_slow_client", "{s:s,s:I}", "reason", why, "backlog",
            (json_int_t)ss->frames);
    ring_clear(ss);
    lws_callback_on_writable(ss->wsi);
    /* A socket that never drains never becomes writable: close it anyway. */
    lws_set_timeout(ss->wsi, PENDING_TIMEOUT_USER_OK, 1);
}

static void ring_grow(sess_t *ss)
{
    size_t ncap = ss->cap ? ss->cap * 2 : 4;
    hub_frame_t **nr = hub_malloc(ncap * sizeof(*nr));
    for (size_t i = 0; i < ss->count; i++)
        nr[i] = ss->ring[(ss->head + i) % ss->cap];
    hub_free(ss->ring);
    ss->ring = nr;
    ss->cap = ncap;
    ss->head = 0;
}

/* Queue f on ss (taking a reference). Grows the ring up to the backlog
 * limit (small clients stay small: 10,000 sessions must fit in a few MB). */
static void enqueue(sess_t *ss, hub_frame_t *f, uint64_t now_us, int front)
{
    const hub_config_t *cfg = ss->hub->s->d.cfg;

    if (ss->kill)
        return;
    /* Frames are made on other threads, so a head newer than now is age 0.
     * While a replay is awaited, frames wait on purpose. */
    if (!ss->hold && ss->count > 0 && now_us > ss->ring[ss->head]->t_us &&
        now_us - ss->ring[ss->head]->t_us > (uint64_t)cfg->ws_slow_ms * 1000) {
        kill_sess(ss, "behind by more than DMX_WS_SLOW_MS");
        return;
    }
    if (ss->frames >= (size_t)cfg->ws_backlog) {
        kill_sess(ss, "backlog over DMX_WS_BACKLOG frames");
        return;
    }
    if (ss->count == ss->cap)
        ring_grow(ss);
    if (front) {
        ss->head = (ss->head + ss->cap - 1) % ss->cap;
        ss->ring[ss->head] = f;
    } else {
        ss->ring[(ss->head + ss->count) % ss->cap] = f;
    }
    ss->count++;
    ss->frames += f->nframes;
    hub__frame_ref(f, 1);
    if (!ss->hold)
        lws_callback_on_writable(ss->wsi);
}

static void send_private(sess_t *ss, const char *text, size_t len)
{
    hub_frame_t *f = hub__frame_new(text, len);
    enqueue(ss, f, hub_mono_us(), 0);
    if (atomic_load(&f->refs) == 0)
        hub__frame_free(f);
}

static void send_error(sess_t *ss, const char *cmd_id, const char *msg, const char *field)
{
    json_t *o = json_pack("{s:s,s:o,s:s,s:s}", "type", "error", "cmdId",
                          cmd_id && cmd_id[0] ? json_string(cmd_id) : json_null(), "error", msg,
                          "field", field ? field : "");
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    hub_metric_inc(ss->hub->s->m_ws_errors);
    send_private(ss, text, strlen(text));
    free(text);
    json_decref(o);
}

/* {"type":"result","req_id":…,"ok":false,"error":{…}} for a message refused
 * before it reached the engine. */
static void send_refusal(sess_t *ss, const char *req_id, const hub_error_t *err)
{
    json_t *e = json_pack("{s:s,s:s}", "code", hub_errcode_name(err->code), "message", err->msg);
    if (err->field[0] != '\0')
        json_object_set_new(e, "field", json_string(err->field));
    json_t *o =
        json_pack("{s:s,s:o,s:b,s:o}", "type", "result", "req_id",
                  req_id && req_id[0] ? json_string(req_id) : json_null(), "ok", 0, "error", e);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    hub_metric_inc(ss->hub->s->m_ws_errors);
    send_private(ss, text, strlen(text));
    free(text);
    json_decref(o);
}

static void send_ok(sess_t *ss, const char *req_id)
{
    json_t *o = json_pack("{s:s,s:s,s:b}", "type", "result", "req_id", req_id, "ok", 1);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    send_private(ss, text, strlen(text));
    free(text);
    json_decref(o);
}

/* Write f to ss at once when nothing is waiting ahead of it: one write()
 * instead of asking lws for a writable callback, which costs two epoll_ctl
 * and a loop turn per client per state. Only from outside lws callbacks
 * (broadcasts arrive through the context's inbox). A partial write is
 * buffered by lws; frames after it queue in the ring, where their age
 * counts towards DMX_WS_SLOW_MS. Returns 1 if written. */
static int write_direct(sess_t *ss, hub_frame_t *f, hub_tally_t *lat)
{
    if (ss->kill || ss->hold || ss->count > 0 || lws_partial_buffered(ss->wsi))
        return 0;
    if (lws_write(ss->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_RAW) < (int)f->len) {
        lws_set_timeout(ss->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        ss->kill = 1;
        return 1;
    }
    if (f->broadcast)
        hub_tally_observe(lat, (double)(hub_mono_us() - f->t_us) / 1e6);
    return 1;
}

/* ---- delivering a buffer ---------------------------------------------------------- */

typedef struct sel {
    const sess_t *ss;
    uint64_t rooms;
    uint64_t after; /* sequenced frames must be newer than this */
} sel_t;

static int keep_frame(const hub_frame_meta_t *m, void *ud)
{
    const sel_t *s = ud;
    if (m->flags & HUB_FRAME_PRIVATE)
        return s->ss != NULL && m->target == s->ss->peer->id;
    if ((m->rooms & s->rooms) == 0)
        return 0;
    if ((m->flags & HUB_FRAME_SEQ) && m->seq <= s->after)
        return 0;
    if ((m->flags & HUB_FRAME_UNIVERSE) && s->ss != NULL && !has_universe(s->ss, m->universe))
        return 0;
    return 1;
}

static void give(sess_t *ss, hub_frame_t *g, uint64_t now, hub_tally_t *lat)
{
    if (g->max_seq > ss->last_seq)
        ss->last_seq = g->max_seq;
    if (!write_direct(ss, g, lat))
        enqueue(ss, g, now, 0);
}

/* One buffer (a group commit's, or DMX frames) to every session here that
 * wants some of it. Sessions that want the same selection share it. */
void hub__ws_deliver(hub_ws_hub_t *h, hub_frame_t *f)
{
    struct {
        uint64_t rooms;
        hub_frame_t *g;
    } cache[SELECT_CACHE];
    int ncache = 0;
    uint64_t now = hub_mono_us(), minseq = UINT64_MAX;
    uint64_t targets[16];
    int ntargets = 0, many_targets = 0;
    hub_tally_t lat;

    if (h->closing)
        return;
    for (unsigned i = 0; i < f->nframes; i++) {
        const hub_frame_meta_t *m = &f->meta[i];
        if ((m->flags & HUB_FRAME_SEQ) && m->seq < minseq)
            minseq = m->seq;
        if (m->flags & HUB_FRAME_PRIVATE) {
            if (ntargets < 16)
                targets[ntargets++] = m->target;
            else
                many_targets = 1;
        }
    }
    hub_tally_init(&lat, h->s->m_ws_latency);
    for (sess_t *ss = h->head; ss != NULL; ss = ss->next) {
        int own = many_targets;
        for (int t = 0; t < ntargets && !own; t++)
            own = targets[t] == ss->peer->id;
        sel_t sel = {ss, ss->rooms, ss->last_seq};
        hub_frame_t *g;
        if (own || (minseq != UINT64_MAX && ss->last_seq >= minseq) || ss->universes != NULL) {
            g = hub__frame_select(f, keep_frame, &sel); /* this session's own selection */
            if (g == NULL)
                continue;
            give(ss, g, now, &lat);
            if (g != f && atomic_load(&g->refs) == 0)
                hub__frame_free(g);
            continue;
        }
        g = NULL;
        int c;
        for (c = 0; c < ncache && cache[c].rooms != ss->rooms; c++)
            ;
        if (c < ncache) {
            g = cache[c].g;
        } else {
            sel.ss = NULL; /* no private frames, no universe filter: shareable */
            g = hub__frame_select(f, keep_frame, &sel);
            if (g != NULL && g != f)
                hub__frame_ref(g, 1); /* the cache's reference */
            if (ncache < SELECT_CACHE) {
                cache[ncache].rooms = ss->rooms;
                cache[ncache].g = g;
                ncache++;
            } else if (g != NULL && g != f) {
                give(ss, g, now, &lat);
                hub__frame_unref(g);
                continue;
            }
        }
        if (g != NULL)
            give(ss, g, now, &lat);
    }
    for (int c = 0; c < ncache; c++)
        if (cache[c].g != NULL && cache[c].g != f)
            hub__frame_unref(cache[c].g);
    hub_tally_flush(&lat);
}

hub_ws_hub_t *hub__ws_hub_new(hub_net_t *net)
{
    hub_ws_hub_t *h = hub_calloc(1, sizeof(*h));
    h->net = net;
    h->s = net->s;
    return h;
}

void hub__ws_hub_free(hub_ws_hub_t *h)
{
    hub_free(h);
}

void hub__ws_close_all(hub_ws_hub_t *h)
{
    h->closing = 1;
}

/* ---- answers from the loop thread -------------------------------------------------- */

typedef struct after {
    uint64_t seq;
} after_t;

static int keep_newer(const hub_frame_meta_t *m, void *ud)
{
    const after_t *a = ud;
    return !(m->flags & HUB_FRAME_SEQ) || m->seq > a->seq;
}

/* Held frames the snapshot at seq covers are dropped. */
static void drop_covered(sess_t *ss, uint64_t seq)
{
    after_t a = {seq};
    size_t n = ss->count;
    hub_frame_t **old = hub_malloc((n ? n : 1) * sizeof(*old));

    for (size_t i = 0; i < n; i++)
        old[i] = ss->ring[(ss->head + i) % ss->cap];
    ss->count = 0;
    ss->head = 0;
    ss->frames = 0;
    for (size_t i = 0; i < n; i++) {
        hub_frame_t *g = hub__frame_select(old[i], keep_newer, &a);
        if (g != NULL) {
            if (ss->count == ss->cap)
                ring_grow(ss);
            ss->ring[(ss->head + ss->count) % ss->cap] = g;
            ss->count++;
            ss->frames += g->nframes;
            if (g != old[i])
                hub__frame_ref(g, 1);
        }
        if (g != old[i])
            hub__frame_unref(old[i]);
    }
    hub_free(old);
}

void hub__ws_answer(struct hub_ws_sess *ss, hub_answer_t *a)
{
    uint64_t now = hub_mono_us();

    switch (a->ws_kind) {
    case HUB_WS_FRAMES:
        if (a->frames != NULL)
            enqueue(ss, a->frames, now, 0);
        return;
    case HUB_WS_ROOMS:
    case HUB_WS_JOIN:
        set_rooms(ss, a->ws_kind == HUB_WS_JOIN ? ss->rooms | a->rooms : a->rooms);
        if (a->seq > ss->last_seq)
            ss->last_seq = a->seq;
        if (a->frames != NULL)
            enqueue(ss, a->frames, now, 0);
        return;
    case HUB_WS_BEGIN:
        set_rooms(ss, a->rooms);
        if (a->seq > ss->last_seq)
            ss->last_seq = a->seq;
        ss->hold = 1;
        return;
    case HUB_WS_REPLAY:
    case HUB_WS_SNAPSHOT:
        if (!ss->hold)
            return; /* superseded by a later hello */
        if (a->ws_kind == HUB_WS_SNAPSHOT) {
            drop_covered(ss, a->seq);
            if (a->seq > ss->last_seq)
                ss->last_seq = a->seq;
        }
        if (a->frames != NULL)
            enqueue(ss, a->frames, now, 1); /* ahead of what was held */
        ss->hold = 0;
        if (ss->count > 0)
            lws_callback_on_writable(ss->wsi);
        return;
    default: return;
    }
}

/* ---- messages from a client ------------------------------------------------------- */

/* The room bits of a JSON array of names; refuses an unknown one. */
static int rooms_of(sess_t *ss, const json_t *arr, uint64_t *out, hub_error_t *err)
{
    const hub_engine_t *e = ss->hub->s->d.engine;
    size_t i;
    json_t *v;
    uint64_t mask = 0;

    if (!json_is_array(arr))
        return hub_error_set(err, HUB_ERR_INVALID, "rooms",
                             "rooms must be an array of room names, e.g. [\"dmx\",\"system\"]");
    json_array_foreach(arr, i, v)
    {
        int bit = json_is_string(v)
                      ? hub_engine_room_bit(e, json_string_value(v), json_string_length(v))
                      : -1;
        if (bit < 0) {
            char list[256] = "";
            for (int r = 0; r < hub_engine_nrooms(e); r++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof(list) - l, "%s%s", r ? ", " : "",
                         hub_engine_room_name(e, r));
            }
            return hub_error_set(err, HUB_ERR_INVALID, "rooms",
                                 "unknown room %s%.40s%s: rooms are %s",
                                 json_is_string(v) ? "\"" : "",
                                 json_is_string(v) ? json_string_value(v) : "(not a string)",
                                 json_is_string(v) ? "\"" : "", list);
        }
        mask |= 1ull << bit;
    }
    *out = mask;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

static int take_universes(sess_t *ss, const json_t *arr, hub_error_t *err)
{
    size_t i, n;
    json_t *v;
    int *u;

    if (!json_is_array(arr) || json_array_size(arr) > UNIVERSES_MAX)
        return hub_error_set(err, HUB_ERR_INVALID, "universes",
                             "universes must be an array of at most %d universe numbers",
                             UNIVERSES_MAX);
    n = json_array_size(arr);
    u = hub_malloc((n ? n : 1) * sizeof(int));
    json_array_foreach(arr, i, v)
    {
        double d = json_is_number(v) ? json_number_value(v) : -1;
        if (!json_is_number(v) || d != floor(d) || d < 0 || d > 65535) {
            hub_free(u);
            return hub_error_set(err, HUB_ERR_INVALID, "universes",
                                 "universes must be universe numbers (integers)");
        }
        u[i] = (int)d;
    }
    qsort(u, n, sizeof(int), cmp_int);
    hub_free(ss->universes);
    ss->universes = u;
    ss->nuniverses = n;
    return 0;
}

static const char *req_id_of(const json_t *obj, char buf[HUB_REQ_ID_MAX + 1])
{
    const json_t *v = json_object_get(obj, "req_id");
    buf[0] = '\0';
    if (json_is_string(v) && hub_req_id_valid(json_string_value(v), json_string_length(v)))
        snprintf(buf, HUB_REQ_ID_MAX + 1, "%s", json_string_value(v));
    return buf[0] ? buf : NULL;
}

static void on_intent(sess_t *ss, const json_t *obj)
{
    hub_error_t err;
    hub_intent_t *in;
    char req_id[HUB_REQ_ID_MAX + 1];

    if (hub_intent_from_envelope(obj, "ui", 1, &in, &err, req_id) != 0) {
        send_refusal(ss, req_id, &err);
        return;
    }
    if (hub_engine_prepare(ss->hub->s->d.engine, in, &err) != 0) {
        send_refusal(ss, in->req_id, &err);
        hub_intent_free(in);
        return;
    }
    in->recv_us = hub_mono_us();
    hub__relay_submit(ss->hub->net, ss->peer, in);
}

static void on_hello(sess_t *ss, const json_t *obj)
{
    hub_server_t *s = ss->hub->s;
    hub_query_t q = {.what = HUB_Q_HELLO, .rooms = s->default_rooms};
    const json_t *since = json_object_get(obj, "since"), *rooms = json_object_get(obj, "rooms");
    hub_error_t err;
    char rid[HUB_REQ_ID_MAX + 1];

    if (rooms != NULL && rooms_of(ss, rooms, &q.rooms, &err) != 0) {
        send_refusal(ss, req_id_of(obj, rid), &err);
        return;
    }
    if (since != NULL && !json_is_null(since)) {
        double d = json_is_number(since) ? json_number_value(since) : -1;
        if (!json_is_number(since) || d != floor(d) || d < 0 || d > 9007199254740992.0) {
            hub_error_set(&err, HUB_ERR_INVALID, "since",
                          "since must be the last seq the client has (an integer >= 0)");
            send_refusal(ss, req_id_of(obj, rid), &err);
            return;
        }
        q.since = (uint64_t)d;
        q.has_since = 1;
    }
    if (req_id_of(obj, rid) != NULL)
        memcpy(q.req_id, rid, sizeof(q.req_id));
    hub__relay_query(ss->hub->net, ss->peer, &q);
}

static void on_subscribe(sess_t *ss, const json_t *obj, int add)
{
    hub_query_t q = {.what = HUB_Q_SUBSCRIBE};
    const json_t *universes = json_object_get(obj, "universes");
    hub_error_t err;
    char rid[HUB_REQ_ID_MAX + 1];
    const char *req_id = req_id_of(obj, rid);

    if (rooms_of(ss, json_object_get(obj, "rooms"), &q.rooms, &err) != 0) {
        send_refusal(ss, req_id, &err);
        return;
    }
    if (!add) {
        set_rooms(ss, ss->rooms & ~q.rooms);
        if (req_id != NULL)
            send_ok(ss, req_id);
        return;
    }
    if (universes != NULL && take_universes(ss, universes, &err) != 0) {
        send_refusal(ss, req_id, &err);
        return;
    }
    if (universes == NULL && (q.rooms & (1ull << HUB_ROOM_FRAMES))) {
        hub_free(ss->universes); /* frames of every universe */
        ss->universes = NULL;
        ss->nuniverses = 0;
    }
    if (req_id != NULL)
        send_ok(ss, req_id);
    hub__relay_query(ss->hub->net, ss->peer, &q);
}

static void on_message(sess_t *ss, const char *text, size_t len)
{
    json_error_t jerr;
    hub_error_t err;
    hub_intent_t *in;
    json_t *obj, *type;
    char msg[256], cmd_id[HUB_REQ_ID_MAX + 1];

    obj = json_loadb(text, len, HUB_JSON_FLAGS, &jerr);
    if (obj == NULL) {
        snprintf(msg, sizeof(msg), "malformed JSON at line %d column %d: %.120s", jerr.line,
                 jerr.column, jerr.text);
        send_error(ss, NULL, msg, "");
        return;
    }
    type = json_object_get(obj, "type");
    const char *t = json_is_string(type) ? json_string_value(type) : NULL;
    if (!json_is_object(obj)) {
        send_error(ss, NULL, "message must be a JSON object", "");
    } else if (t == NULL) {
        send_error(ss, NULL,
                   "type is required: send {\"type\":\"set\",…} or {\"type\":\"intent\",…}",
                   "type");
    } else if (strcmp(t, "set") == 0) {
        if (hub_intent_from_rgb(obj, "ui", &in, &err, cmd_id) != 0) {
            send_error(ss, cmd_id, err.msg, err.field);
        } else {
            in->recv_us = hub_mono_us();
            hub__relay_submit(ss->hub->net, ss->peer, in);
        }
    } else if (strcmp(t, "intent") == 0) {
        on_intent(ss, obj);
    } else if (strcmp(t, "hello") == 0) {
        on_hello(ss, obj);
    } else if (strcmp(t, "subscribe") == 0) {
        on_subscribe(ss, obj, 1);
    } else if (strcmp(t, "unsubscribe") == 0) {
        on_subscribe(ss, obj, 0);
    } else {
        snprintf(msg, sizeof(msg),
                 "unknown type \"%.40s\": clients send set, intent, hello, subscribe or "
                 "unsubscribe; only the hub sends state",
                 t);
        send_error(ss, NULL, msg, "type");
    }
    json_decref(obj);
}

static int on_receive(sess_t *ss, struct lws *wsi, const void *in, size_t len)
{
    size_t max = (size_t)ss->hub->s->d.cfg->max_body;

    if (lws_is_first_fragment(wsi)) {
        ss->rx_len = 0;
        ss->rx_binary = lws_frame_is_binary(wsi);
    }
    if (ss->rx_len + len + lws_remaining_packet_payload(wsi) > max) {
        static const char why[] = "message over 16384 bytes";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
                         sizeof(why) - 1);
        return -1;
    }
    if (ss->rx_len + len > ss->rx_cap) {
        ss->rx_cap = ss->rx_len + len + 256;
        ss->rx = hub_realloc(ss->rx, ss->rx_cap);
    }
    memcpy(ss->rx + ss->rx_len, in, len);
    ss->rx_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    if (ss->rx_binary)
        send_error(ss, NULL, "binary frames are not accepted: send JSON text frames", "");
    else
        on_message(ss, ss->rx, ss->rx_len);
    ss->rx_len = 0;
    return 0;
}

/* ---- lws events ------------------------------------------------------------------- */

/* Refuse the handshake with a real HTTP/1.1 status and a JSON body, then
 * hang up. (lws_return_http_status answers HTTP/1.0 with an HTML page at
 * this stage, which some WebSocket clients cannot report.) The answer is a
 * few hundred bytes on a fresh socket, so one send() takes it. */
static int reject(struct lws *wsi, int status, const char *why)
{
    static const struct {
        int code;
        const char *text;
    } reasons[] = {
        {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"}};
    const char *reason = "Error";
    char body[256], msg[512];
    int fd = lws_get_socket_fd(wsi);

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == status)
            reason = reasons[i].text;
    int blen = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", why);
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                     "content-length: %d\r\nconnection: close\r\n\r\n%s",
                     status, reason, blen, body);
    if (fd >= 0 && n > 0 && (size_t)n < sizeof(msg))
        (void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL);
    return -1;
}

static int confirm_upgrade(hub_net_t *net, struct lws *wsi, const char *proto)
{
    hub_server_t *s = net->s;
    char buf[512];

    if (net->closing || atomic_load(&s->closing))
        return -1;
    if (proto == NULL || strcmp(proto, "websocket") != 0)
        return reject(wsi, 400, "only WebSocket upgrades are accepted");
    hub__hdr(wsi, WSI_TOKEN_GET_URI, buf, sizeof(buf));
    if (strcmp(buf, "/ws") != 0)
        return reject(wsi, 404, "the WebSocket endpoint is /ws");
    if (hub__hdr(wsi, WSI_TOKEN_ORIGIN, buf, sizeof(buf)) != 0 &&
        !hub_config_origin_allowed(s->d.cfg, buf)) {
        hub_log(HUB_LOG_WARN, "ws_origin_refused", "{s:s}", "origin", buf);
        return reject(wsi, 403, "origin not allowed (DMX_ALLOW_ORIGINS)");
    }
    const char *token = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
    if (!hub__auth_ok(s, token ? token : "", "ws"))
        return reject(wsi, 401, "missing or wrong API key: connect to /ws?token=<key>");
    return 0;
}

static void on_established(hub_net_t *net, struct lws *wsi, hub_pss_t *pss)
{
    hub_ws_hub_t *h = net->ws;
    hub_server_t *s = net->s;
    sess_t *ss = hub_calloc(1, sizeof(*ss));
    int fd = lws_get_socket_fd(wsi);
    int sndbuf = SNDBUF_BYTES;
    char json[HUB_JSON_MAX];
    size_t n;

    /* A bounded kernel buffer keeps "behind" measurable: beyond it, frames
     * wait in our ring where their age is known. */
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    memset(pss, 0, sizeof(*pss));
    pss->is_ws = 1;
    pss->ws = ss;
    ss->wsi = wsi;
    ss->hub = h;
    ss->next = h->head;
    if (h->head)
        h->head->prev = ss;
    h->head = ss;
    h->nclients++;
    ss->peer = hub__peer_new(net, ss, 1);
    if (s->room_demo >= 0)
        set_rooms(ss, 1ull << s->room_demo); /* seed 000: every session gets state frames */
    /* Counted before the snapshot is read: the loop thread frames changes
     * only while someone is counted, and one it skipped is in the snapshot. */
    atomic_fetch_add(&s->ws_clients, 1);
    n = hub__snapshot_get(s, 0, json, &ss->last_seq);
    send_private(ss, json, n);
}

static void on_closed(hub_pss_t *pss)
{
    sess_t *ss = pss->ws;
    hub_ws_hub_t *h;

    if (ss == NULL)
        return;
    h = ss->hub;
    ss->peer->conn = NULL; /* answers still on their way are dropped */
    hub__peer_release(ss->peer);
    set_rooms(ss, 0);
    atomic_fetch_sub(&h->s->ws_clients, 1);
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        h->head = ss->next;
    if (ss->next)
        ss->next->prev = ss->prev;
    h->nclients--;
    ring_clear(ss);
    hub_free(ss->ring);
    hub_free(ss->rx);
    hub_free(ss->universes);
    hub_free(ss);
    pss->ws = NULL;
}

static int on_writeable(sess_t *ss, struct lws *wsi)
{
    uint64_t now = hub_mono_us();
    int n = 0;

    if (ss->kill) {
        static const char why[] = "too slow";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)why,
                         sizeof(why) - 1);
        return -1;
    }
    if (ss->hold)
        return 0;
    while (ss->count > 0 && n++ < WRITES_PER_TURN) {
        hub_frame_t *f = ss->ring[ss->head];
        if (lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_RAW) < (int)f->len)
            return -1;
        if (f->broadcast)
            hub_metric_observe(ss->hub->s->m_ws_latency, (double)(now - f->t_us) / 1e6);
        ss->head = (ss->head + 1) % ss->cap;
        ss->count--;
        ss->frames -= f->nframes;
        hub__frame_unref(f);
        if (lws_partial_buffered(wsi))
            break;
    }
    if (ss->count > 0)
        lws_callback_on_writable(wsi);
    return 0;
}

int hub__ws_callback(hub_net_t *net, struct lws *wsi, enum lws_callback_reasons reason,
                     hub_pss_t *pss, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: return confirm_upgrade(net, wsi, (const char *)in);
    case LWS_CALLBACK_ESTABLISHED: on_established(net, wsi, pss); return 0;
    case LWS_CALLBACK_RECEIVE: return pss->ws ? on_receive(pss->ws, wsi, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE: return pss->ws ? on_writeable(pss->ws, wsi) : 0;
    case LWS_CALLBACK_CLOSED: on_closed(pss); return 0;
    default: return 0;
    }
}
