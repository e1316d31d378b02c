/* proto/proto_int.h - shared by the proto/ sources only.
 *
 * The server has one or more network contexts (hub_net_t), each an lws
 * context on a libuv loop of its own, run by a thread of its own, serving the
 * connections the acceptor (on the loop thread) hands it. They reach the
 * engine only through messages (proto/relay.c).
 */
#ifndef HUB_PROTO_INT_H
#define HUB_PROTO_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "core/inbox.h"
#include "engine/engine.h"
#include "proto/frame.h"
#include "proto/server.h"

#define HUB_JSON_MAX 192 /* a rendered seed-000 state */

typedef struct hub_ws_hub hub_ws_hub_t;
typedef struct hub_net hub_net_t;

/* The latest announced seed-000 state, for GET /rgb and a new WebSocket's
 * first frame on any thread, and the published seq. Updated by the loop
 * thread before the answers of the intents that made it are sent, so a
 * client never reads older than what it was answered. */
typedef struct hub_snapshot {
    pthread_mutex_t lock;
    uint64_t seq; /* the published seq */
    char rgb_json[HUB_JSON_MAX];
    size_t rgb_len;
    char ws_json[HUB_JSON_MAX];
    size_t ws_len;
} hub_snapshot_t;

struct hub_server {
    hub_server_deps_t d; /* engine, mqtt, ready: loop thread only */
    hub_snapshot_t snap; /* any thread, under snap.lock */
    hub_net_t **nets;    /* read-only once started */
    int nnets;
    int next_net;  /* loop thread: round-robin for accepted sockets */
    int listen_fd; /* loop thread */
    int port;      /* the bound port */
    uv_poll_t *listen_poll;
    uv_timer_t *accept_pause; /* out of descriptors: accept again later */
    uint64_t emfile_logged_us;
    hub_frame_t *pend;  /* loop thread: frames of the group commit being announced */
    atomic_int closing; /* set by hub_server_close */
    int nets_joined;    /* loop thread: threads gone, post nothing more */
    atomic_int ws_clients;
    atomic_int room_clients[HUB_MAX_ROOMS]; /* sessions in each room */
    int room_demo;                          /* the "demo" room's bit, or -1 */
    uint64_t default_rooms;                 /* hello without rooms: all but "frames" */
    hub_metric_t *m_requests;
    hub_metric_t *m_auth_fail;
    hub_metric_t *m_ws_slow, *m_ws_latency, *m_ws_errors;
    hub_metric_t *m_refused; /* dmx_engine_refused_total, for refusals made here */
};

struct hub_net {
    hub_server_t *s;
    int index;
    uv_loop_t loop; /* this context's alone */
    pthread_t thread;
    int started;        /* the thread runs */
    hub_inbox_t *inbox; /* messages from the loop thread */
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    hub_ws_hub_t *ws;    /* this context's WebSocket sessions */
    int closing;         /* this thread: stop serving */
    atomic_int lws_done; /* lws finished closing this context */
    atomic_int exited;   /* the thread has left its loop */
    atomic_int inflight; /* intents relayed and not yet answered */
    int gone;            /* loop thread: no more messages may be posted here */
};

/* A connection as intents see it: refcounted so an answer can come back
 * after the connection has gone. conn is touched only on net's thread. */
typedef struct hub_peer {
    atomic_int refs;
    uint64_t id; /* unique for the process's life: private frames name it */
    hub_net_t *net;
    void *conn; /* hub_pss_t or the WS session; NULL once closed */
    int is_ws;
} hub_peer_t;

/* What the loop thread tells a WebSocket session (hub_answer_t.ws_kind). */
enum {
    HUB_WS_FRAMES = 1, /* write frames (a private buffer) */
    HUB_WS_BEGIN,      /* rooms from seq on; hold frames until REPLAY/SNAPSHOT */
    HUB_WS_REPLAY,     /* the missed patches; then release what was held */
    HUB_WS_SNAPSHOT,   /* a snapshot at seq: drop held frames it covers, release */
    HUB_WS_ROOMS,      /* rooms from seq on (no hold), frames: their snapshot */
    HUB_WS_JOIN,       /* as ROOMS, but rooms are added to the session's */
};

