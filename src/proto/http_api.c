/* proto/http_api.c - the core /api/v1 routes and the intents of REST.
 *
 *   GET  /api/v1/state[?rooms=dmx,…]   the snapshot; ETag "<seq>", If-None-Match -> 304
 *   POST /api/v1/intents               an intent envelope
 *   GET  /api/v1/journal?since=S&limit=L
 *   GET  /api/v1/ws/status, /api/websocket/status
 *
 * and, for every mutation (POST /api/v1/intents or a domain's route), the
 * intent it becomes: req_id from the body, else the Idempotency-Key header,
 * else a new ULID; then the domain's prepare step, here on the network
 * thread, before it is queued.
 *
 * Threading: a network context's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/err.h"
#include "core/jbuf.h"
#include "core/mem.h"
#include "core/ulid.h"
#include "proto/proto_int.h"

#define JOURNAL_LIMIT_MAX     1000
#define JOURNAL_LIMIT_DEFAULT 100

/* req_id: the request's, once known (a refusal by a prepare step names it
 * like the engine's refusals do), else NULL. */
static void api_error_id(struct lws *wsi, hub_pss_t *pss, const hub_error_t *err,
                         const char *req_id)
{
    json_t *o = json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code",
                          hub_errcode_name(err->code), "message", err->msg);
    if (req_id != NULL && req_id[0] != '\0') {
        /* {"ok":false,"req_id":…,"error":…}: the order of the engine's answers */
        json_t *e = json_incref(json_object_get(o, "error"));
        json_object_del(o, "error");
        json_object_set_new(o, "req_id", json_string(req_id));
        json_object_set_new(o, "error", e);
    }
    if (err->field[0] != '\0')
        json_object_set_new(json_object_get(o, "error"), "field", json_string(err->field));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (err->code == HUB_ERR_OVERLOADED || err->code == HUB_ERR_DROPPED)
        hub__http_add_header(pss, "retry-after:", "1");
    hub__http_respond(wsi, pss, hub_errcode_http(err->code), "application/json", text,
                      strlen(text));
    free(text);
    json_decref(o);
}

static void api_error(struct lws *wsi, hub_pss_t *pss, const hub_error_t *err)
{
    api_error_id(wsi, pss, err, NULL);
}

/* Room names in a comma list (rooms=dmx,system) to bits; all state rooms
 * when absent. */
static int parse_rooms(hub_server_t *s, const char *list, uint64_t *out, hub_error_t *err)
{
    uint64_t mask = 0;

    if (list == NULL || list[0] == '\0') {
        *out = hub_engine_state_rooms(s->d.engine);
        return 0;
    }
    while (*list) {
        const char *comma = strchr(list, ',');
        size_t n = comma ? (size_t)(comma - list) : strlen(list);
        int bit = hub_engine_room_bit(s->d.engine, list, n);
        if (bit < 0)
            return hub_error_set(err, HUB_ERR_INVALID, "rooms", "unknown room \"%.*s\"",
                                 (int)(n > 40 ? 40 : n), list);
        mask |= 1ull << bit;
        list = comma ? comma + 1 : list + n;
    }
    *out = mask;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

static void ws_status(hub_server_t *s, struct lws *wsi, hub_pss_t *pss)
{
    hub_jbuf_t b;
    int n = hub_engine_nrooms(s->d.engine);

    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "clients");
    hub_jbuf_int(&b, atomic_load(&s->ws_clients));
    hub_jbuf_key(&b, "rooms");
    hub_jbuf_open(&b, '{');
    for (int i = 0; i < n; i++) {
        hub_jbuf_key(&b, hub_engine_room_name(s->d.engine, i));
        hub_jbuf_int(&b, atomic_load(&s->room_clients[i]));
    }
    hub_jbuf_close(&b, '}');
    hub_jbuf_key(&b, "slow_dropped_total");
    hub_jbuf_uint(&b, hub_metric_count(s->m_ws_slow));
    hub_jbuf_close(&b, '}');
    hub__http_respond(wsi, pss, 200, "application/json", b.p, b.len);
    hub_jbuf_free(&b);
}

