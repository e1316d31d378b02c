/* tests/unit/scn_rig.h - the helpers test_scenes.c and test_scenes_store.c share.
 *
 * Header-only (static inline, so a file that uses only part of it still
 * builds with -Werror). The clocks are the real ones: scenes fire on the
 * monotonic clock, so the tests run the real uv loop for real (short)
 * times and bound what they measure generously (ASan builds are slow).
 *
 * The rig: a uv loop, the metrics, an engine with the devices domain (the
 * target of command actions) and the scenes domain, and one subscriber
 * that records every announcement (name, src, patches, the MQTT messages
 * the domains published for it, and when it was heard on the monotonic
 * clock) and every operator event. It reports the fate of tracked MQTT
 * messages as the MQTT adapter does (tracks_sent), so a published scene
 * action stays "sent" until feedback comes; a test tells a fate itself
 * with scn_rig_puback. MQTT messages from devices are fed through the
 * domains' raw topic definitions as the MQTT adapter does
 * (scn_rig_mqtt). Payloads are written with single quotes (turned into
 * double quotes). */
#ifndef HUB_TEST_SCN_RIG_H
#define HUB_TEST_SCN_RIG_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/jbuf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/ulid.h"
#include "domains/devices/devices.h"
#include "domains/scenes/scenes.h"
#include "domains/scenes/scenes_int.h"
#include "engine/engine.h"
#include "engine/intent.h"

/* ---- the rig ------------------------------------------------------------------------ */

typedef struct scn_msg {
    int kind; /* HUB_OUT_* */
    char topic[160];
    char *payload; /* heap, NUL-terminated */
    size_t len;
    int qos, retain;
    int tracked;
    hub_sent_fn sent;
    void *ctx;
    uint64_t token;
} scn_msg_t;

typedef struct scn_ann {
    uint64_t seq;
    uint64_t at_us; /* heard (monotonic) */
    char name[HUB_NAME_MAX + 1];
    char src[HUB_SRC_MAX + 1];
    char *patches; /* heap */
    size_t nchanges;
    scn_msg_t *msgs;
    size_t nmsgs;
} scn_ann_t;

typedef struct scn_reply {
    hub_reply_t base; /* first */
    int *status;
    char **body;
} scn_reply_t;

typedef struct scn_rig {
    uv_loop_t loop;
    hub_metrics_t *metrics;
    hub_engine_t *e;
    hub_scndom_t *d;
    hub_devdom_t *dv;
    hub_scndom_cfg_t cfg;
    int no_track; /* no subscriber reports on tracked messages: the engine fails them */
    /* announcements and events */
    scn_ann_t *anns;
    size_t nanns, capanns;
    hub_jbuf_t events; /* "error scenes: simulation mode …\n" */
    /* the last answer */
    int outcome;
    hub_error_t err;
    uint64_t seq;
    char run_id[SCN_RUN_ID_LEN + 1]; /* the run the last applied scene.run started */
    int nanswers;
    /* REST */
    const hub_route_def_t *route;
    void *route_ctx;
    int http_status;
    char *http_body; /* heap */
} scn_rig_t;

static inline hub_devdom_cfg_t scn_rig_devcfg(void)
{
    hub_devdom_cfg_t c = {
        .topic_root = "infoscreen",
        .grace_s = 10,
        .poll_s = 30,
        .expiry_s = 240,
        .recovery = 0,
        .recovery_grace_s = 180,
        .recovery_lockout_min = 15,
        .recovery_expiry_s = 300,
        .outage_fraction = 0.8,
        .compat_topics = 0,
        .log_retention = 1000,
        .log_retention_days = 30,
    };
    return c;
}

