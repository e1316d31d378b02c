/* proto/http.c - the HTTP exchange: routing, bodies, writing answers.
 *
 * Runs on a network context's thread (proto_int.h). Routes: the seed-000
 * ones (/rgb, /healthz, /readyz, /metrics, /devices), the core /api/v1 ones
 * (http_api.c), the domains' routes (registered with the engine) and the web
 * UI's static files. A response is written from the lws callback that asked
 * for it when it can be, else staged on the connection; answers from the
 * loop thread (an intent waits until it is durable; pages read the loop's
 * state) arrive through proto/relay.c and are written when they do.
 *
 * A request with a body (POST /rgb, POST /api/v1/intents, a domain's
 * mutation) is checked at header time (size, API key, content type) and its
 * body read either way, so the connection stays usable. An answer given
 * before the body is all read (413, 411) closes the connection only after
 * reading and dropping the rest for a bounded time (a lingering close, as
 * nginx and Apache do), so a client that writes its whole body before it
 * reads still sees the answer instead of a reset.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "proto/proto_int.h"

#define LINGER_SECS      2          /* how long a lingering close reads */
#define LINGER_MAX_BYTES (64 << 20) /* and how much it reads at most */

static void resp_reset(hub_http_resp_t *r)
{
    for (int i = 0; i < r->nextra; i++)
        hub_free(r->hval[i]);
    hub_free(r->buf);
    memset(r, 0, sizeof(*r));
}

/* The connection no longer waits: an answer that still comes is dropped. */
static void drop_pending(hub_pss_t *pss)
{
    if (pss->pending == NULL)
        return;
    pss->pending->conn = NULL;
    hub__peer_release(pss->pending);
    pss->pending = NULL;
}

static void pss_reset(hub_pss_t *pss)
{
    drop_pending(pss);
    hub__http_file_end(pss);
    hub_free(pss->body);
    pss->body = NULL;
    pss->body_len = pss->body_cap = 0;
    pss->body_max = 0;
    pss->body_error = 0;
    pss->body_error_msg = NULL;
    hub_free(pss->rq);
    pss->rq = NULL;
    pss->route = NULL;
    pss->action = HUB_ACT_NONE;
    pss->idem[0] = '\0';
    pss->idem_bad = 0;
    pss->lingering = 0;
    pss->no_body = 0;
    pss->range[0] = '\0';
    resp_reset(&pss->resp);
}

void hub__http_add_header(hub_pss_t *pss, const char *name, const char *value)
{
    hub_http_resp_t *r = &pss->resp;
    assert(r->nextra < HUB_HTTP_MAX_EXTRA);
    if (r->nextra >= HUB_HTTP_MAX_EXTRA)
        return;
    r->hname[r->nextra] = name;
    r->hval[r->nextra] = hub_strdup(value);
    r->nextra++;
}

static int write_resp(struct lws *wsi, hub_pss_t *pss, const char *body);

void hub__http_respond(struct lws *wsi, hub_pss_t *pss, int status, const char *ctype,
                       const char *body, size_t len)
{
    hub_http_resp_t *r = &pss->resp;
    r->status = status;
    r->ctype = ctype;
    r->len = len;
    if (pss->http10)
        r->close_after = 1;
    if (pss->in_cb) {
        /* Inside an HTTP callback lws lets us write: one write, no extra
         * trip through the poll set (that costs two epoll_ctl per request).
         * The exchange is completed by the callback wrapper, last, because
         * lws may free pss when it completes. */
        if (write_resp(wsi, pss, body) < 0)
            pss->want_close = 1;
        return;
    }
    /* An answer from the engine: nothing else writes on an HTTP/1
     * connection between request and answer, so write it now rather than
     * wait a loop turn for POLLOUT; lws buffers a partial write and flushes
     * it before anything else. pss may be gone after this. */
    if (!pss->want_close && !lws_partial_buffered(wsi)) {
        if (write_resp(wsi, pss, body) < 0) {
            /* Close from lws's own writable callback: outside a callback an
             * async kill waits for lws's next timer, which on a foreign
             * loop may be never (an HTTP/1.0 client then waits for EOF). */
            pss->want_close = 1;
            lws_callback_on_writable(wsi);
        }
        return;
    }
    /* Only a response that must wait for POLLOUT keeps a copy of its body. */
    r->buf = hub_malloc(LWS_PRE + len + 1);
    memcpy(r->buf + LWS_PRE, body, len);
    lws_callback_on_writable(wsi);
}