static hub_peer_t *wait_for_loop(hub_net_t *net, hub_pss_t *pss)
{
    pss->pending = hub__peer_new(net, pss, 0);
    return pss->pending;
}

static void get_state(hub_net_t *net, struct lws *wsi, hub_pss_t *pss)
{
    hub_server_t *s = net->s;
    char arg[256], inm[64];
    hub_query_t q = {.what = HUB_Q_STATE};
    hub_error_t err;

    const char *rooms = lws_get_urlarg_by_name(wsi, "rooms=", arg, sizeof(arg));
    if (parse_rooms(s, rooms, &q.rooms, &err) != 0) {
        api_error(wsi, pss, &err);
        return;
    }
    /* If-None-Match: "<seq>" (W/ and a list are accepted). */
    if (hub__hdr(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH, inm, sizeof(inm)) > 0) {
        const char *q1 = strchr(inm, '"');
        uint64_t seq;
        if (q1 != NULL) {
            char num[32];
            size_t n = strcspn(q1 + 1, "\"");
            if (n < sizeof(num)) {
                memcpy(num, q1 + 1, n);
                num[n] = '\0';
                if (parse_u64(num, &seq) == 0) {
                    if (seq == hub__snapshot_seq(s)) { /* nothing new: no trip to the loop */
                        char etag[32];
                        snprintf(etag, sizeof(etag), "\"%llu\"", (unsigned long long)seq);
                        hub__http_add_header(pss, "etag:", etag);
                        hub__http_respond(wsi, pss, 304, "application/json", "", 0);
                        return;
                    }
                    q.if_none_match = seq + 1;
                }
            }
        }
    }
    hub__relay_query(net, wait_for_loop(net, pss), &q);
}

static void get_journal(hub_net_t *net, struct lws *wsi, hub_pss_t *pss)
{
    char arg[64];
    hub_query_t q = {.what = HUB_Q_JOURNAL, .limit = JOURNAL_LIMIT_DEFAULT};
    hub_error_t err;
    uint64_t v;

    const char *since = lws_get_urlarg_by_name(wsi, "since=", arg, sizeof(arg));
    if (since != NULL) {
        if (parse_u64(since, &v) != 0) {
            hub_error_set(&err, HUB_ERR_INVALID, "since",
                          "since must be a seq (a non-negative integer)");
            api_error(wsi, pss, &err);
            return;
        }
        q.since = v;
    }
    const char *limit = lws_get_urlarg_by_name(wsi, "limit=", arg, sizeof(arg));
    if (limit != NULL) {
        if (parse_u64(limit, &v) != 0 || v < 1 || v > JOURNAL_LIMIT_MAX) {
            hub_error_set(&err, HUB_ERR_INVALID, "limit", "limit must be an integer 1-%d",
                          JOURNAL_LIMIT_MAX);
            api_error(wsi, pss, &err);
            return;
        }
        q.limit = (size_t)v;
    }
    hub__relay_query(net, wait_for_loop(net, pss), &q);
}

int hub__http_api_get(hub_net_t *net, struct lws *wsi, hub_pss_t *pss)
{
    static const char *const paths[] = {"/api/v1/state", "/api/v1/journal", "/api/v1/ws/status",
                                        "/api/websocket/status"};
    int which = -1;

    for (int i = 0; i < 4; i++)
        if (strcmp(pss->path, paths[i]) == 0)
            which = i;
    if (which < 0)
        return 0;
    if (pss->method != HUB_M_GET && pss->method != HUB_M_HEAD) {
        hub__http_add_header(pss, "allow:", "GET, OPTIONS");
        hub__http_respond_json(wsi, pss, 405,
                               "{\"error\":\"method not allowed\",\"allow\":\"GET, OPTIONS\"}");
        return 1;
    }
    switch (which) {
    case 0: get_state(net, wsi, pss); break;
    case 1: get_journal(net, wsi, pss); break;
    default: ws_status(net->s, wsi, pss); break;
    }
    return 1;
}

/* ---- mutations ------------------------------------------------------------------ */

/* The request's req_id: the body's, else Idempotency-Key, else a new ULID.
 * Both given and different is refused. */