static inline void scn_rig_on_state(void *ud, const hub_announce_t *ann)
{
    scn_rig_t *R = ud;
    if (R->nanns == R->capanns) {
        R->capanns = R->capanns ? R->capanns * 2 : 64;
        R->anns = hub_realloc(R->anns, R->capanns * sizeof(*R->anns));
    }
    scn_ann_t *a = &R->anns[R->nanns++];
    memset(a, 0, sizeof(*a));
    a->seq = ann->seq;
    a->at_us = hub_mono_us();
    snprintf(a->name, sizeof(a->name), "%s", ann->intent->name);
    snprintf(a->src, sizeof(a->src), "%s", ann->intent->src);
    a->patches = hub_strndup(ann->patches ? ann->patches : "", ann->patches_len);
    a->nchanges = ann->nchanges;
    a->nmsgs = ann->nmsgs;
    a->msgs = hub_calloc(ann->nmsgs + 1, sizeof(*a->msgs));
    for (size_t i = 0; i < ann->nmsgs; i++) {
        const hub_outmsg_t *o = &ann->msgs[i];
        scn_msg_t *m = &a->msgs[i];
        m->kind = o->kind;
        snprintf(m->topic, sizeof(m->topic), "%s", o->name ? o->name : "");
        m->payload = hub_strndup(o->text ? o->text : "", o->text ? o->len : 0);
        m->len = o->text ? o->len : 0;
        m->qos = o->qos;
        m->retain = o->retain;
        m->tracked = o->sent != NULL;
        m->sent = o->sent;
        m->ctx = o->sent_ctx;
        m->token = o->token;
    }
}

/* A message published now (hub_engine_publish_now: a scene's action at its
 * offset), recorded as an announcement of its own named "direct". */
static inline void scn_rig_on_direct(void *ud, const hub_outmsg_t *o)
{
    hub_intent_t in = {0};
    snprintf(in.name, sizeof(in.name), "direct");
    snprintf(in.src, sizeof(in.src), "timer");
    hub_announce_t ann = {.seq = 0, .intent = &in, .msgs = o, .nmsgs = 1};
    scn_rig_on_state(ud, &ann);
}

static inline void scn_rig_on_event(void *ud, const hub_event_t *ev)
{
    static const char *const levels[] = {"info", "warning", "error"};
    scn_rig_t *R = ud;
    char line[600];
    int n = snprintf(line, sizeof(line), "%s %s: %s\n", levels[ev->level], ev->source, ev->message);
    hub_jbuf_raw(&R->events, line, (size_t)n);
}

static inline const char *scn_rig_events(const scn_rig_t *R)
{
    return R->events.p ? R->events.p : "";
}

/* Loop, metrics and engine; the devices and scenes domains bound to it
 * (not started). */
static inline void scn_rig_init(scn_rig_t *R, const hub_scndom_cfg_t *cfg)
{
    hub_engine_cfg_t ec = {.queue_size = 1000, .dedupe_capacity = 1000, .dedupe_ttl_ms = 900000};
    hub_devdom_cfg_t dc = scn_rig_devcfg();

    assert_int_equal(uv_loop_init(&R->loop), 0);
    R->metrics = hub_metrics_new();
    R->cfg = *cfg;
    hub_jbuf_init(&R->events);
    assert_int_equal(hub_engine_new(&R->e, &R->loop, &ec, R->metrics), 0);
    assert_int_equal(hub_devdom_bind(&R->dv, R->e, &R->loop, R->metrics, &dc, NULL), 0);
    assert_int_equal(hub_scndom_bind(&R->d, R->e, &R->loop, R->metrics, &R->cfg), 0);
    assert_non_null(R->d);
}

/* Start the engine (persist NULL: no store) and subscribe the recorder. */
static inline void scn_rig_go(scn_rig_t *R, const hub_restore_t *restore,
                              const hub_persist_ops_t *persist)
{
    assert_int_equal(hub_engine_start(R->e, restore, persist), 0);
    hub_subscriber_t sub = {.on_state = scn_rig_on_state,
                            .on_event = scn_rig_on_event,
                            .ud = R,
                            .tracks_sent = !R->no_track,
                            .on_direct = R->no_track ? NULL : scn_rig_on_direct};
    hub_engine_subscribe(R->e, &sub);
    hub_scndom_start(R->d);
}

static inline void scn_rig_free_anns(scn_rig_t *R)
{
    for (size_t i = 0; i < R->nanns; i++) {
        hub_free(R->anns[i].patches);
        for (size_t k = 0; k < R->anns[i].nmsgs; k++)
            hub_free(R->anns[i].msgs[k].payload);
        hub_free(R->anns[i].msgs);
    }
    hub_free(R->anns);
    R->anns = NULL;
    R->nanns = R->capanns = 0;
}

static inline void scn_rig_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Apply what is queued, and what that makes, until the engine is idle;
 * bounded. Due timers fire on the way (UV_RUN_NOWAIT), none is waited for. */
static inline void scn_rig_settle(scn_rig_t *R)
{
    for (int i = 0; i < 20000; i++) {
        hub_engine_drain_now(R->e);
        uv_run(&R->loop, UV_RUN_NOWAIT);
        if (hub_engine_idle(R->e))
            return;
        scn_rig_sleep_ms(1);
    }
    fail_msg("the engine did not become idle");
}