void hub__http_respond_json(struct lws *wsi, hub_pss_t *pss, int status, const char *fmt, ...)
{
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(body))
        n = sizeof(body) - 1;
    hub__http_respond(wsi, pss, status, "application/json", body, (size_t)n);
}

/* {"error":msg,"field":field} with proper escaping; no "field" when NULL
 * (only validation errors name a field). */
static void respond_error(struct lws *wsi, hub_pss_t *pss, int status, const char *msg,
                          const char *field)
{
    json_t *o = field ? json_pack("{s:s,s:s}", "error", msg, "field", field)
                      : json_pack("{s:s}", "error", msg);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    hub__http_respond(wsi, pss, status, "application/json", text, strlen(text));
    free(text);
    json_decref(o);
}

/* The /api/v1 error shape: {"ok":false,"error":{"code","message"}}. */
void hub__http_respond_api_error(struct lws *wsi, hub_pss_t *pss, int status, hub_errcode_t code,
                                 const char *msg)
{
    json_t *o = json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", hub_errcode_name(code),
                          "message", msg);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    hub__http_respond(wsi, pss, status, "application/json", text, strlen(text));
    free(text);
    json_decref(o);
}

static int method_of(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        int m;
    } map[] = {
        {WSI_TOKEN_GET_URI, HUB_M_GET},         {WSI_TOKEN_POST_URI, HUB_M_POST},
        {WSI_TOKEN_OPTIONS_URI, HUB_M_OPTIONS}, {WSI_TOKEN_HEAD_URI, HUB_M_HEAD},
        {WSI_TOKEN_PUT_URI, HUB_M_PUT},         {WSI_TOKEN_PATCH_URI, HUB_M_PATCH},
        {WSI_TOKEN_DELETE_URI, HUB_M_DELETE},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (lws_hdr_total_length(wsi, map[i].tok) > 0)
            return map[i].m;
    return HUB_M_OTHER;
}

/* HTTP/1.0 (unless it asks for keep-alive) and "Connection: close" both
 * mean: close once answered. */
static int wants_close(struct lws *wsi)
{
    char conn[128];
    int is10 = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP1_0) > 0;

    hub__hdr(wsi, WSI_TOKEN_CONNECTION, conn, sizeof(conn));
    for (char *t = strtok(conn, ", \t"); t != NULL; t = strtok(NULL, ", \t")) {
        if (strcasecmp(t, "close") == 0)
            return 1;
        if (strcasecmp(t, "keep-alive") == 0)
            is10 = 0;
    }
    return is10;
}

static void add_cors(hub_server_t *s, hub_pss_t *pss)
{
    if (pss->origin[0] == '\0' || !hub_config_origin_allowed(s->d.cfg, pss->origin))
        return;
    hub__http_add_header(pss, "access-control-allow-origin:",
                         strcmp(s->d.cfg->allow_origins, "*") == 0 ? "*" : pss->origin);
    hub__http_add_header(pss, "vary:", "Origin");
}

static void method_not_allowed(struct lws *wsi, hub_pss_t *pss, const char *allow)
{
    hub__http_add_header(pss, "allow:", allow);
    hub__http_respond_json(wsi, pss, 405, "{\"error\":\"method not allowed\",\"allow\":\"%s\"}",
                           allow);
}

/* ---- answers from the loop thread ------------------------------------------ */

/* An answer from the loop thread for this connection. pss may be gone when
 * this returns (the response completes the exchange). */