static int pick_req_id(struct lws *wsi, const char *body_id, char out[HUB_REQ_ID_MAX + 1],
                       hub_error_t *err)
{
    char idem[HUB_REQ_ID_MAX + 2];
    int n = hub__hdr_custom(wsi, "idempotency-key:", idem, sizeof(idem));

    if (n < 0 || (n > 0 && !hub_req_id_valid(idem, (size_t)n)))
        return hub_error_set(err, HUB_ERR_INVALID, "Idempotency-Key",
                             "Idempotency-Key must be 1-64 printable ASCII characters");
    if (body_id != NULL && body_id[0] != '\0') {
        if (n > 0 && strcmp(idem, body_id) != 0)
            return hub_error_set(err, HUB_ERR_INVALID, "req_id",
                                 "req_id and the Idempotency-Key header differ: send one");
        snprintf(out, HUB_REQ_ID_MAX + 1, "%s", body_id);
    } else if (n > 0) {
        memcpy(out, idem, (size_t)n + 1); /* n <= HUB_REQ_ID_MAX: checked above */
    } else {
        hub_ulid_new(out);
    }
    return 0;
}

static json_t *parse_body(hub_pss_t *pss, int required, hub_error_t *err)
{
    json_error_t jerr;
    json_t *obj;

    if (pss->body_len == 0) {
        if (required)
            hub_error_set(err, HUB_ERR_INVALID, "", "empty body: send a JSON object");
        return required ? NULL : json_object();
    }
    obj = json_loadb(pss->body, pss->body_len, HUB_JSON_FLAGS, &jerr);
    if (obj == NULL) {
        hub_error_set(err, HUB_ERR_INVALID, "", "malformed JSON at line %d column %d: %.120s",
                      jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        hub_error_set(err, HUB_ERR_INVALID, "", "the body must be a JSON object");
        return NULL;
    }
    return obj;
}

hub_intent_t *hub__http_api_intent(hub_net_t *net, struct lws *wsi, hub_pss_t *pss)
{
    hub_server_t *s = net->s;
    hub_intent_t *in = NULL;
    hub_error_t err;
    char req_id[HUB_REQ_ID_MAX + 1];
    json_t *body;

    memset(&err, 0, sizeof(err));
    body = parse_body(pss, pss->action == HUB_ACT_INTENT, &err);
    if (body == NULL && pss->action == HUB_ACT_ROUTE && pss->route->lenient_body) {
        memset(&err, 0, sizeof(err));
        pss->body_len = 0; /* read as none */
        body = json_object();
    }
    if (body == NULL)
        goto refuse;

    if (pss->action == HUB_ACT_INTENT) {
        char given[HUB_REQ_ID_MAX + 1];
        if (hub_intent_from_envelope(body, "api", 0, &in, &err, given) != 0)
            goto refuse;
        if (pick_req_id(wsi, given, req_id, &err) != 0)
            goto refuse;
    } else {
        const json_t *id = json_object_get(body, "req_id");
        const char *name = NULL;
        json_t *payload = NULL;
        if (id != NULL && (!json_is_string(id) ||
                           !hub_req_id_valid(json_string_value(id), json_string_length(id)))) {
            hub_error_set(&err, HUB_ERR_INVALID, "req_id",
                          "req_id must be a string of 1-64 printable ASCII characters");
            goto refuse;
        }
        if (pick_req_id(wsi, id ? json_string_value(id) : NULL, req_id, &err) != 0)
            goto refuse;
        json_object_del(body, "req_id");
        pss->rq->body = pss->body_len > 0 ? body : NULL;
        if (pss->route->to_intent(pss->rq, &name, &payload, &err) != 0)
            goto refuse;
        in = hub_intent_new(req_id, "api", name);
        hub_intent_set_payload(in, payload);
        in->route = pss->route;
        in->route_ctx = pss->route_ctx;
    }
    snprintf(in->req_id, sizeof(in->req_id), "%s", req_id);
    if (hub_engine_prepare(s->d.engine, in, &err) != 0) {
        hub_intent_free(in);
        json_decref(body);
        api_error_id(wsi, pss, &err, req_id);
        return NULL;
    }
    json_decref(body);
    return in;

refuse:
    hub_intent_free(in);
    json_decref(body);
    api_error(wsi, pss, &err);
    return NULL;
}
