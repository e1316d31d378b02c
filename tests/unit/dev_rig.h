/* tests/unit/dev_rig.h - the helpers test_devices.c and test_devices_store.c share.
 *
 * Header-only (static inline, so a file that uses only part of it still
 * builds with -Werror), apart from the fake wall clock below.
 *
 * The clock: this header defines hub_wall_ms() and hub_mono_us() (core/clock.h),
 * so the test executable never links core/clock.o from the static hub_core
 * (a link seam, as a fakes/fake_clock.c would be). The wall clock stands
 * still at dev_clock_ms until a test moves it (dev_clock_advance), so every
 * time the devices domain writes (hub_apply_ts_ms, its poll timer) is known
 * to the millisecond: expiry, liveness and the lockout window are tested
 * without waiting. The monotonic clock is the real one (latencies, libuv).
 *
 * The rig: a uv loop, the metrics, an engine with the devices domain
 * (hub_devdom_bind), and one subscriber that records every announcement
 * (name, src, patches, rooms, the MQTT messages its domain published) and
 * every operator event. With track set it reports the fate of tracked MQTT
 * messages as the MQTT adapter does (tracks_sent): the test tells each
 * fate with dev_rig_puback; without it the engine fails them ("MQTT is
 * disabled"), as a hub without MQTT does. Intents are submitted with the
 * names and payloads the ingest and the REST routes make; payloads are
 * written with single quotes (turned into double quotes) and parsed
 * without HUB_JSON_FLAGS (the adapters' envelope parser turns integral
 * numbers back into integers). */
#ifndef HUB_TEST_DEV_RIG_H
#define HUB_TEST_DEV_RIG_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/jbuf.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "domains/devices/devices.h"
#include "domains/devices/devices_int.h"
#include "engine/engine.h"
#include "engine/intent.h"

/* ---- the fake wall clock (a link seam: see the file comment) ---------------------- */

#define DEV_T0 1775220490000ull /* 2026-04-03T12:48:10Z */

static uint64_t dev_clock_ms = DEV_T0;

uint64_t hub_wall_ms(void)
{
    return dev_clock_ms;
}

uint64_t hub_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline void dev_clock_set(uint64_t ms)
{
    dev_clock_ms = ms;
}

static inline void dev_clock_advance(uint64_t ms)
{
    dev_clock_ms += ms;
}

/* RFC 3339 with ms, as the domain renders times. */
static inline const char *dev_time(uint64_t ms)
{
    static char buf[4][DEV_TIME_MAX];
    static int k;
    k = (k + 1) % 4;
    dev_time_format(ms, 1, buf[k]);
    return buf[k];
}

/* ---- ids ------------------------------------------------------------------------- */

#define U1   "9b8d1856-ff34-4864-a726-12de072d0f77"
#define U2   "0b9c5e0e-3a4f-4d6b-9a8e-2f1e3d4c5b6a"
#define U3   "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
#define CMD1 "5d1f8b4b-7e85-44fb-8f38-3f5d5da5e2e4"
#define CMD2 "6e2a9c5c-8f96-45ac-9049-4a6e6eb6f3f5"
#define CMD3 "7f3bad6d-90a7-46bd-a15a-5b7f7fc704a6"

/* ---- the rig ------------------------------------------------------------------------ */

typedef struct dev_msg {
    int kind; /* HUB_OUT_* */
    char topic[160];
    char *payload; /* heap, NUL-terminated */
    size_t len;
    int qos, retain, flags, level;
    int tracked; /* hub_outbox_mqtt_tracked */
    hub_sent_fn sent;
    void *ctx;
    uint64_t token;
} dev_msg_t;

typedef struct dev_ann {
    uint64_t seq, ts_ms;
    char name[HUB_NAME_MAX + 1];
    char src[HUB_SRC_MAX + 1];
    char *patches; /* heap */
    char *payload; /* heap: the intent's payload as the journal has it */
    uint64_t rooms;
    size_t nchanges;
    dev_msg_t *msgs;
    size_t nmsgs;
} dev_ann_t;