void hub__http_answer(hub_pss_t *pss, const hub_answer_t *a)
{
    drop_pending(pss);
    if (a->file != NULL) { /* a file route named its file: send it */
        hub__http_file_begin(pss->wsi, pss, a);
        return;
    }
    if (a->retry_after)
        hub__http_add_header(pss, "retry-after:", "1");
    if (a->etag[0] != '\0')
        hub__http_add_header(pss, "etag:", a->etag);
    hub__http_respond(pss->wsi, pss, a->status, a->ctype ? a->ctype : "application/json",
                      a->body ? a->body : "", a->len);
}

/* Hand the rest of this exchange to the loop thread. */
static hub_peer_t *wait_for_loop(hub_net_t *net, hub_pss_t *pss)
{
    pss->pending = hub__peer_new(net, pss, 0);
    return pss->pending;
}

/* ---- requests with a body ---------------------------------------------------- */

static void submit_rgb(hub_net_t *net, struct lws *wsi, hub_pss_t *pss)
{
    hub_error_t err;
    hub_intent_t *in;
    char cmd_id[HUB_REQ_ID_MAX + 1];
    int rc;

    if (pss->body_len == 0) {
        respond_error(wsi, pss, 400, "empty body: send a JSON command object", "");
        return;
    }
    rc = hub_intent_parse_rgb(pss->body, pss->body_len, "api", &in, &err, cmd_id);
    hub_free(pss->body); /* not needed past parsing; keep idle connections small */
    pss->body = NULL;
    pss->body_len = pss->body_cap = 0;
    if (rc != 0) {
        respond_error(wsi, pss, 400, err.msg, err.field);
        return;
    }
    in->recv_us = hub_mono_us();
    hub__relay_submit(net, wait_for_loop(net, pss), in);
}

static void dispatch(hub_net_t *net, struct lws *wsi, hub_pss_t *pss)
{
    if (pss->action == HUB_ACT_RGB) {
        submit_rgb(net, wsi, pss);
        return;
    }
    hub_intent_t *in = hub__http_api_intent(net, wsi, pss);
    hub_free(pss->body);
    pss->body = NULL;
    pss->body_len = pss->body_cap = 0;
    if (in == NULL)
        return; /* answered */
    in->recv_us = hub_mono_us();
    hub__relay_submit(net, wait_for_loop(net, pss), in);
}

static void respond_body_error(struct lws *wsi, hub_pss_t *pss, int status, const char *msg)
{
    if (pss->action == HUB_ACT_RGB)
        respond_error(wsi, pss, status, msg, NULL);
    else
        hub__http_respond_api_error(wsi, pss, status,
                                    status == 401 ? HUB_ERR_UNAUTHORIZED : HUB_ERR_INVALID, msg);
}

/* An answer given before the body is read: answer, stop writing (FIN),
 * read and drop the rest for a bounded time and amount, then close. */
static void answer_early(struct lws *wsi, hub_pss_t *pss, int status, const char *msg)
{
    pss->lingering = 1;
    pss->resp.close_after = 1;
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LINGER_SECS);
    if (pss->action == HUB_ACT_RGB) {
        respond_error(wsi, pss, status, msg, NULL);
        return;
    }
    hub__http_respond_api_error(wsi, pss, status, HUB_ERR_INVALID, msg);
}

static int is_json(const char *ctype)
{
    size_t n = strcspn(ctype, "; \t");
    return n == strlen("application/json") && strncasecmp(ctype, "application/json", n) == 0;
}

/* Decide at header time what a request with a body will get; the body is
 * read either way (unless too large or streamed: then the answer comes at
 * once and the connection closes after a lingering read) so the connection
 * stays usable. */
