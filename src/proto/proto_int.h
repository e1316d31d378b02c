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
#include "core/ulid.h"
#include "proto/server.h"

#define HUB_JSON_MAX 192 /* a rendered state (engine.c's JSON_MAX) */

typedef struct hub_ws_hub hub_ws_hub_t;
typedef struct hub_net hub_net_t;
typedef struct hub_frame hub_frame_t;

/* The latest announced state, for GET /rgb and a new WebSocket's first
 * frame on any thread. Updated by the loop thread before the answers of the
 * commands that made it are sent, so a client never reads older than what
 * it was answered. */
typedef struct hub_snapshot {
    pthread_mutex_t lock;
    uint64_t seq;
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
    hub_frame_t *pend;  /* loop thread: states of the batch being announced */
    atomic_int closing; /* set by hub_server_close */
    int nets_joined;    /* loop thread: threads gone, post nothing more */
    atomic_int ws_clients;
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
    atomic_int inflight; /* commands relayed and not yet answered */
    int gone;            /* loop thread: no more messages may be posted here */
};

/* A connection as commands see it: refcounted so an answer can come back
 * after the connection has gone. conn is touched only on net's thread. */
typedef struct hub_peer {
    atomic_int refs;
    hub_net_t *net;
    void *conn; /* hub_pss_t or the WS session; NULL once closed */
    int is_ws;
} hub_peer_t;

/* The answer to a relayed command or query, run on the peer's thread. */
typedef struct hub_answer {
    hub_msg_t msg;
    hub_peer_t *peer; /* a reference, released after delivery */
    int outcome;      /* commands: HUB_CMD_* or HUB_E*; queries: 0 */
    uint64_t seq;     /* the state's seq (duplicates: the current one) */
    char cmd_id[HUB_ULID_LEN + 1];
    int status;        /* queries: the HTTP status */
    const char *ctype; /* queries: content type (a literal) */
    char *body;        /* heap: commands, the state's rgb_json; queries, the page */
    size_t len;
} hub_answer_t;

enum { HUB_Q_READYZ, HUB_Q_METRICS, HUB_Q_DEVICES };

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

/* Per-connection data (lws allocates and zeroes it). */
typedef struct hub_pss {
    int is_ws;
    /* HTTP */
    int method; /* HUB_M_* */
    char path[256];
    char origin[256];
    char *body;
    size_t body_len, body_cap;
    int body_error; /* status to answer once the body is read, 0 none */
    const char *body_error_msg;
    hub_peer_t *pending; /* a POST /rgb or a query waiting for the loop thread */
    hub_http_resp_t resp;
    int in_cb;        /* inside an lws HTTP callback: may write now */
    int want_close;   /* an immediate write asked to close */
    int done_pending; /* an immediate write finished the exchange */
    struct lws *wsi;
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
/* Net thread: hand cmd (owned from here) to the engine for peer. Its fate
 * comes back as a hub_answer (none for an applied WS command: the state
 * broadcast says it). Refuses at once, with an answer, when too many of this
 * context's commands are already waiting. */
void hub__relay_submit(hub_net_t *net, hub_peer_t *peer, hub_cmd_t *cmd);
/* Net thread: render page `what` (HUB_Q_*) on the loop thread for peer. */
void hub__relay_query(hub_net_t *net, hub_peer_t *peer, int what);
/* Loop thread: post (or, once the context is gone, drop) an answer. */
void hub__relay_answer(hub_net_t *net, hub_answer_t *a);

/* --- snapshot (server.c) ------------------------------------------------- */

/* Copy the latest state's JSON (rgb: GET /rgb; else the WS frame) into buf
 * (HUB_JSON_MAX bytes); returns its length and sets *seq. Any thread. */
size_t hub__snapshot_get(hub_server_t *s, int rgb, char *buf, uint64_t *seq);

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
void hub__ws_answer(struct hub_ws_sess *ss, const hub_answer_t *a);
/* Stage a response on pss (body copied) and ask for a writable callback. */
void hub__http_respond(struct lws *wsi, hub_pss_t *pss, int status, const char *ctype,
                       const char *body, size_t len);
/* Add a header to the staged response; name ends with ':'. */
void hub__http_add_header(hub_pss_t *pss, const char *name, const char *value);
void hub__http_respond_json(struct lws *wsi, hub_pss_t *pss, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Try to serve a file under the web dir. 1 if handled (maybe with an
 * error response), 0 if there is no such file. */
int hub__http_static(hub_net_t *net, struct lws *wsi, hub_pss_t *pss, const char *path);

/* Page bodies rendered on the loop thread (http_pages.c). */
char *hub__page_readyz(hub_server_t *s, int *status, size_t *len);

/* WebSocket fan-out (ws.c, ws_fanout.c). */
hub_ws_hub_t *hub__ws_hub_new(hub_net_t *net);
void hub__ws_hub_free(hub_ws_hub_t *h);
/* Close every WebSocket client (going away), at shutdown. */
void hub__ws_close_all(hub_ws_hub_t *h);
/* Loop thread: gather an announced state; on the last of a batch, post it
 * to every context. */
void hub__fanout_state(hub_server_t *s, const hub_view_t *view);
/* Loop thread: post what is gathered now (before a private frame may be
 * posted behind it), and at shutdown free it. */
void hub__fanout_flush(hub_server_t *s);
void hub__fanout_free(hub_server_t *s);
/* Net thread: write one batch's frames to every session of h. */
void hub__ws_deliver(hub_ws_hub_t *h, hub_frame_t *f);

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