static inline void scn_rig_on_guard(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Run the loop until pred(R, ud) holds (checked between turns) or ms
 * passed; 1 when it held. pred NULL: run for ms. */
static inline int scn_rig_wait(scn_rig_t *R, long ms, int (*pred)(scn_rig_t *R, const void *ud),
                               const void *ud)
{
    uv_timer_t guard;
    int expired = 0, held = 0;

    uv_timer_init(&R->loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, scn_rig_on_guard, (uint64_t)ms, 0);
    for (;;) {
        if (pred != NULL && pred(R, ud)) {
            held = 1;
            break;
        }
        if (expired)
            break;
        uv_run(&R->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&guard);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&R->loop, UV_RUN_NOWAIT); /* the guard's close */
    return held;
}

static inline void scn_rig_free(scn_rig_t *R)
{
    hub_scndom_stop(R->d);
    hub_devdom_stop(R->dv);
    hub_engine_free(R->e);
    uv_run(&R->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&R->loop);
    hub_scndom_free(R->d);
    hub_devdom_free(R->dv);
    hub_metrics_free(R->metrics);
    scn_rig_free_anns(R);
    hub_jbuf_free(&R->events);
    hub_free(R->http_body);
    memset(R, 0, sizeof(*R));
    assert_int_equal(rc, 0);
}

/* ---- JSON written with single quotes --------------------------------------------- */

/* s with ' turned into " (hub_free it). */
static inline char *scn_dq(const char *s)
{
    char *o = hub_strdup(s);
    for (char *p = o; *p; p++)
        if (*p == '\'')
            *p = '"';
    return o;
}

static inline json_t *scn_json(const char *single_quoted)
{
    json_error_t jerr;
    char *t = scn_dq(single_quoted);
    json_t *j = json_loads(t, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        fail_msg("bad test JSON %s: %s", t, jerr.text);
    hub_free(t);
    return j;
}

static inline void scn_write_file(const char *path, const char *single_quoted)
{
    char *t = scn_dq(single_quoted);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(t, f);
    fclose(f);
    hub_free(t);
}

/* The whole file (hub_free it), NULL when it cannot be read. */
static inline char *scn_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    hub_jbuf_t b;
    char buf[4096];
    size_t n;
    hub_jbuf_init(&b);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        hub_jbuf_raw(&b, buf, n);
    fclose(f);
    char *out = hub_strndup(b.p ? b.p : "", b.len);
    hub_jbuf_free(&b);
    return out;
}

/* ---- intents ---------------------------------------------------------------------- */

static inline void scn_rig_on_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    scn_rig_t *R = ud;
    R->outcome = in->outcome;
    R->err = in->err;
    R->seq = in->seq;
    R->nanswers++;
    if (strcmp(in->name, "scene.run") == 0 && ann != NULL)
        for (size_t i = 0; i < ann->nchanges; i++)
            if (strncmp(ann->changes[i].path, "scenes.runs.", 12) == 0 &&
                strcmp(ann->changes[i].value, "null") != 0)
                snprintf(R->run_id, sizeof(R->run_id), "%s", ann->changes[i].path + 12);
}

/* Submit name (payload: a JSON object, taken) from src; 0 or -1 (prepare
 * refused: outcome REJECTED, err). The caller settles. What the hub makes
 * itself (src mqtt, timer, scene) is internal, as intent.h has it. */
static inline int scn_rig_submit(scn_rig_t *R, const char *src, const char *name, json_t *payload)
{
    static unsigned n;
    char id[HUB_REQ_ID_MAX + 1];
    hub_error_t err;
    int internal =
        strcmp(src, "mqtt") == 0 || strcmp(src, "timer") == 0 || strcmp(src, "scene") == 0;

    if (internal) {
        id[0] = HUB_INTERNAL_ID_PREFIX;
        hub_ulid_new(id + 1);
    } else {
        snprintf(id, sizeof(id), "t-%u-%llu", ++n, (unsigned long long)hub_mono_us());
    }
    hub_intent_t *in = hub_intent_new(id, src, name);
    hub_intent_set_payload(in, payload);
    in->internal = internal;
    in->recv_us = hub_mono_us();
    in->done = scn_rig_on_done;
    in->ud = R;
    R->outcome = -999;
    memset(&R->err, 0, sizeof(R->err));
    if (hub_engine_prepare(R->e, in, &err) != 0) {
        R->outcome = HUB_INTENT_REJECTED;
        R->err = err;
        hub_intent_free(in);
        return -1;
    }
    assert_int_equal(hub_engine_submit(R->e, in), 0);
    return 0;
}