static void begin_body(hub_net_t *net, struct lws *wsi, hub_pss_t *pss, int action)
{
    hub_server_t *s = net->s;
    char buf[256], msg[96];
    int max = s->d.cfg->max_body;
    int clen_present = hub__hdr(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, buf, sizeof(buf)) > 0;
    long clen = clen_present ? strtol(buf, NULL, 10) : 0;

    /* A route may take larger bodies (a show file); everything else keeps
     * the default (commands, POST /api/v1/intents, /rgb). */
    if (action == HUB_ACT_ROUTE && pss->route->max_body != NULL && *pss->route->max_body > 0)
        max = *pss->route->max_body;
    pss->action = action;
    pss->body_max = (size_t)max;
    if (clen > max) {
        snprintf(msg, sizeof(msg), "body too large: at most %d bytes", max);
        answer_early(wsi, pss, 413, msg);
        return;
    }
    hub__hdr_custom(wsi, "x-api-key:", buf, sizeof(buf));
    if (!hub__auth_ok(s, buf, "rest")) {
        pss->body_error = 401;
        pss->body_error_msg = "missing or wrong API key: send it in the x-api-key header";
    } else {
        hub__hdr(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, buf, sizeof(buf));
        /* seed 000 always asked for JSON; the API only when there is a body */
        /* seed 004's routes read a body only if it is JSON (lenient_body) */
        int lenient = action == HUB_ACT_ROUTE && pss->route->lenient_body;
        if ((action == HUB_ACT_RGB || clen > 0) && !is_json(buf) && !lenient) {
            pss->body_error = 415;
            pss->body_error_msg = "unsupported content type: send Content-Type: application/json";
        }
    }
    if (!clen_present && hub__hdr(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, buf, sizeof(buf)) != 0) {
        /* A streamed body has no size to check up front: ask for one. */
        answer_early(wsi, pss, 411, "length required: send the body with a Content-Length");
        return;
    }
    if (!clen_present || clen <= 0) { /* no body to wait for */
        pss->no_body = 1; /* a BODY_COMPLETION lws may still send is not a new request */
        if (pss->body_error)
            respond_body_error(wsi, pss, pss->body_error, pss->body_error_msg);
        else
            dispatch(net, wsi, pss);
    }
}

/* An intent waits for the engine while lws may already be reading the next
 * pipelined request (it even repeats BODY_COMPLETION). Parsing past it
 * would mix the two exchanges: answer the pending one, then close, and let
 * the client send the rest again. */
static int busy(hub_pss_t *pss)
{
    if (pss->pending == NULL && pss->file == NULL)
        return 0;
    pss->resp.close_after = 1;
    return 1;
}

static int on_body(hub_net_t *net, struct lws *wsi, hub_pss_t *pss, const void *in, size_t len)
{
    size_t max = pss->body_max > 0 ? pss->body_max : (size_t)net->s->d.cfg->max_body;
    if (busy(pss))
        return 0;
    if (pss->lingering) {
        pss->body_len += len; /* counted, dropped */
        return pss->body_len > LINGER_MAX_BYTES ? -1 : 0;
    }
    if (pss->body_error || pss->resp.status)
        return 0; /* discard: the answer is already decided */
    if (pss->body_len + len > max) {
        char msg[96];
        snprintf(msg, sizeof(msg), "body too large: at most %zu bytes", max);
        answer_early(wsi, pss, 413, msg);
        pss->body_len += len;
        return 0;
    }
    if (pss->body_len + len > pss->body_cap) {
        /* Doubling: a 4 MiB body arrives in 512-byte reads. Memory follows
         * what has arrived, not what Content-Length promises. */
        size_t cap = pss->body_cap < 1024 ? 1024 : pss->body_cap * 2;
        if (cap < pss->body_len + len)
            cap = pss->body_len + len;
        if (cap > max)
            cap = max;
        pss->body_cap = cap;
        pss->body = hub_realloc(pss->body, pss->body_cap);
    }
    memcpy(pss->body + pss->body_len, in, len);
    pss->body_len += len;
    return 0;
}

static int on_body_done(hub_net_t *net, struct lws *wsi, hub_pss_t *pss)
{
    if (pss->lingering)
        return -1; /* the rest is read: now close */
    if (pss->no_body) {
        pss->no_body = 0;
        return 0;
    }
    if (busy(pss) || pss->resp.status)
        return 0;
    if (pss->body_error) {
        respond_body_error(wsi, pss, pss->body_error, pss->body_error_msg);
        return 0;
    }
    dispatch(net, wsi, pss);
    return 0;
}

/* ---- routing ------------------------------------------------------------------ */