typedef struct dev_reply_rec {
    int status;
    char *body; /* heap */
} dev_reply_rec_t;

typedef struct dev_rig {
    uv_loop_t loop;
    hub_metrics_t *metrics;
    hub_engine_t *e;
    hub_devdom_t *d;
    hub_devdom_cfg_t cfg;
    int track;         /* subscribe with tracks_sent (the MQTT adapter's role) */
    int answer;        /* answer device.command intents as the REST route does */
    int slow;          /* settle sleeps between turns (a store thread is involved) */
    size_t queue_size; /* the engine's queue; 0: 1000 */
    /* announcements and events */
    dev_ann_t *anns;
    size_t nanns, capanns;
    hub_jbuf_t events; /* "warning devices: alert …\n" */
    /* the last answer */
    int outcome;
    hub_error_t err;
    uint64_t seq;
    char cmd_id[40]; /* the command_id of the last device.command (prepare made it) */
    int nanswers;
    /* REST answers given through dev__answer_command */
    dev_reply_rec_t replies[64];
    int nreplies;
} dev_rig_t;

static inline hub_devdom_cfg_t dev_rig_cfg(void)
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
        .compat_topics = 1,
        .log_retention = 1000,
        .log_retention_days = 30,
    };
    return c;
}

static inline void dev_rig_on_state(void *ud, const hub_announce_t *ann)
{
    dev_rig_t *R = ud;
    if (R->nanns == R->capanns) {
        R->capanns = R->capanns ? R->capanns * 2 : 32;
        R->anns = hub_realloc(R->anns, R->capanns * sizeof(*R->anns));
    }
    dev_ann_t *a = &R->anns[R->nanns++];
    memset(a, 0, sizeof(*a));
    a->seq = ann->seq;
    a->ts_ms = ann->ts_ms;
    snprintf(a->name, sizeof(a->name), "%s", ann->intent->name);
    snprintf(a->src, sizeof(a->src), "%s", ann->intent->src);
    a->patches = hub_strndup(ann->patches ? ann->patches : "", ann->patches_len);
    a->payload = hub_strndup(ann->intent->payload_text ? ann->intent->payload_text : "",
                             ann->intent->payload_text ? ann->intent->payload_len : 0);
    a->rooms = ann->rooms;
    a->nchanges = ann->nchanges;
    a->nmsgs = ann->nmsgs;
    a->msgs = hub_calloc(ann->nmsgs + 1, sizeof(*a->msgs));
    for (size_t i = 0; i < ann->nmsgs; i++) {
        const hub_outmsg_t *o = &ann->msgs[i];
        dev_msg_t *m = &a->msgs[i];
        m->kind = o->kind;
        snprintf(m->topic, sizeof(m->topic), "%s", o->name ? o->name : "");
        m->payload = hub_strndup(o->text ? o->text : "", o->text ? o->len : 0);
        m->len = o->text ? o->len : 0;
        m->qos = o->qos;
        m->retain = o->retain;
        m->flags = o->flags;
        m->level = o->level;
        m->tracked = o->sent != NULL;
        m->sent = o->sent;
        m->ctx = o->sent_ctx;
        m->token = o->token;
    }
}

static inline void dev_rig_on_event(void *ud, const hub_event_t *ev)
{
    static const char *const levels[] = {"info", "warning", "error"};
    dev_rig_t *R = ud;
    char line[600];
    int n = snprintf(line, sizeof(line), "%s %s: %s\n", levels[ev->level], ev->source, ev->message);
    hub_jbuf_raw(&R->events, line, (size_t)n);
}

static inline const char *dev_rig_events(const dev_rig_t *R)
{
    return R->events.p ? R->events.p : "";
}