/* An answer to a relayed intent or query, run on the peer's thread. */
typedef struct hub_answer {
    hub_msg_t msg;
    hub_peer_t *peer;  /* a reference, released after delivery */
    int status;        /* HTTP status */
    const char *ctype; /* content type (a literal) */
    char *body;        /* heap */
    size_t len;
    int retry_after; /* add Retry-After: 1 */
    char etag[32];   /* add ETag when set */
    char *file;      /* a file route's answer: the file to serve (heap), ctype its type */
    /* WebSocket sessions */
    int ws_kind;         /* HUB_WS_*; 0: an HTTP answer */
    uint64_t seq;        /* BEGIN, SNAPSHOT, ROOMS: the seq the session is at from now */
    uint64_t rooms;      /* BEGIN, ROOMS: its rooms from now */
    hub_frame_t *frames; /* one reference, or NULL */
} hub_answer_t;

/* What a relayed query asks the loop thread for. */
enum {
    HUB_Q_READYZ,
    HUB_Q_METRICS,
    HUB_Q_DEVICES,
    HUB_Q_STATE,     /* GET /api/v1/state */
    HUB_Q_ROUTE,     /* a domain's read route */
    HUB_Q_FILE,      /* a domain's file route (http_file.c) */
    HUB_Q_JOURNAL,   /* GET /api/v1/journal */
    HUB_Q_HELLO,     /* WS hello */
    HUB_Q_SUBSCRIBE, /* WS subscribe to state rooms */
};

typedef struct hub_query {
    int what;                        /* HUB_Q_* */
    uint64_t rooms;                  /* STATE, HELLO, SUBSCRIBE */
    uint64_t since;                  /* JOURNAL, HELLO */
    int has_since;                   /* HELLO */
    char req_id[HUB_REQ_ID_MAX + 1]; /* HELLO: "" or the req_id to answer when in sync */
    size_t limit;                    /* JOURNAL */
    uint64_t if_none_match;          /* STATE: the client's ETag seq + 1, 0: none */
    const hub_route_def_t *route;    /* ROUTE, FILE */
    void *route_ctx;
    hub_route_req_t *rq; /* ROUTE, FILE: heap, owned by the query */
} hub_query_t;

#define HUB_HTTP_MAX_EXTRA 8

/* One HTTP exchange's response, written from LWS_CALLBACK_HTTP_WRITEABLE. */
typedef struct hub_http_resp {
    int status; /* 0: nothing staged */
    const char *ctype;
    unsigned char *buf;                    /* heap, only while waiting for POLLOUT: LWS_PRE, body */
    size_t len;                            /* body bytes */
    const char *hname[HUB_HTTP_MAX_EXTRA]; /* extra headers, "name:" with the colon */
    char *hval[HUB_HTTP_MAX_EXTRA];        /* heap: every connection, WS ones too, has a pss */
    int nextra;
    int close_after;
} hub_http_resp_t;

typedef struct hub_http_file hub_http_file_t;

/* What a request with a body will do once it is read. */
enum { HUB_ACT_NONE = 0, HUB_ACT_RGB, HUB_ACT_INTENT, HUB_ACT_ROUTE };

/* Per-connection data (lws allocates and zeroes it). */
typedef struct hub_pss {
    int is_ws;
    /* HTTP */
    int method; /* HUB_M_* */
    int http10; /* an HTTP/1.0 request: close after the answer */
    char path[256];
    char query[256];
    char origin[256];
    char idem[HUB_REQ_ID_MAX + 2]; /* Idempotency-Key, "" when none */
    int idem_bad;                  /* it was there but not a valid req_id */
    int action;                    /* HUB_ACT_* */
    const hub_route_def_t *route;  /* HUB_ACT_ROUTE */
    void *route_ctx;               /* HUB_ACT_ROUTE: its domain's context */
    hub_route_req_t *rq;           /* HUB_ACT_ROUTE: heap */
    char *body;
    size_t body_len, body_cap;
    size_t body_max; /* this request's body limit (a route's max_body or DMX's 16 KiB) */
    int body_error;  /* status to answer once the body is read, 0 none */
    const char *body_error_msg;
    int lingering;       /* answered early: read and drop the rest, then close */
    int no_body;         /* dispatched at header time: no body follows */
    hub_peer_t *pending; /* an intent or a query waiting for the loop thread */
    hub_http_resp_t resp;
    int in_cb;        /* inside an lws HTTP callback: may write now */
    int want_close;   /* an immediate write asked to close */
    int done_pending; /* an immediate write finished the exchange */
    struct lws *wsi;
    char range[128];       /* a file route's Range header, "" when none (or too long) */
    hub_http_file_t *file; /* a file being sent (http_file.c) */
    /* WebSocket */
    struct hub_ws_sess *ws;
} hub_pss_t;

enum {
    HUB_M_OTHER = 0,
    HUB_M_GET,
    HUB_M_HEAD,
    HUB_M_POST,
    HUB_M_OPTIONS,
    HUB_M_PUT,
    HUB_M_PATCH,
    HUB_M_DELETE
};