static void preflight(hub_server_t *s, struct lws *wsi, hub_pss_t *pss)
{
    if (pss->origin[0] != '\0' && hub_config_origin_allowed(s->d.cfg, pss->origin)) {
        hub__http_add_header(
            pss, "access-control-allow-methods:", "GET, POST, PATCH, PUT, DELETE, OPTIONS");
        hub__http_add_header(pss, "access-control-allow-headers:",
                             "content-type, x-api-key, idempotency-key, if-none-match, range");
        hub__http_add_header(pss, "access-control-max-age:", "600");
    }
    hub__http_respond(wsi, pss, 204, "application/json", "", 0);
}

static int engine_method(int m)
{
    switch (m) {
    case HUB_M_GET:
    case HUB_M_HEAD: return HUB_HTTP_GET;
    case HUB_M_POST: return HUB_HTTP_POST;
    case HUB_M_PUT: return HUB_HTTP_PUT;
    case HUB_M_PATCH: return HUB_HTTP_PATCH;
    case HUB_M_DELETE: return HUB_HTTP_DELETE;
    default: return 0;
    }
}

static void allow_list(unsigned allow, char *out, size_t n)
{
    static const char *const names[] = {"", "GET", "POST", "PUT", "PATCH", "DELETE"};
    out[0] = '\0';
    for (int m = HUB_HTTP_GET; m <= HUB_HTTP_DELETE; m++)
        if (allow & (1u << m)) {
            size_t l = strlen(out);
            snprintf(out + l, n - l, "%s%s", l ? ", " : "", names[m]);
        }
    size_t l = strlen(out);
    snprintf(out + l, n - l, "%sOPTIONS", l ? ", " : "");
}

/* The query string ("a=1&token=k", decoded by lws) into buf; -1 if it does
 * not fit. */
static int query_of(struct lws *wsi, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0;; i++) {
        int len = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len <= 0)
            return 0;
        if (used + (i > 0) + (size_t)len + 1 > n)
            return -1;
        if (i > 0)
            buf[used++] = '&';
        if (lws_hdr_copy_fragment(wsi, buf + used, (int)(n - used), WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
            return -1;
        used += (size_t)len;
    }
}

/* A domain's route: a read or a file goes to the loop thread, a mutation
 * reads its body first. Returns 1 if path is a domain route (answered or
 * pending). */
static int domain_route(hub_net_t *net, struct lws *wsi, hub_pss_t *pss, const char *path)
{
    hub_server_t *s = net->s;
    hub_route_req_t *rq = hub_calloc(1, sizeof(*rq));
    unsigned allow = 0;
    void *ctx = NULL;
    const hub_route_def_t *r =
        hub_engine_route(s->d.engine, engine_method(pss->method), path, rq, &ctx, &allow);

    if (r == NULL) {
        hub_free(rq);
        if (allow == 0)
            return 0;
        char list[96];
        allow_list(allow, list, sizeof(list));
        method_not_allowed(wsi, pss, list);
        return 1;
    }
    if (query_of(wsi, pss->query, sizeof(pss->query)) != 0) {
        hub_free(rq);
        respond_error(wsi, pss, 414, "URI too long", NULL);
        return 1;
    }
    rq->query = pss->query;
    if (r->read != NULL || r->file != NULL || r->read_async != NULL) {
        hub_query_t q = {.what = r->file != NULL ? HUB_Q_FILE : HUB_Q_ROUTE,
                         .route = r,
                         .route_ctx = ctx,
                         .rq = rq};
        /* Headers are read now, while lws surely has them. One too long
         * for any single range we would serve is ignored, as is If-Range
         * (http_file.c). */
        if (r->file != NULL &&
            hub__hdr(wsi, WSI_TOKEN_HTTP_RANGE, pss->range, sizeof(pss->range)) < 0)
            pss->range[0] = '\0';
        hub__relay_query(net, wait_for_loop(net, pss), &q);
        return 1;
    }
    pss->route = r;
    pss->route_ctx = ctx;
    pss->rq = rq;
    begin_body(net, wsi, pss, HUB_ACT_ROUTE);
    return 1;
}