/* Loop, metrics, engine and the devices domain bound to it (not started). */
static inline void dev_rig_init(dev_rig_t *R, const hub_devdom_cfg_t *cfg)
{
    hub_engine_cfg_t ec = {.queue_size = R->queue_size ? R->queue_size : 1000,
                           .dedupe_capacity = 1000,
                           .dedupe_ttl_ms = 900000}; /* the hub's default, 15 min */
    assert_int_equal(uv_loop_init(&R->loop), 0);
    R->metrics = hub_metrics_new();
    R->cfg = *cfg;
    hub_jbuf_init(&R->events);
    assert_int_equal(hub_engine_new(&R->e, &R->loop, &ec, R->metrics), 0);
}

static inline void dev_rig_bind(dev_rig_t *R, const hub_db_reader_t *reader)
{
    assert_int_equal(hub_devdom_bind(&R->d, R->e, &R->loop, R->metrics, &R->cfg, reader), 0);
    assert_non_null(R->d);
}

/* Start the engine (persist NULL: no store) and subscribe the recorder. */
static inline void dev_rig_go(dev_rig_t *R, const hub_restore_t *restore,
                              const hub_persist_ops_t *persist)
{
    assert_int_equal(hub_engine_start(R->e, restore, persist), 0);
    hub_subscriber_t sub = {.on_state = dev_rig_on_state,
                            .on_event = dev_rig_on_event,
                            .ud = R,
                            .tracks_sent = R->track};
    hub_engine_subscribe(R->e, &sub);
}

static inline void dev_rig_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Apply what is queued, and what that makes (publish outcomes), until the
 * engine is idle; bounded. */
static inline void dev_rig_settle(dev_rig_t *R)
{
    for (int i = 0; i < 20000; i++) {
        hub_engine_drain_now(R->e);
        uv_run(&R->loop, UV_RUN_NOWAIT);
        if (hub_engine_idle(R->e))
            return;
        if (R->slow)
            dev_rig_sleep_ms(1);
    }
    fail_msg("the engine did not become idle");
}

static inline void dev_rig_free_anns(dev_rig_t *R)
{
    for (size_t i = 0; i < R->nanns; i++) {
        hub_free(R->anns[i].patches);
        hub_free(R->anns[i].payload);
        for (size_t k = 0; k < R->anns[i].nmsgs; k++)
            hub_free(R->anns[i].msgs[k].payload);
        hub_free(R->anns[i].msgs);
    }
    hub_free(R->anns);
    R->anns = NULL;
    R->nanns = R->capanns = 0;
}

static inline void dev_rig_free_replies(dev_rig_t *R)
{
    for (int i = 0; i < R->nreplies; i++)
        hub_free(R->replies[i].body);
    R->nreplies = 0;
}

/* ---- intents ---------------------------------------------------------------------- */

/* s with ' turned into " (hub_free it). */
static inline char *dev_dq(const char *s)
{
    char *o = hub_strdup(s);
    for (char *p = o; *p; p++)
        if (*p == '\'')
            *p = '"';
    return o;
}

static inline json_t *dev_json(const char *single_quoted)
{
    json_error_t jerr;
    char *t = dev_dq(single_quoted);
    json_t *j = json_loads(t, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        fail_msg("bad test JSON %s: %s", t, jerr.text);
    hub_free(t);
    return j;
}

typedef struct dev_fake_reply {
    hub_reply_t base; /* first */
    dev_rig_t *R;
} dev_fake_reply_t;

static inline void dev_fake_reply_send(hub_reply_t *r, int status, const char *body, size_t len)
{
    dev_fake_reply_t *f = (dev_fake_reply_t *)r;
    dev_rig_t *R = f->R;
    if (R->nreplies < 64) {
        R->replies[R->nreplies].status = status;
        R->replies[R->nreplies].body = hub_strndup(body, len);
        R->nreplies++;
    }
    hub_free(f);
}

static inline void dev_rig_on_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    dev_rig_t *R = ud;
    R->outcome = in->outcome;
    R->err = in->err;
    R->seq = in->seq;
    R->nanswers++;
    const char *cid = json_string_value(json_object_get(in->payload, "command_id"));
    if (strcmp(in->name, "device.command") == 0 && cid != NULL)
        snprintf(R->cmd_id, sizeof(R->cmd_id), "%s", cid);
    if (R->answer && strcmp(in->name, "device.command") == 0) {
        dev_fake_reply_t *f = hub_calloc(1, sizeof(*f));
        f->base.send = dev_fake_reply_send;
        f->R = R;
        dev__answer_command(R->d, in, ann, &f->base);
    }
}