/* --- relay.c: between a network context and the loop thread --------------- */

/* A peer with one reference, owned by the connection. */
hub_peer_t *hub__peer_new(hub_net_t *net, void *conn, int is_ws);
hub_peer_t *hub__peer_ref(hub_peer_t *p);
/* Any thread; frees at the last reference. */
void hub__peer_release(hub_peer_t *p);
/* Net thread: hand in (owned from here) to the engine for peer. Its fate
 * comes back as an answer (HTTP) or as frames in the group commit's buffer
 * (WS). Refuses at once, with an answer, when too many of this context's
 * intents are already waiting. */
void hub__relay_submit(hub_net_t *net, hub_peer_t *peer, hub_intent_t *in);
/* Net thread: ask the loop thread (q is copied; q->rq moves with it). */
void hub__relay_query(hub_net_t *net, hub_peer_t *peer, const hub_query_t *q);
/* Loop thread: post (or, once the context is gone, drop) an answer. */
void hub__relay_answer(hub_net_t *net, hub_answer_t *a);
/* A reply handle (domain.h) answering peer over net later; takes the
 * reference to peer. */
hub_reply_t *hub__reply_new(hub_net_t *net, hub_peer_t *peer);
/* Net thread: deliver an answer built on this thread. */
void hub__relay_deliver(hub_answer_t *a);
/* Render an intent's fate as the HTTP answer (status, body, headers). */
void hub__answer_intent(hub_answer_t *a, const hub_intent_t *in, const hub_engine_t *e);
/* The JSON text of an intent's result: {"ok":…} (REST body, MQTT reply). */
char *hub__result_json(const hub_intent_t *in, size_t *len);

/* --- snapshot (server.c) ------------------------------------------------- */

/* Copy the latest seed-000 state's JSON (rgb: GET /rgb; else the WS frame)
 * into buf (HUB_JSON_MAX bytes); returns its length and sets *seq to the
 * published seq. Any thread. */
size_t hub__snapshot_get(hub_server_t *s, int rgb, char *buf, uint64_t *seq);
uint64_t hub__snapshot_seq(hub_server_t *s);

/* --- net.c: one network context ------------------------------------------ */

int hub__net_new(hub_net_t **out, hub_server_t *s, int index, char *err, size_t errlen);
/* Start the context's thread. */
int hub__net_start(hub_net_t *net);
/* Loop thread: hand an accepted socket to net (it closes fd if it cannot). */
void hub__net_adopt(hub_net_t *net, int fd);
/* Loop thread: close every connection and the context. */
void hub__net_close(hub_net_t *net);
/* Loop thread: lws has finished closing (then join and free). */
int hub__net_closed(hub_net_t *net);
/* Loop thread: stop the thread and free (drops queued answers). */
void hub__net_free(hub_net_t *net);

/* --- http.c, ws.c: the lws protocol callbacks and answers ----------------- */

int hub__http_callback(hub_net_t *net, struct lws *wsi, enum lws_callback_reasons reason,
                       hub_pss_t *pss, void *in, size_t len);
int hub__ws_callback(hub_net_t *net, struct lws *wsi, enum lws_callback_reasons reason,
                     hub_pss_t *pss, void *in, size_t len);
/* Net thread: deliver an answer to its HTTP connection (pss) or session. */
void hub__http_answer(hub_pss_t *pss, const hub_answer_t *a);
void hub__ws_answer(struct hub_ws_sess *ss, hub_answer_t *a);
/* Stage a response on pss (body copied) and ask for a writable callback. */
void hub__http_respond(struct lws *wsi, hub_pss_t *pss, int status, const char *ctype,
                       const char *body, size_t len);
