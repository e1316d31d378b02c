/* proto/proto_int.h - shared by the proto/ sources only. */
#ifndef HUB_PROTO_INT_H
#define HUB_PROTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "proto/server.h"

typedef struct hub_ws_hub hub_ws_hub_t;

struct hub_server {
    hub_server_deps_t d;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    hub_ws_hub_t *ws;
    hub_metric_t *m_requests;
    hub_metric_t *m_auth_fail;
    int closing;
};

#define HUB_HTTP_MAX_EXTRA 8

/* One HTTP exchange's response, written from LWS_CALLBACK_HTTP_WRITEABLE. */
typedef struct hub_http_resp {
    int status; /* 0: nothing staged */
    const char *ctype;
    unsigned char *buf;                    /* heap: LWS_PRE headroom, then the body */
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
    hub_cmd_t *pending; /* POST /rgb waiting for the engine */
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

int hub__http_callback(hub_server_t *s, struct lws *wsi, enum lws_callback_reasons reason,
                       hub_pss_t *pss, void *in, size_t len);
int hub__ws_callback(hub_server_t *s, struct lws *wsi, enum lws_callback_reasons reason,
                     hub_pss_t *pss, void *in, size_t len);
/* Stage a response on pss (body copied) and ask for a writable callback. */
void hub__http_respond(struct lws *wsi, hub_pss_t *pss, int status, const char *ctype,
                       const char *body, size_t len);
/* Add a header to the staged response; name ends with ':'. */
void hub__http_add_header(hub_pss_t *pss, const char *name, const char *value);
void hub__http_respond_json(struct lws *wsi, hub_pss_t *pss, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Try to serve a file under the web dir. 1 if handled (maybe with an
 * error response), 0 if there is no such file. */
int hub__http_static(hub_server_t *s, struct lws *wsi, hub_pss_t *pss, const char *path);

hub_ws_hub_t *hub__ws_hub_new(hub_server_t *s);
void hub__ws_hub_free(hub_ws_hub_t *h);
/* Close every WebSocket client (going away), at shutdown. */
void hub__ws_close_all(hub_ws_hub_t *h);

/* Auth and origin (proto/auth.c). */
/* Copy header or custom header (name lower case with colon, e.g. "x-api-key:"). */
int hub__hdr(struct lws *wsi, enum lws_token_indexes tok, char *buf, size_t n);
int hub__hdr_custom(struct lws *wsi, const char *name, char *buf, size_t n);
/* 1 if the presented key is acceptable; logs the masked key for audit when
 * DMX_API_KEY is unset. key may be NULL/empty. */
int hub__auth_ok(hub_server_t *s, const char *key, const char *via);
/* Mask a key for logs: never the whole key. */
void hub__mask_key(const char *key, char *out, size_t n);

#endif