/* Submit name (payload: a JSON object) from src with req_id rid (NULL: a
 * fresh one); returns 0 or -1 (prepare refused: outcome REJECTED, err). The
 * caller settles. */
static inline int dev_rig_submit(dev_rig_t *R, const char *rid, const char *src, const char *name,
                                 json_t *payload)
{
    static unsigned n;
    char id[HUB_REQ_ID_MAX + 1];
    hub_error_t err;

    if (rid == NULL)
        snprintf(id, sizeof(id), "t-%u-%llu", ++n, (unsigned long long)hub_mono_us());
    else
        snprintf(id, sizeof(id), "%s", rid);
    hub_intent_t *in = hub_intent_new(id, src, name);
    hub_intent_set_payload(in, payload);
    /* what the hub makes itself (telemetry, timers, crash recovery) is
     * internal (intent.h); "api", "ws" and others are clients */
    in->internal =
        strcmp(src, "mqtt") == 0 || strcmp(src, "timer") == 0 || strcmp(src, "scheduler") == 0;
    in->recv_us = hub_mono_us();
    in->done = dev_rig_on_done;
    in->ud = R;
    R->outcome = -999;
    memset(&R->err, 0, sizeof(R->err));
    if (hub_engine_prepare(R->e, in, &err) != 0) {
        R->outcome = HUB_INTENT_REJECTED;
        R->err = err;
        if (R->answer && strcmp(name, "device.command") == 0) {
            /* the route answers a prepare refusal as an error too */
            in->outcome = HUB_INTENT_REJECTED;
            in->err = err;
            dev_rig_on_done(in, NULL, R);
        }
        hub_intent_free(in);
        return -1;
    }
    assert_int_equal(hub_engine_submit(R->e, in), 0);
    return 0;
}

/* Submit and settle; the outcome. */
static inline int dev_rig_run(dev_rig_t *R, const char *src, const char *name, const char *payload)
{
    if (dev_rig_submit(R, NULL, src, name, dev_json(payload)) == 0)
        dev_rig_settle(R);
    assert_int_not_equal(R->outcome, -999);
    return R->outcome;
}

/* ---- the published state ---------------------------------------------------------- */

/* render_state(rooms) as parsed JSON (new reference). */
static inline json_t *dev_rig_render(dev_rig_t *R, uint64_t rooms)
{
    hub_jbuf_t b;
    json_error_t jerr;
    hub_jbuf_init(&b);
    hub_engine_render_state(R->e, rooms, &b);
    json_t *j = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        fail_msg("render_state is not JSON (%s): %.*s", jerr.text, (int)b.len, b.p);
    hub_jbuf_free(&b);
    return j;
}

/* state.devices.<part>.<id> (new reference), NULL when absent. */
static inline json_t *dev_rig_get(dev_rig_t *R, const char *part, const char *id)
{
    json_t *all = dev_rig_render(R, hub_engine_state_rooms(R->e));
    json_t *v = json_object_get(
        json_object_get(json_object_get(json_object_get(all, "state"), "devices"), part), id);
    json_incref(v);
    json_decref(all);
    return v;
}

/* The text of one field of an entity, compact JSON ("null" when null,
 * "<absent>" when the entity or the key is). */