static int on_request(hub_net_t *net, struct lws *wsi, hub_pss_t *pss, const char *uri)
{
    hub_server_t *s = net->s;
    int m;

    if (busy(pss))
        return 0;
    pss_reset(pss);
    pss->wsi = wsi;
    pss->method = m = method_of(wsi);
    pss->http10 = wants_close(wsi);
    hub__hdr(wsi, WSI_TOKEN_ORIGIN, pss->origin, sizeof(pss->origin));
    hub_metric_inc(s->m_requests);
    add_cors(s, pss);
    if (strlen(uri) >= sizeof(pss->path)) {
        respond_error(wsi, pss, 414, "URI too long", NULL);
        return 0;
    }
    snprintf(pss->path, sizeof(pss->path), "%s", uri);
    pss->query[0] = '\0';

    if (m == HUB_M_OPTIONS) {
        preflight(s, wsi, pss);
        return 0;
    }
    if (strcmp(uri, "/rgb") == 0) {
        if (m == HUB_M_GET || m == HUB_M_HEAD) {
            char json[HUB_JSON_MAX];
            uint64_t seq;
            size_t n = hub__snapshot_get(s, 1, json, &seq);
            hub__http_respond(wsi, pss, 200, "application/json", json, n);
        } else if (m == HUB_M_POST) {
            begin_body(net, wsi, pss, HUB_ACT_RGB);
        } else {
            method_not_allowed(wsi, pss, "GET, POST, OPTIONS");
        }
        return 0;
    }
    static const struct {
        const char *path;
        int what;
    } gets[] = {
        {"/readyz", HUB_Q_READYZ},
        {"/metrics", HUB_Q_METRICS},
        {"/devices", HUB_Q_DEVICES},
    };
    if (strcmp(uri, "/healthz") == 0) {
        if (m == HUB_M_GET || m == HUB_M_HEAD)
            hub__http_respond_json(wsi, pss, 200, "{\"status\":\"ok\"}");
        else
            method_not_allowed(wsi, pss, "GET");
        return 0;
    }
    for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
        if (strcmp(uri, gets[i].path) != 0)
            continue;
        if (m == HUB_M_GET || m == HUB_M_HEAD) {
            hub_query_t q = {.what = gets[i].what};
            hub__relay_query(net, wait_for_loop(net, pss), &q);
        } else {
            method_not_allowed(wsi, pss, "GET");
        }
        return 0;
    }
    if (strcmp(uri, "/api/v1/intents") == 0) {
        if (m == HUB_M_POST)
            begin_body(net, wsi, pss, HUB_ACT_INTENT);
        else
            method_not_allowed(wsi, pss, "POST, OPTIONS");
        return 0;
    }
    if (hub__http_api_get(net, wsi, pss))
        return 0;
    if (domain_route(net, wsi, pss, uri))
        return 0;
    if (strcmp(uri, "/ws") == 0) {
        hub__http_add_header(pss, "upgrade:", "websocket");
        respond_error(wsi, pss, 426, "upgrade required: /ws is a WebSocket endpoint", NULL);
        return 0;
    }
    if (m == HUB_M_GET || m == HUB_M_HEAD) {
        int rc = hub__http_static(net, wsi, pss, uri);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    respond_error(wsi, pss, 404, "not found", NULL);
    return 0;
}

/* ---- writing --------------------------------------------------------------- */

/* After an answer that arrived before its body was read: keep reading
 * (and dropping) the body; FIN tells the client we are done writing. The
 * lws timeout bounds the rest. */
static void linger(struct lws *wsi)
{
    if (!lws_partial_buffered(wsi))
        shutdown(lws_get_socket_fd(wsi), SHUT_WR);
}