/* Submit and settle; the outcome. */
static inline int scn_rig_run(scn_rig_t *R, const char *src, const char *name, const char *payload)
{
    if (scn_rig_submit(R, src, name, scn_json(payload)) == 0)
        scn_rig_settle(R);
    assert_int_not_equal(R->outcome, -999);
    return R->outcome;
}

/* ---- REST (the routes as the HTTP adapter drives them) ------------------------------ */

static inline void scn_reply_send(hub_reply_t *r, int status, const char *body, size_t len)
{
    scn_reply_t *f = (scn_reply_t *)r;
    *f->status = status;
    hub_free(*f->body);
    *f->body = hub_strndup(body, len);
    hub_free(f);
}

static inline void scn_rig_on_http_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    scn_rig_t *R = ud;
    scn_rig_on_done(in, ann, ud);
    if (R->route->answer != NULL) {
        scn_reply_t *f = hub_calloc(1, sizeof(*f));
        f->base.send = scn_reply_send;
        f->status = &R->http_status;
        f->body = &R->http_body;
        R->route->answer(R->route_ctx, in, ann, &f->base);
        return;
    }
    int ok = in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE;
    R->http_status = ok ? 200 : hub_errcode_http(in->err.code);
    hub_free(R->http_body);
    R->http_body = hub_strdup(ok ? "{\"ok\":true}" : in->err.msg);
}

/* method path with body (single-quoted JSON, NULL: none): the status and
 * R->http_body (a mutation is answered once applied; a read at once). */
static inline int scn_rig_http(scn_rig_t *R, int method, const char *path, const char *body)
{
    hub_route_req_t rq;
    unsigned allow = 0;
    hub_error_t err;
    const char *name = NULL;
    json_t *payload = NULL;

    memset(&rq, 0, sizeof(rq));
    memset(&err, 0, sizeof(err));
    R->http_status = 0;
    R->route = hub_engine_route(R->e, method, path, &rq, &R->route_ctx, &allow);
    if (R->route == NULL)
        return R->http_status = allow ? 405 : 404;
    json_t *b = body ? scn_json(body) : NULL;
    rq.body = b;
    if (R->route->read != NULL) {
        hub_jbuf_t out;
        hub_jbuf_init(&out);
        int rc = R->route->read(R->route_ctx, &rq, &out, &err);
        hub_free(R->http_body);
        R->http_body = rc == 0 ? hub_strndup(out.p ? out.p : "", out.len) : hub_strdup(err.msg);
        R->http_status = rc == 0 ? 200 : hub_errcode_http(err.code);
        hub_jbuf_free(&out);
        json_decref(b);
        return R->http_status;
    }
    assert_non_null(R->route->to_intent);
    int rc = R->route->to_intent(&rq, &name, &payload, &err);
    json_decref(b);
    if (rc != 0) {
        hub_free(R->http_body);
        R->http_body = hub_strdup(err.msg);
        R->err = err;
        return R->http_status = hub_errcode_http(err.code);
    }
    char id[HUB_REQ_ID_MAX + 1];
    hub_ulid_new(id);
    hub_intent_t *in = hub_intent_new(id, "api", name);
    hub_intent_set_payload(in, payload);
    in->recv_us = hub_mono_us();
    in->done = scn_rig_on_http_done;
    in->ud = R;
    if (hub_engine_prepare(R->e, in, &err) != 0) {
        in->outcome = HUB_INTENT_REJECTED;
        in->err = err;
        scn_rig_on_http_done(in, NULL, R);
        hub_intent_free(in);
        return R->http_status;
    }
    assert_int_equal(hub_engine_submit(R->e, in), 0);
    scn_rig_settle(R);
    assert_int_not_equal(R->http_status, 0);
    return R->http_status;
}

/* ---- MQTT from the devices ---------------------------------------------------------- */

/* An MQTT filter with '+' levels (no '#') against a topic. */
static inline int scn_topic_match(const char *f, const char *t)
{
    while (*f && *t) {
        if (*f == '+') {
            while (*t && *t != '/')
                t++;
            f++;
        } else if (*f == *t) {
            f++;
            t++;
        } else {
            return 0;
        }
    }
    return *f == '\0' && *t == '\0';
}