static inline const char *dev_rig_field(dev_rig_t *R, const char *part, const char *id,
                                        const char *key)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    json_t *e = dev_rig_get(R, part, id);
    json_t *v = e ? json_object_get(e, key) : NULL;
    if (v == NULL) {
        snprintf(buf[k], sizeof(buf[k]), "<absent>");
    } else if (json_is_string(v)) {
        snprintf(buf[k], sizeof(buf[k]), "%s", json_string_value(v));
    } else {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf[k], sizeof(buf[k]), "%s", t);
        free(t);
    }
    json_decref(e);
    return buf[k];
}

#define DEV(R, id, key)   dev_rig_field((R), "registry", (id), (key))
#define CMD(R, id, key)   dev_rig_field((R), "commands", (id), (key))
#define ALERT(R, id, key) dev_rig_field((R), "alerts", (id), (key))

/* The compact text of an entity ("<absent>" when it is not there). */
static inline char *dev_rig_text(dev_rig_t *R, const char *part, const char *id)
{
    json_t *e = dev_rig_get(R, part, id);
    char *t = e ? json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char *out = hub_strdup(t ? t : "<absent>");
    free(t);
    json_decref(e);
    return out;
}

/* ---- announcements ------------------------------------------------------------------- */

static inline dev_ann_t *dev_rig_last(dev_rig_t *R)
{
    if (R->nanns == 0)
        fail_msg("nothing was announced");
    return &R->anns[R->nanns - 1];
}

/* The last announcement of name, or NULL. */
static inline dev_ann_t *dev_rig_ann(dev_rig_t *R, const char *name)
{
    for (size_t i = R->nanns; i > 0; i--)
        if (strcmp(R->anns[i - 1].name, name) == 0)
            return &R->anns[i - 1];
    return NULL;
}

/* The message of kind to topic in a, or NULL. */
static inline dev_msg_t *dev_rig_msg(dev_ann_t *a, int kind, const char *topic)
{
    for (size_t i = 0; a != NULL && i < a->nmsgs; i++)
        if (a->msgs[i].kind == kind && (topic == NULL || strcmp(a->msgs[i].topic, topic) == 0))
            return &a->msgs[i];
    return NULL;
}

static inline size_t dev_rig_nmsgs(const dev_ann_t *a, int kind)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nmsgs; i++)
        n += a->msgs[i].kind == kind;
    return n;
}

/* Tell a tracked message's fate, as the MQTT adapter does after the
 * broker's PUBACK (or its failure), then settle. */
static inline void dev_rig_puback(dev_rig_t *R, const dev_msg_t *m, int ok, const char *why)
{
    assert_non_null(m);
    assert_true(m->tracked);
    m->sent(m->ctx, m->token, ok, why);
    dev_rig_settle(R);
}

/* ---- metrics ---------------------------------------------------------------------- */

/* The value of the sample whose line starts with series (name or
 * name{labels}) followed by a space; NAN when absent. */
static inline double dev_rig_metric(dev_rig_t *R, const char *series)
{
    size_t len, n = strlen(series);
    char *text = hub_metrics_render(R->metrics, &len);
    double v = NAN;
    for (char *line = text; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return v;
}

static inline double dev_rig_rejected(dev_rig_t *R, const char *reason)
{
    char s[128];
    snprintf(s, sizeof(s), "fleet_ingest_rejected_total{reason=\"%s\"}", reason);
    return dev_rig_metric(R, s);
}

/* ---- a device to work with ----------------------------------------------------------- */

static inline void dev_rig_discover(dev_rig_t *R, const char *id)
{
    char p[256];
    snprintf(p, sizeof(p), "{'uuid':'%s','hostname':'host-%.4s','ip':'10.0.0.%d','info':{'v':1}}",
             id, id, (int)(id[0] % 200));
    if (dev_rig_run(R, "mqtt", "device.discovery", p) != HUB_INTENT_APPLIED)
        fail_msg("discovery of %s: %s", id, R->err.msg);
}

#endif