/* Add a header to the staged response; name ends with ':'. */
void hub__http_add_header(hub_pss_t *pss, const char *name, const char *value);
void hub__http_respond_json(struct lws *wsi, hub_pss_t *pss, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The /api/v1 error {"ok":false,"error":{"code","message"}} with status. */
void hub__http_respond_api_error(struct lws *wsi, hub_pss_t *pss, int status, hub_errcode_t code,
                                 const char *msg);
/* Try to serve a file under the web dir. 1 if handled (maybe with an
 * error response), 0 if there is no such file. */
int hub__http_static(hub_net_t *net, struct lws *wsi, hub_pss_t *pss, const char *path);
/* The /api/v1 routes that are not a domain's (http_api.c): 1 if handled. */
int hub__http_api_get(hub_net_t *net, struct lws *wsi, hub_pss_t *pss);
/* Build the intent of a request with a body (HUB_ACT_INTENT or _ROUTE);
 * answers the error itself and returns NULL when it cannot. */
hub_intent_t *hub__http_api_intent(hub_net_t *net, struct lws *wsi, hub_pss_t *pss);

/* --- http_file.c: a domain's file route (downloads with Range) ------------ */

/* What a Range header asks of a file of a given size (RFC 7233 2.1, 3.1). */
typedef enum {
    HUB_RANGE_NONE = 0,     /* none, or one to ignore: the whole file, 200 */
    HUB_RANGE_ONE,          /* bytes start..end (inclusive, within the file): 206 */
    HUB_RANGE_UNSATISFIABLE /* 416; its Content-Range gives only the size */
} hub_range_kind_t;

typedef struct hub_range {
    hub_range_kind_t kind;
    uint64_t start, end; /* HUB_RANGE_ONE: first and last byte */
} hub_range_t;

/* Pure: parse hdr (the Range header's value; NULL or "" when none) against
 * a file of size bytes; returns out->kind. */
hub_range_kind_t hub__http_range_parse(const char *hdr, uint64_t size, hub_range_t *out);
/* Loop thread: run the route's file callback; the answer names the file or
 * is the API error. */
hub_answer_t *hub__file_query(hub_peer_t *peer, hub_query_t *q);
/* Net thread: an answer naming a file: open it and send it from writable
 * callbacks (or answer 404/416 at once). */
void hub__http_file_begin(struct lws *wsi, hub_pss_t *pss, const hub_answer_t *a);
/* Net thread, LWS_CALLBACK_HTTP_WRITEABLE: send the headers or the next
 * chunk. 0: more to send (a writable callback is asked for); 1: all sent;
 * -1: failed (close the connection). */
int hub__http_file_write(struct lws *wsi, hub_pss_t *pss);
/* Close the file and free its state (no-op when none). */
void hub__http_file_end(hub_pss_t *pss);

/* Page bodies rendered on the loop thread (http_pages.c). */
char *hub__page_readyz(hub_server_t *s, int *status, size_t *len);
/* The answer to a query, on the loop thread (http_pages.c); NULL when the
 * answer comes later (a journal read). */
hub_answer_t *hub__page_query(hub_server_t *s, hub_net_t *net, hub_peer_t *peer, hub_query_t *q);

/* WebSocket fan-out (ws.c, ws_fanout.c). */
hub_ws_hub_t *hub__ws_hub_new(hub_net_t *net);
void hub__ws_hub_free(hub_ws_hub_t *h);
/* Close every WebSocket client (going away), at shutdown. */
void hub__ws_close_all(hub_ws_hub_t *h);
/* Loop thread: gather an announced intent's frames (patch, room frames). */
void hub__fanout_announce(hub_server_t *s, const hub_announce_t *ann);
/* Loop thread: gather a frame for one session (a result). */
void hub__fanout_private(hub_server_t *s, hub_peer_t *peer, const char *text, size_t len);
/* Loop thread: an event for room "system". */
void hub__fanout_event(hub_server_t *s, const hub_event_t *ev);
/* Loop thread: post what is gathered to every context; at shutdown free it. */
void hub__fanout_flush(hub_server_t *s);
void hub__fanout_free(hub_server_t *s);
/* Any thread: post DMX frames (room "frames") to every context. */
void hub__fanout_frames(hub_server_t *s, hub_frame_t *f);
/* Net thread: write one buffer's frames to the sessions of h that want them. */
void hub__ws_deliver(hub_ws_hub_t *h, hub_frame_t *f);
/* The WS frame text of a patch / result / event into b. */
void hub__ws_render_patch(hub_jbuf_t *b, uint64_t seq, const char *patches, size_t len);
void hub__ws_render_result(hub_jbuf_t *b, const hub_intent_t *in);

/* Auth and origin (proto/auth.c). */
/* Copy header or custom header (name lower case with colon, e.g. "x-api-key:"). */
int hub__hdr(struct lws *wsi, enum lws_token_indexes tok, char *buf, size_t n);
int hub__hdr_custom(struct lws *wsi, const char *name, char *buf, size_t n);
/* 1 if the presented key is acceptable; logs the masked key for audit when
 * DMX_API_KEY is unset. key may be NULL/empty. Any thread. */
int hub__auth_ok(hub_server_t *s, const char *key, const char *via);
/* Mask a key for logs: never the whole key. */
void hub__mask_key(const char *key, char *out, size_t n);

#endif