typedef struct scn_feed {
    scn_rig_t *R;
    const char *topic, *payload;
    int submitted; /* intents the scenes domain made */
} scn_feed_t;

static inline void scn_feed_one(void *ud, const hub_topic_def_t *t, void *ctx)
{
    scn_feed_t *f = ud;
    hub_intent_t *in = NULL;
    hub_error_t err;

    if (!t->raw || !scn_topic_match(t->filter, f->topic))
        return;
    memset(&err, 0, sizeof(err));
    if (t->to_intent(ctx, f->topic, f->payload, strlen(f->payload), &in, &err) != 0 || in == NULL)
        return;
    if (in->req_id[0] == '\0')
        hub_ulid_new(in->req_id);
    if (ctx == (void *)f->R->d)
        f->submitted++;
    in->recv_us = hub_mono_us();
    in->done = scn_rig_on_done;
    in->ud = f->R;
    assert_int_equal(hub_engine_submit(f->R->e, in), 0);
}

/* A message from a device, as the MQTT adapter hands it to every domain
 * with a raw filter that matches; settled. The number of intents the
 * scenes domain made of it. */
static inline int scn_rig_mqtt(scn_rig_t *R, const char *topic, const char *payload)
{
    scn_feed_t f = {R, topic, payload, 0};
    hub_engine_topics_foreach(R->e, scn_feed_one, &f);
    scn_rig_settle(R);
    return f.submitted;
}

/* Tell a tracked message's fate, as the MQTT adapter does, then settle. */
static inline void scn_rig_puback(scn_rig_t *R, const scn_msg_t *m, int ok, const char *why)
{
    assert_non_null(m);
    assert_true(m->tracked);
    m->sent(m->ctx, m->token, ok, why);
    scn_rig_settle(R);
}

/* ---- the published state ---------------------------------------------------------- */

/* render_state(all rooms) as parsed JSON (new reference). */
static inline json_t *scn_rig_render(scn_rig_t *R)
{
    hub_jbuf_t b;
    json_error_t jerr;
    hub_jbuf_init(&b);
    hub_engine_render_state(R->e, hub_engine_state_rooms(R->e), &b);
    json_t *j = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        fail_msg("render_state is not JSON (%s): %.*s", jerr.text, (int)b.len, b.p);
    hub_jbuf_free(&b);
    return j;
}

/* state.scenes.<part>[.<id>] (new reference), NULL when absent. */
static inline json_t *scn_rig_get(scn_rig_t *R, const char *part, const char *id)
{
    json_t *all = scn_rig_render(R);
    json_t *v = json_object_get(json_object_get(json_object_get(all, "state"), "scenes"), part);
    if (id != NULL)
        v = json_object_get(v, id);
    json_incref(v);
    json_decref(all);
    return v;
}

/* Compact text of v ("<absent>" for NULL; strings without quotes). */
static inline const char *scn_text(const json_t *v)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    if (v == NULL) {
        snprintf(buf[k], sizeof(buf[k]), "<absent>");
    } else if (json_is_string(v)) {
        snprintf(buf[k], sizeof(buf[k]), "%s", json_string_value(v));
    } else {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        snprintf(buf[k], sizeof(buf[k]), "%s", t);
        free(t);
    }
    return buf[k];
}

/* A field of scenes.runs.<id> ("<absent>" when not there). */
static inline const char *scn_rig_run_field(scn_rig_t *R, const char *id, const char *key)
{
    json_t *r = scn_rig_get(R, "runs", id);
    const char *s = scn_text(r ? json_object_get(r, key) : NULL);
    json_decref(r);
    return s;
}

/* A field of action i (file order) of run id. */
static inline const char *scn_rig_act(scn_rig_t *R, const char *id, size_t i, const char *key)
{
    json_t *r = scn_rig_get(R, "runs", id);
    const char *s =
        scn_text(r ? json_object_get(json_array_get(json_object_get(r, "actions"), i), key) : NULL);
    json_decref(r);
    return s;
}

static inline double scn_rig_act_num(scn_rig_t *R, const char *id, size_t i, const char *key)
{
    json_t *r = scn_rig_get(R, "runs", id);
    json_t *v = json_object_get(json_array_get(json_object_get(r, "actions"), i), key);
    double d = json_is_number(v) ? json_number_value(v) : -1;
    json_decref(r);
    return d;
}