static int finish(struct lws *wsi, hub_pss_t *pss)
{
    int close_after = pss->resp.close_after;
    int lingering = pss->lingering == 1;
    resp_reset(&pss->resp);
    if (lingering) {
        linger(wsi);
        return 0;
    }
    if (close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The staged response, with body (r->len bytes), or the staged copy when
 * body is NULL: headers and body in one write, as lws itself does for
 * HTTP/1 status pages. Small responses (every REST answer) are assembled
 * on the stack. */
static int write_resp(struct lws *wsi, hub_pss_t *pss, const char *body)
{
    hub_http_resp_t *r = &pss->resp;
    size_t clen = r->status == 204 || r->status == 304 ? 0 : r->len;
    size_t blen = pss->method == HUB_M_HEAD ? 0 : clen;
    size_t cap = LWS_PRE + 1536 + blen;
    unsigned char small[LWS_PRE + 2048], *buf, *start, *p, *end;
    int n, rc = 0;

    if (r->status == 0)
        return 0;
    if (body == NULL)
        body = r->buf != NULL ? (const char *)r->buf + LWS_PRE : "";
    buf = cap <= sizeof(small) ? small : hub_malloc(cap);
    start = p = buf + LWS_PRE;
    end = buf + cap - blen - 1;
    if (lws_add_http_common_headers(wsi, (unsigned int)r->status, r->ctype, (lws_filepos_t)clen, &p,
                                    end))
        rc = -1;
    for (int i = 0; rc == 0 && i < r->nextra; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)r->hname[i],
                                        (const unsigned char *)r->hval[i], (int)strlen(r->hval[i]),
                                        &p, end))
            rc = -1;
    if (rc == 0 && r->close_after &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                     &p, end))
        rc = -1;
    if (rc == 0 && lws_finalize_http_header(wsi, &p, end))
        rc = -1;
    if (rc == 0) {
        memcpy(p, body, blen);
        p += blen;
        n = (int)(p - start);
        if (lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP) != n)
            rc = -1;
    }
    if (buf != small)
        hub_free(buf);
    if (rc < 0) {
        resp_reset(r);
        return -1;
    }
    if (pss->in_cb) {
        if (pss->lingering == 1) {
            resp_reset(r);
            linger(wsi);
            return 0;
        }
        pss->want_close |= r->close_after;
        pss->done_pending = 1;
        resp_reset(r);
        return 0;
    }
    return finish(wsi, pss);
}

static int on_writeable(struct lws *wsi, hub_pss_t *pss)
{
    if (pss->want_close)
        return -1;
    if (pss->file != NULL) { /* a download: the next chunk */
        int rc = hub__http_file_write(wsi, pss);
        if (rc == 0)
            return 0;
        hub__http_file_end(pss);
        return rc < 0 ? -1 : finish(wsi, pss);
    }
    return write_resp(wsi, pss, NULL);
}

static void enter(hub_pss_t *pss)
{
    pss->in_cb = 1;
    pss->done_pending = 0;
}

/* Finish an lws callback in which a response may have been written. pss must
 * not be touched after lws_http_transaction_completed(): it may free it. */
static int leave(struct lws *wsi, hub_pss_t *pss, int rc)
{
    int done = pss->done_pending;
    pss->in_cb = 0;
    pss->done_pending = 0;
    if (rc < 0 || pss->want_close)
        return -1;
    if (done)
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    return rc;
}

int hub__http_callback(hub_net_t *net, struct lws *wsi, enum lws_callback_reasons reason,
                       hub_pss_t *pss, void *in, size_t len)
{
    int rc;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (net->closing || atomic_load(&net->s->closing))
            return -1;
        pss->want_close = 0;
        enter(pss);
        rc = on_request(net, wsi, pss, (const char *)in);
        return leave(wsi, pss, rc);
    case LWS_CALLBACK_HTTP_BODY:
        enter(pss);
        rc = on_body(net, wsi, pss, in, len);
        return leave(wsi, pss, rc);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        enter(pss);
        rc = on_body_done(net, wsi, pss);
        return leave(wsi, pss, rc);
    case LWS_CALLBACK_HTTP_WRITEABLE: return on_writeable(wsi, pss);
    case LWS_CALLBACK_HTTP_FILE_COMPLETION: return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (pss != NULL && !pss->is_ws)
            pss_reset(pss);
        return 0;
    default: return lws_callback_http_dummy(wsi, reason, pss, in, len);
    }
}