static inline int scn_rig_run_ended(scn_rig_t *R, const void *id)
{
    json_t *r = scn_rig_get(R, "runs", id);
    const char *st = json_string_value(json_object_get(r, "status"));
    int ended = st != NULL && strcmp(st, "running") != 0;
    json_decref(r);
    return ended;
}

/* Wait (at most ms) for run id to end; its status. */
static inline const char *scn_rig_wait_end(scn_rig_t *R, const char *id, long ms)
{
    if (!scn_rig_wait(R, ms, scn_rig_run_ended, id))
        fail_msg("run %s did not end in %ld ms: %s", id, ms, scn_rig_run_field(R, id, "status"));
    scn_rig_settle(R);
    return scn_rig_run_field(R, id, "status");
}

/* ---- announcements ------------------------------------------------------------------- */

/* The last announcement of name, or NULL. */
static inline scn_ann_t *scn_rig_ann(scn_rig_t *R, const char *name)
{
    for (size_t i = R->nanns; i > 0; i--)
        if (strcmp(R->anns[i - 1].name, name) == 0)
            return &R->anns[i - 1];
    return NULL;
}

/* The first MQTT message to topic announced from announcement from on
 * (NULL: none), and the announcement that carried it. */
static inline scn_msg_t *scn_rig_published(scn_rig_t *R, size_t from, const char *topic,
                                           scn_ann_t **which)
{
    for (size_t i = from; i < R->nanns; i++)
        for (size_t k = 0; k < R->anns[i].nmsgs; k++)
            if (R->anns[i].msgs[k].kind == HUB_OUT_MQTT &&
                strcmp(R->anns[i].msgs[k].topic, topic) == 0) {
                if (which)
                    *which = &R->anns[i];
                return &R->anns[i].msgs[k];
            }
    return NULL;
}

/* MQTT messages announced from announcement from on whose topic starts
 * with prefix. */
static inline size_t scn_rig_count_published(scn_rig_t *R, size_t from, const char *prefix)
{
    size_t n = 0;
    for (size_t i = from; i < R->nanns; i++)
        for (size_t k = 0; k < R->anns[i].nmsgs; k++)
            n += R->anns[i].msgs[k].kind == HUB_OUT_MQTT &&
                 strncmp(R->anns[i].msgs[k].topic, prefix, strlen(prefix)) == 0;
    return n;
}

typedef struct scn_pub_wait {
    size_t from;
    const char *topic;
} scn_pub_wait_t;

static inline int scn_rig_is_published(scn_rig_t *R, const void *ud)
{
    const scn_pub_wait_t *w = ud;
    return scn_rig_published(R, w->from, w->topic, NULL) != NULL;
}

/* Wait (at most ms) until topic is published (from announcement from on). */
static inline scn_msg_t *scn_rig_wait_published(scn_rig_t *R, size_t from, const char *topic,
                                                long ms)
{
    scn_pub_wait_t w = {from, topic};
    if (!scn_rig_wait(R, ms, scn_rig_is_published, &w))
        fail_msg("%s was not published in %ld ms", topic, ms);
    return scn_rig_published(R, from, topic, NULL);
}

/* ---- the log (stdout, JSON lines) ---------------------------------------------------- */

typedef struct scn_cap {
    int saved; /* the real stdout; -1 when not capturing */
    char path[128];
} scn_cap_t;

/* From now on the log (at debug) goes to a file instead of stdout. */
static inline void scn_cap_begin(scn_cap_t *c)
{
    snprintf(c->path, sizeof(c->path), "/tmp/test_scenes_log.XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    fflush(stdout);
    c->saved = dup(1);
    assert_true(c->saved >= 0);
    assert_true(dup2(fd, 1) >= 0);
    close(fd);
    hub_log_set_level(HUB_LOG_DEBUG);
}

/* Back to stdout at level; what was logged (hub_free it). */
static inline char *scn_cap_end(scn_cap_t *c, int level)
{
    if (c->saved < 0)
        return hub_strdup("");
    hub_log_flush();
    fflush(stdout);
    dup2(c->saved, 1);
    close(c->saved);
    c->saved = -1;
    hub_log_set_level(level);
    char *text = scn_read_file(c->path);
    unlink(c->path);
    return text ? text : hub_strdup("");
}

#endif
