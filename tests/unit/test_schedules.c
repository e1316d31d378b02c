/* tests/unit/test_schedules.c - the schedules domain on a real engine
 * without a store (persist NULL: every batch completes at once), on a real
 * uv loop, with dev_rig.h's fake wall clock (what is active, when hooks
 * run, when intents expire: all exact, moved with dev_clock_set) and
 * sch_rig.h's fake scenes domain recording every scene.run.
 *
 * Intents are submitted as the REST routes and the hub's timer make them
 * (schedules.poll by hand: the timer's interval is never reached). Checked:
 * validation of every event field against hostile input (nothing changes
 * on a refusal), the 10,000-event bound, update/delete/detach, the active
 * list per group (state, retained publish, [] once, REFRESH), the hooks
 * (once per occurrence, on_end after a down period, the catch-up rule, a
 * clock stepped backwards, delete and detach of a running occurrence), the
 * power intents (transition, heartbeat, edit rotation, the NOKEEP flag,
 * publish failures, reconnect republish skipping expired intents, the
 * fleet's groups, publishing disabled) and the REST routes, ours and seed
 * 004's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "core/log.h"
#include "sch_rig.h"

static dev_rig_t R;
static hub_schdom_t *S;

#define ROOT "infoscreen"

static void setup_cfg(hub_schdom_cfg_t c)
{
    hub_devdom_cfg_t dc = dev_rig_cfg();
    memset(&R, 0, sizeof(R));
    memset(&sch_runs, 0, sizeof(sch_runs));
    dev_clock_set((uint64_t)AT(10, 30));
    R.track = 1;
    R.queue_size = 2000;
    dev_rig_init(&R, &dc);
    dev_rig_bind(&R, NULL);
    S = sch_rig_bind(&R, &c);
    dev_rig_go(&R, NULL, NULL);
    hub_engine_link_set(R.e, HUB_LINK_UP); /* as the MQTT adapter does once connected */
    hub_schdom_start(S);
    dev_rig_settle(&R);
}

/* Power intents published (heartbeat on). */
static int setup(void **state)
{
    (void)state;
    setup_cfg(sch_rig_cfg());
    return 0;
}

/* POWER_INTENT_PUBLISH_ENABLED=false: a cycle that changes nothing is
 * refused (no seq), so "nothing published" is easy to see. */
static int setup_quiet(void **state)
{
    hub_schdom_cfg_t c = sch_rig_cfg();
    (void)state;
    c.power_publish = 0;
    setup_cfg(c);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hub_schdom_stop(S);
    hub_devdom_stop(R.d);
    hub_engine_free(R.e);
    uv_run(&R.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&R.loop);
    hub_schdom_free(S);
    hub_devdom_free(R.d);
    hub_metrics_free(R.metrics);
    dev_rig_free_anns(&R);
    dev_rig_free_replies(&R);
    hub_jbuf_free(&R.events);
    assert_int_equal(rc, 0);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static const char *t3339(int64_t ms)
{
    static char buf[8][32];
    static int k;
    k = (k + 1) % 8;
    sch_time_format(ms, ms % 1000 != 0, buf[k]);
    return buf[k];
}

static void ok(const char *name, const char *payload)
{
    if (dev_rig_run(&R, "api", name, payload) != HUB_INTENT_APPLIED)
        fail_msg("%s %s: outcome %d %s/%s (%s)", name, payload, R.outcome,
                 hub_errcode_name(R.err.code), R.err.field, R.err.msg);
}

static void refused(const char *name, const char *payload, hub_errcode_t code, const char *field,
                    const char *want_msg)
{
    size_t n = R.nanns;
    int64_t next = S->next_id;
    size_t nev = S->nev;
    int rc = dev_rig_run(&R, "api", name, payload);
    if (rc != HUB_INTENT_REJECTED || R.err.code != code || strcmp(R.err.field, field) != 0 ||
        (want_msg != NULL && strstr(R.err.msg, want_msg) == NULL))
        fail_msg("%s %.300s: outcome %d %s/%s (%s), want %s/%s (%s)", name, payload, rc,
                 hub_errcode_name(R.err.code), R.err.field, R.err.msg, hub_errcode_name(code),
                 field, want_msg ? want_msg : "");
    assert_int_equal(R.nanns, n);
    assert_int_equal(S->next_id, next);
    assert_int_equal(S->nev, nev);
}

/* A cycle now; the outcome (REJECTED/conflict: nothing changed). */
static int poll(void)
{
    return dev_rig_run(&R, "timer", "schedules.poll", "{}");
}

static void poll_at(int64_t ms)
{
    dev_clock_set((uint64_t)ms);
    poll();
}

/* An event object (single quotes) for group g ("null": the hub). */
static char *event_json(const char *g, const char *title, int64_t s, int64_t e, const char *extra)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf),
             "{'group_id':%s,'title':'%s','type':'presentation','start':'%s','end':'%s'%s%s}", g,
             title, t3339(s), t3339(e), extra[0] ? "," : "", extra);
    return buf;
}

/* Create; returns the new id. */
static int64_t create(const char *g, const char *title, int64_t s, int64_t e, const char *extra)
{
    char p[9000];
    snprintf(p, sizeof(p), "{'event':%s}", event_json(g, title, s, e, extra));
    ok("event.create", p);
    return S->next_id - 1;
}

#define HOOKS                                                                                      \
    "'on_start':[{'topic':'room1/light','message':'ON'}],"                                         \
    "'on_end':[{'topic':'room1/light','message':'OFF'}]"

static double metric(const char *name)
{
    return dev_rig_metric(&R, name);
}

/* ---- create / update / delete ------------------------------------------------------------ */

static void test_create_and_state(void **state)
{
    (void)state;
    int64_t id = create("5", "Morning", AT(14, 0), AT(15, 0),
                        "'rrule':'FREQ=WEEKLY;BYDAY=FR','exdates':['20260410T140000Z'],"
                        "'content':{'presentation':{'slide_interval':10}}," HOOKS);
    assert_int_equal(id, 1);
    char *t = sch_state(&R, "events", "1");
    assert_string_equal(
        t, "{\"id\":1,\"group_id\":5,\"title\":\"Morning\",\"type\":\"presentation\","
           "\"start\":\"2026-04-03T14:00:00Z\",\"end\":\"2026-04-03T15:00:00Z\","
           "\"rrule\":\"FREQ=WEEKLY;BYDAY=FR\",\"exdates\":[\"2026-04-10T14:00:00Z\"],"
           "\"content\":{\"presentation\":{\"slide_interval\":10}},"
           "\"on_start\":[{\"topic\":\"room1/light\",\"message\":\"ON\"}],"
           "\"on_end\":[{\"topic\":\"room1/light\",\"message\":\"OFF\"}],\"detached_from\":null,"
           "\"created_at\":\"2026-04-03T10:30:00Z\",\"updated_at\":\"2026-04-03T10:30:00Z\"}");
    hub_free(t);
    assert_true(metric("schedules_events") == 1);
    /* the announcement asked for a cycle at once */
    assert_non_null(dev_rig_ann(&R, "schedules.poll"));
    /* a hub event (group_id null) and type defaulting to other */
    ok("event.create", "{'event':{'group_id':null,'title':'Hub','start':'2026-04-03T20:00:00Z',"
                       "'end':'2026-04-03T21:00:00Z'}}");
    assert_string_equal(sch_field(&R, "events", "2", "group_id"), "null");
    assert_string_equal(sch_field(&R, "events", "2", "type"), "other");
}

static void test_validation(void **state)
{
    (void)state;
    char big[80000];
    static const struct {
        const char *event; /* the "event" member, single quotes */
        hub_errcode_t code;
        const char *field;
        const char *msg;
    } bad[] = {
        {"5", HUB_ERR_INVALID, "event", "must be an object"},
        {"{'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.group_id", "is required"},
        {"{'group_id':-1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.group_id", "0..2147483647"},
        {"{'group_id':1.5,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.group_id", NULL},
        {"{'group_id':'3','title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.group_id", NULL},
        {"{'group_id':2147483648,'title':'x','start':'2026-04-03T10:00:00Z',"
         "'end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.group_id", NULL},
        {"{'group_id':1,'title':'','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.title", NULL},
        {"{'group_id':1,'title':7,'start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.title", NULL},
        {"{'group_id':1,'title':'x','type':'Video','start':'2026-04-03T10:00:00Z',"
         "'end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.type", "a-z"},
        {"{'group_id':1,'title':'x','type':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','start':'2026-04-"
         "03T10:00:00Z','end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.type", NULL},
        {"{'group_id':1,'title':'x','end':'2026-04-03T11:00:00Z'}", HUB_ERR_INVALID, "event.start",
         "is required"},
        {"{'group_id':1,'title':'x','start':'2026-04-03 10:00:00','end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.start", NULL},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00','end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.start", NULL},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00+02:00',"
         "'end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.start", NULL},
        {"{'group_id':1,'title':'x','start':'2026-02-30T10:00:00Z','end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.start", NULL},
        {"{'group_id':1,'title':'x','start':1775210400000,'end':'2026-04-03T11:00:00Z'}",
         HUB_ERR_INVALID, "event.start", NULL},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T10:00:00Z'}",
         HUB_ERR_INVALID, "event.end", "after start"},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T09:00:00Z'}",
         HUB_ERR_INVALID, "event.end", "after start"},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z',"
         "'rrule':'FREQ=SOMETIMES'}",
         HUB_ERR_INVALID, "event.rrule", NULL},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z',"
         "'rrule':'BYDAY=MO'}",
         HUB_ERR_INVALID, "event.rrule", NULL},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z',"
         "'rrule':5}",
         HUB_ERR_INVALID, "event.rrule", NULL},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z',"
         "'rrule':'FREQ=DAILY;UNTIL=20260101T000000Z'}",
         HUB_ERR_INVALID, "event.rrule", "never occurs"},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z',"
         "'exdates':['tomorrow']}",
         HUB_ERR_INVALID, "event.exdates[0]", NULL},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z',"
         "'exdates':'20260403T100000Z'}",
         HUB_ERR_INVALID, "event.exdates", NULL},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z',"
         "'content':[1,2]}",
         HUB_ERR_INVALID, "event.content", "object"},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z',"
         "'on_start':{'topic':'a/b'}}",
         HUB_ERR_INVALID, "event.on_start", NULL},
        {"{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z','end':'2026-04-03T11:00:00Z',"
         "'colour':'red'}",
         HUB_ERR_INVALID, "event.colour", "unknown field"},
    };
    char p[4096];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(p, sizeof(p), "{'event':%s}", bad[i].event);
        refused("event.create", p, bad[i].code, bad[i].field, bad[i].msg);
    }
    /* actions are scenes' (scn_parse_actions): the field names the action */
    assert_int_equal(
        dev_rig_run(&R, "api", "event.create",
                    "{'event':{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z',"
                    "'end':'2026-04-03T11:00:00Z','on_end':[{'topic':'room1/#',"
                    "'message':'ON'}]}}"),
        HUB_INTENT_REJECTED);
    assert_int_equal(R.err.code, HUB_ERR_INVALID);
    assert_non_null(strstr(R.err.field, "event.on_end[0]"));
    assert_int_equal(
        dev_rig_run(&R, "api", "event.create",
                    "{'event':{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z',"
                    "'end':'2026-04-03T11:00:00Z','on_start':[{'topic':'room1/light'}"
                    "]}}"),
        HUB_INTENT_REJECTED);
    assert_non_null(strstr(R.err.field, "event.on_start[0]"));
    /* the payload: unknown keys, no event */
    refused("event.create", "{}", HUB_ERR_INVALID, "event", NULL);
    refused("event.create", "{'event':{},'extra':1}", HUB_ERR_INVALID, "extra", "unknown");
    /* a title over 256 bytes, content over 64 KiB */
    snprintf(p, sizeof(p),
             "{'event':{'group_id':1,'title':'%s','start':'2026-04-03T10:00:00Z',"
             "'end':'2026-04-03T11:00:00Z'}}",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    refused("event.create", p, HUB_ERR_INVALID, "event.title", NULL);
    char *huge = hub_malloc(90000);
    memset(big, 'b', 70000);
    big[70000] = '\0';
    snprintf(huge, 90000,
             "{'event':{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z',"
             "'end':'2026-04-03T11:00:00Z','content':{'blob':'%s'}}}",
             big);
    refused("event.create", huge, HUB_ERR_INVALID, "event.content", "65536");
    hub_free(huge);
    /* a client cannot make the hub's own intents */
    refused("schedules.poll", "{}", HUB_ERR_INVALID, "name", "made by the hub");
    refused("schedules.republish", "{}", HUB_ERR_INVALID, "name", "made by the hub");
    assert_int_equal(S->nev, 0);
    /* update/delete/detach of what does not exist */
    refused("event.update", "{'id':9,'event':{}}", HUB_ERR_NOT_FOUND, "id", "not found");
    refused("event.update", "{'id':'abc','event':{}}", HUB_ERR_NOT_FOUND, "id", NULL);
    refused("event.delete", "{'id':9}", HUB_ERR_NOT_FOUND, "id", NULL);
    refused("event.detach", "{'id':9,'date':'2026-04-03'}", HUB_ERR_NOT_FOUND, "id", NULL);
}

static void test_max_events(void **state)
{
    (void)state;
    char p[512];
    /* 10,000 events, 500 intents a turn (the queue holds 2,000) */
    for (int turn = 0; turn < 20; turn++) {
        for (int i = 0; i < 500; i++) {
            int64_t s = AT(24 * 30, 0) + (int64_t)(turn * 500 + i) * HOUR;
            snprintf(p, sizeof(p), "{'event':{'group_id':%d,'title':'e','start':'%s','end':'%s'}}",
                     i % 50, t3339(s), t3339(s + HOUR));
            assert_int_equal(dev_rig_submit(&R, NULL, "api", "event.create", dev_json(p)), 0);
        }
        dev_rig_settle(&R);
    }
    assert_int_equal(S->nev, 10000);
    refused("event.create",
            "{'event':{'group_id':1,'title':'x','start':'2026-04-03T10:00:00Z',"
            "'end':'2026-04-03T11:00:00Z'}}",
            HUB_ERR_CONFLICT, "", "at most 10000 events");
    /* one gone: one more fits */
    ok("event.delete", "{'id':17}");
    create("1", "x", AT(10, 0), AT(11, 0), "");
    assert_int_equal(S->nev, 10000);
}

static void test_update_delete(void **state)
{
    (void)state;
    create("5", "A", AT(14, 0), AT(15, 0), "");
    char p[2000];
    snprintf(p, sizeof(p),
             "{'id':1,'event':{'group_id':6,'title':'B','type':'video','start':'%s','end':'%s'}}",
             t3339(AT(16, 0)), t3339(AT(17, 0)));
    ok("event.update", p);
    assert_string_equal(sch_field(&R, "events", "1", "title"), "B");
    assert_string_equal(sch_field(&R, "events", "1", "group_id"), "6");
    assert_string_equal(sch_field(&R, "events", "1", "type"), "video");
    assert_string_equal(sch_field(&R, "events", "1", "start"), "2026-04-03T16:00:00Z");
    /* whole replacement: a field left out is gone (type back to other) */
    snprintf(p, sizeof(p), "{'id':'1','event':{'group_id':6,'title':'C','start':'%s','end':'%s'}}",
             t3339(AT(16, 0)), t3339(AT(17, 0)));
    ok("event.update", p);
    assert_string_equal(sch_field(&R, "events", "1", "type"), "other");
    /* an id in the body must be the event's */
    snprintf(p, sizeof(p),
             "{'id':1,'event':{'id':2,'group_id':6,'title':'C','start':'%s','end':'%s'}}",
             t3339(AT(16, 0)), t3339(AT(17, 0)));
    refused("event.update", p, HUB_ERR_INVALID, "event.id", NULL);
    /* a bad update changes nothing */
    snprintf(p, sizeof(p), "{'id':1,'event':{'group_id':6,'title':'D','start':'%s','end':'%s'}}",
             t3339(AT(17, 0)), t3339(AT(16, 0)));
    refused("event.update", p, HUB_ERR_INVALID, "event.end", NULL);
    assert_string_equal(sch_field(&R, "events", "1", "title"), "C");
    ok("event.delete", "{'id':1}");
    char *t = sch_state(&R, "events", "1");
    assert_string_equal(t, "<absent>");
    hub_free(t);
    refused("event.delete", "{'id':1}", HUB_ERR_NOT_FOUND, "id", NULL);
    /* ids are never reused */
    assert_int_equal(create("5", "E", AT(14, 0), AT(15, 0), ""), 2);
}

static void test_detach(void **state)
{
    (void)state;
    int64_t id = create("5", "Daily", AT(14, 0), AT(15, 0), "'rrule':'FREQ=DAILY;COUNT=10'");
    ok("event.detach", "{'id':1,'date':'2026-04-05','event':{'title':'Special','end':'"
                       "2026-04-05T16:00:00Z'}}");
    assert_int_equal(S->next_id, 3);
    assert_string_equal(sch_field(&R, "events", "1", "exdates"), "[\"2026-04-05T14:00:00Z\"]");
    assert_string_equal(sch_field(&R, "events", "2", "detached_from"), "1");
    assert_string_equal(sch_field(&R, "events", "2", "title"), "Special");
    assert_string_equal(sch_field(&R, "events", "2", "start"), "2026-04-05T14:00:00Z");
    assert_string_equal(sch_field(&R, "events", "2", "end"), "2026-04-05T16:00:00Z");
    assert_string_equal(sch_field(&R, "events", "2", "rrule"), "null");
    assert_string_equal(sch_field(&R, "events", "2", "group_id"), "5");
    (void)id;
    /* again: already detached */
    refused("event.detach", "{'id':1,'date':'2026-04-05'}", HUB_ERR_CONFLICT, "date",
            "already detached");
    /* no occurrence that day (COUNT=10 ends on the 12th) */
    refused("event.detach", "{'id':1,'date':'2026-04-20'}", HUB_ERR_NOT_FOUND, "date",
            "no occurrence");
    refused("event.detach", "{'id':1,'date':'2026-04-02'}", HUB_ERR_NOT_FOUND, "date", NULL);
    refused("event.detach", "{'id':1,'date':'5.4.2026'}", HUB_ERR_INVALID, "date", NULL);
    refused("event.detach", "{'id':1,'date':'2026-02-30'}", HUB_ERR_INVALID, "date", NULL);
    refused("event.detach", "{'id':1,'date':'2026-04-06','event':{'rrule':'FREQ=DAILY'}}",
            HUB_ERR_INVALID, "event.rrule", NULL);
    refused("event.detach", "{'id':1,'date':'2026-04-06','event':{'end':'2026-04-06T13:00:00Z'}}",
            HUB_ERR_INVALID, "event.end", NULL);
    /* a single event is not a series */
    refused("event.detach", "{'id':2,'date':'2026-04-05'}", HUB_ERR_CONFLICT, "id",
            "not recurring");
    /* no overrides: a plain copy */
    ok("event.detach", "{'id':1,'date':'2026-04-06'}");
    assert_string_equal(sch_field(&R, "events", "3", "title"), "Daily");
    assert_string_equal(sch_field(&R, "events", "1", "exdates"),
                        "[\"2026-04-05T14:00:00Z\",\"2026-04-06T14:00:00Z\"]");
}

/* ---- active lists ---------------------------------------------------------------------- */

static void retained_copy(void *ud, const char *topic, const char *payload, size_t len, int qos)
{
    (void)qos;
    if (strcmp(topic, ROOT "/events/5") == 0)
        snprintf(ud, 64, "%.*s", (int)len, payload);
}

#define LIST_5                                                                                     \
    "[{\"id\":1,\"group_id\":5,\"title\":\"Morning\",\"subject\":\"Morning\","                     \
    "\"event_type\":\"presentation\",\"start\":\"2026-04-03T10:00:00Z\","                          \
    "\"end\":\"2026-04-03T11:00:00Z\",\"occurrence_start\":\"2026-04-03T10:00:00Z\","              \
    "\"recurring\":false,\"presentation\":{\"slide_interval\":10},\"volume\":0.5}]"

static void test_active_list(void **state)
{
    (void)state;
    size_t mark = R.nanns;
    /* content's members merge in; its "id" and "title" never override */
    create("5", "Morning", AT(10, 0), AT(11, 0),
           "'content':{'presentation':{'slide_interval':10},'id':99,'title':'no','volume':0.5}");
    char *t = sch_state(&R, "active", "5");
    assert_string_equal(t, LIST_5);
    hub_free(t);
    dev_msg_t *m = sch_last_msg(&R, mark, ROOT "/events/5");
    assert_non_null(m);
    assert_string_equal(m->payload, LIST_5);
    assert_int_equal(m->retain, 1);
    assert_int_equal(m->qos, 1);
    /* unchanged: nothing applied, nothing published */
    mark = R.nanns;
    dev_clock_set((uint64_t)AT(10, 45));
    assert_int_equal(poll(), HUB_INTENT_REJECTED);
    assert_int_equal(R.err.code, HUB_ERR_CONFLICT);
    assert_int_equal(R.nanns, mark);
    /* over: [] once, the state entry goes */
    poll_at(AT(11, 0));
    m = sch_last_msg(&R, mark, ROOT "/events/5");
    assert_non_null(m);
    assert_string_equal(m->payload, "[]");
    t = sch_state(&R, "active", "5");
    assert_string_equal(t, "<absent>");
    hub_free(t);
    mark = R.nanns;
    assert_int_equal(poll(), HUB_INTENT_REJECTED);
    assert_int_equal(sch_count_msgs(&R, mark, ROOT "/events/5"), 0);
    /* the engine keeps the retained list for its reconnect republish */
    char kept[64] = "";
    hub_engine_retained_foreach(R.e, retained_copy, kept);
    assert_string_equal(kept, "[]");
}

static void test_active_overlap_order(void **state)
{
    (void)state;
    create("5", "Late", AT(10, 15), AT(12, 0), "");
    create("5", "Early", AT(9, 0), AT(11, 0), "");
    create("6", "Other", AT(10, 0), AT(11, 0), "");
    create("5", "Future", AT(13, 0), AT(14, 0), "");
    char *t = sch_state(&R, "active", "5");
    json_t *l = json_loads(t, 0, NULL);
    hub_free(t);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "title")), "Early");
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "title")), "Late");
    json_decref(l);
}

static void test_refresh(void **state)
{
    (void)state;
    create("5", "Now", AT(10, 0), AT(11, 0), "");
    create("6", "Later", AT(15, 0), AT(16, 0), "");
    size_t mark = R.nanns;
    assert_int_equal(dev_rig_run(&R, "timer", "schedules.poll", "{'refresh':true}"),
                     HUB_INTENT_APPLIED);
    dev_msg_t *m5 = sch_last_msg(&R, mark, ROOT "/events/5");
    dev_msg_t *m6 = sch_last_msg(&R, mark, ROOT "/events/6");
    assert_non_null(m5);
    assert_non_null(m6);
    assert_non_null(strstr(m5->payload, "\"title\":\"Now\""));
    assert_string_equal(m6->payload, "[]"); /* a group with events, none active */
    assert_int_equal(sch_count_msgs(&R, mark, ROOT "/events/5"), 1);
}

/* The timer: every POLL_INTERVAL_SECONDS a cycle, every REFRESH_SECONDS
 * one that republishes the lists (1 s each here: real time). */
static int setup_timer(void **state)
{
    hub_schdom_cfg_t c = sch_rig_cfg();
    (void)state;
    c.power_publish = 0;
    c.poll_s = 1;
    c.refresh_s = 1;
    setup_cfg(c);
    return 0;
}

static void test_timer_refresh(void **state)
{
    (void)state;
    create("5", "Now", AT(10, 0), AT(11, 0), "");
    size_t mark = R.nanns;
    for (int i = 0; i < 300 && sch_count_msgs(&R, mark, ROOT "/events/5") == 0; i++) {
        uv_run(&R.loop, UV_RUN_NOWAIT);
        dev_rig_settle(&R);
        dev_rig_sleep_ms(10);
    }
    dev_ann_t *a = dev_rig_ann(&R, "schedules.poll");
    assert_non_null(a);
    assert_string_equal(a->payload, "{\"refresh\":true}");
    assert_string_equal(a->src, "timer");
    assert_int_equal(sch_count_msgs(&R, mark, ROOT "/events/5"), 1);
}

static void test_hub_events(void **state)
{
    (void)state;
    size_t mark = R.nanns;
    create("null", "Opening", AT(10, 0), AT(11, 0), HOOKS);
    char *t = sch_state(&R, "active", "hub");
    assert_non_null(strstr(t, "\"group_id\":null"));
    hub_free(t);
    assert_int_equal(sch_runs.n, 1);
    for (size_t i = mark; i < R.nanns; i++)
        for (size_t k = 0; k < R.anns[i].nmsgs; k++)
            if (R.anns[i].msgs[k].kind == HUB_OUT_MQTT)
                fail_msg("a hub event published %s", R.anns[i].msgs[k].topic);
    char *p = sch_state(&R, "power", "-1");
    assert_string_equal(p, "<absent>");
    hub_free(p);
}

/* ---- hooks ------------------------------------------------------------------------------- */

static void test_hooks_once(void **state)
{
    (void)state;
    create("5", "Lights", AT(10, 0), AT(11, 0), HOOKS);
    assert_int_equal(sch_runs.n, 1);
    assert_string_equal(sch_runs.label[0], "event 1 on_start 2026-04-03T10:00:00Z");
    assert_string_equal(sch_runs.actions[0], "[{\"topic\":\"room1/light\",\"message\":\"ON\"}]");
    assert_string_equal(sch_runs.req_id[0], "sched:1:1775210400000:start");
    poll_at(AT(10, 40));
    poll_at(AT(10, 59));
    assert_int_equal(sch_runs.n, 1);
    poll_at(AT(11, 0));
    assert_int_equal(sch_runs.n, 2);
    assert_string_equal(sch_runs.label[1], "event 1 on_end 2026-04-03T10:00:00Z");
    assert_string_equal(sch_runs.actions[1], "[{\"topic\":\"room1/light\",\"message\":\"OFF\"}]");
    poll_at(AT(11, 30));
    assert_int_equal(sch_runs.n, 2);
    assert_true(metric("schedules_hooks_total") == 2);
    /* an event with no hooks leaves no records */
    create("5", "Quiet", AT(11, 0), AT(12, 0), "");
    assert_int_equal(S->nfired, 1);
}

/* The hub was down from 10:30 on day 0 to 10:15 on day 3: the day 0
 * occurrence's on_end runs (its on_start ran), days 1 and 2 run nothing,
 * day 3 (inside its window) runs on_start once. */
static void test_down_period_catch_up(void **state)
{
    (void)state;
    create("5", "Daily", AT(10, 0), AT(11, 0), "'rrule':'FREQ=DAILY'," HOOKS);
    assert_string_equal(sch_run_labels(), "event 1 on_start 2026-04-03T10:00:00Z\n");
    poll_at(AT(24 * 3 + 10, 15));
    assert_string_equal(sch_run_labels(), "event 1 on_start 2026-04-03T10:00:00Z\n"
                                          "event 1 on_end 2026-04-03T10:00:00Z\n"
                                          "event 1 on_start 2026-04-06T10:00:00Z\n");
    poll_at(AT(24 * 3 + 10, 45));
    assert_int_equal(sch_runs.n, 3);
    /* an occurrence created wholly in the past runs nothing */
    create("7", "Past", AT(24 * 3 + 8, 0), AT(24 * 3 + 9, 0), HOOKS);
    assert_int_equal(sch_runs.n, 3);
}

/* Starting inside a window runs on_start once; adjacent occurrences run
 * on_end of the one before on_start of the next. */
static void test_boundaries(void **state)
{
    (void)state;
    create("5", "Back to back", AT(9, 0), AT(10, 0), "'rrule':'FREQ=HOURLY;COUNT=4'," HOOKS);
    assert_string_equal(sch_run_labels(), "event 1 on_start 2026-04-03T10:00:00Z\n");
    poll_at(AT(11, 0));
    assert_string_equal(sch_run_labels(), "event 1 on_start 2026-04-03T10:00:00Z\n"
                                          "event 1 on_end 2026-04-03T10:00:00Z\n"
                                          "event 1 on_start 2026-04-03T11:00:00Z\n");
}

static void test_clock_backwards(void **state)
{
    (void)state;
    create("5", "Lights", AT(10, 0), AT(11, 0), HOOKS);
    assert_int_equal(sch_runs.n, 1);
    poll_at(AT(9, 0)); /* stepped back before the start */
    poll_at(AT(10, 45));
    assert_int_equal(sch_runs.n, 1);
    poll_at(AT(11, 5));
    assert_int_equal(sch_runs.n, 2);
    poll_at(AT(10, 30)); /* back into the occurrence */
    poll_at(AT(9, 30));
    poll_at(AT(11, 30));
    assert_int_equal(sch_runs.n, 2);
}

static void test_delete_running(void **state)
{
    (void)state;
    create("5", "Lights", AT(10, 0), AT(11, 0), HOOKS);
    ok("event.delete", "{'id':1}");
    assert_string_equal(sch_run_labels(), "event 1 on_start 2026-04-03T10:00:00Z\n"
                                          "event 1 on_end 2026-04-03T10:00:00Z\n");
    assert_int_equal(S->nfired, 0);
    poll_at(AT(11, 30));
    assert_int_equal(sch_runs.n, 2);
}

static void test_detach_running(void **state)
{
    (void)state;
    create("5", "Daily", AT(10, 0), AT(11, 0), "'rrule':'FREQ=DAILY'," HOOKS);
    ok("event.detach", "{'id':1,'date':'2026-04-03','event':{'end':'2026-04-03T12:00:00Z'}}");
    poll_at(AT(10, 40));
    assert_string_equal(sch_run_labels(), "event 1 on_start 2026-04-03T10:00:00Z\n");
    poll_at(AT(11, 30)); /* the series' occurrence is gone; the copy still runs */
    assert_int_equal(sch_runs.n, 1);
    poll_at(AT(12, 0));
    assert_string_equal(sch_run_labels(), "event 1 on_start 2026-04-03T10:00:00Z\n"
                                          "event 2 on_end 2026-04-03T10:00:00Z\n");
}

/* An edit that removes the running occurrence (an exdate) ends it. */
static void test_edit_ends_running(void **state)
{
    (void)state;
    create("5", "Daily", AT(10, 0), AT(11, 0), "'rrule':'FREQ=DAILY'," HOOKS);
    char p[8300];
    snprintf(p, sizeof(p), "{'id':1,'event':%s}",
             event_json("5", "Daily", AT(10, 0), AT(11, 0),
                        "'rrule':'FREQ=DAILY','exdates':['2026-04-03T10:00:00Z']," HOOKS));
    ok("event.update", p);
    assert_string_equal(sch_run_labels(), "event 1 on_start 2026-04-03T10:00:00Z\n"
                                          "event 1 on_end 2026-04-03T10:00:00Z\n");
}

/* ---- power intents --------------------------------------------------------------------- */

#define INTENT_TOPIC(g) ROOT "/groups/" #g "/power/intent"

static void retained_has(void *ud, const char *topic, const char *payload, size_t len, int qos)
{
    (void)payload;
    (void)len;
    (void)qos;
    if (strcmp(topic, INTENT_TOPIC(7)) == 0)
        ++*(int *)ud;
}

static void test_power_lifecycle(void **state)
{
    (void)state;
    size_t mark = R.nanns;
    char id1[40], id2[40];

    create("7", "Show", AT(10, 0), AT(11, 0), "");
    dev_msg_t *m = sch_last_msg(&R, mark, INTENT_TOPIC(7));
    assert_non_null(m);
    assert_int_equal(m->retain, 1);
    assert_int_equal(m->qos, 1);
    assert_true(m->flags & HUB_OUT_NOKEEP);
    assert_true(m->tracked);
    json_t *b = json_loads(m->payload, 0, NULL);
    snprintf(id1, sizeof(id1), "%s", json_string_value(json_object_get(b, "intent_id")));
    char want[1024];
    snprintf(want, sizeof(want),
             "{\"schema_version\":\"1.0\",\"intent_id\":\"%s\",\"group_id\":7,"
             "\"desired_state\":\"on\",\"reason\":\"active_event\","
             "\"issued_at\":\"2026-04-03T10:30:00Z\",\"expires_at\":\"2026-04-03T10:31:30Z\","
             "\"poll_interval_sec\":30,\"active_event_ids\":[1],"
             "\"event_window_start\":\"2026-04-03T10:00:00Z\","
             "\"event_window_end\":\"2026-04-03T11:00:00Z\"}",
             id1);
    assert_string_equal(m->payload, want);
    json_decref(b);
    assert_true(metric("power_intent_transitions_total") == 1);
    /* the state is the body */
    char *t = sch_state(&R, "power", "7");
    assert_string_equal(t, want);
    hub_free(t);
    /* NOKEEP: not in the engine's reconnect republish */
    int kept = 0;
    hub_engine_retained_foreach(R.e, retained_has, &kept);
    assert_int_equal(kept, 0);

    /* heartbeat: same id, fresh issued_at/expires_at, published */
    mark = R.nanns;
    poll_at(AT(10, 30) + 30000);
    m = sch_last_msg(&R, mark, INTENT_TOPIC(7));
    assert_non_null(m);
    assert_non_null(strstr(m->payload, id1));
    assert_non_null(strstr(m->payload, "\"issued_at\":\"2026-04-03T10:30:30Z\""));
    assert_true(metric("power_intent_transitions_total") == 1);

    /* an edit rotates the id (seed 004: edits replace the intent) */
    mark = R.nanns;
    char p[8300];
    snprintf(p, sizeof(p), "{'id':1,'event':%s}",
             event_json("7", "Show 2", AT(10, 0), AT(11, 0), ""));
    ok("event.update", p);
    m = sch_last_msg(&R, mark, INTENT_TOPIC(7));
    assert_non_null(m);
    b = json_loads(m->payload, 0, NULL);
    snprintf(id2, sizeof(id2), "%s", json_string_value(json_object_get(b, "intent_id")));
    json_decref(b);
    assert_string_not_equal(id1, id2);
    assert_true(metric("power_intent_transitions_total") == 2);

    /* adjacent event: one window, no OFF blip at 11:00 */
    create("7", "Next", AT(11, 0), AT(12, 0), "");
    assert_string_equal(sch_field(&R, "power", "7", "event_window_end"), "2026-04-03T12:00:00Z");
    poll_at(AT(11, 0));
    assert_string_equal(sch_field(&R, "power", "7", "desired_state"), "on");
    assert_string_equal(sch_field(&R, "power", "7", "active_event_ids"), "[2]");
    assert_string_equal(sch_field(&R, "power", "7", "event_window_start"), "2026-04-03T10:00:00Z");

    /* the end: OFF, a new id, no windows */
    mark = R.nanns;
    poll_at(AT(12, 0));
    assert_string_equal(sch_field(&R, "power", "7", "desired_state"), "off");
    assert_string_equal(sch_field(&R, "power", "7", "reason"), "no_active_event");
    assert_string_equal(sch_field(&R, "power", "7", "active_event_ids"), "[]");
    assert_string_equal(sch_field(&R, "power", "7", "event_window_start"), "null");
    m = sch_last_msg(&R, mark, INTENT_TOPIC(7));
    assert_non_null(m);

    /* a failed publish is counted */
    dev_rig_puback(&R, m, 0, "connection lost");
    assert_true(metric("power_intent_publish_failures_total") == 1);
    dev_rig_puback(&R, sch_last_msg(&R, 0, INTENT_TOPIC(7)), 1, NULL);
    assert_true(metric("power_intent_publish_failures_total") == 1);
}

static void test_power_republish(void **state)
{
    (void)state;
    create("7", "Show", AT(10, 0), AT(11, 0), "");
    create("8", "Other", AT(10, 0), AT(11, 0), "");
    /* the broker comes back: every cached, unexpired intent again */
    size_t mark = R.nanns;
    hub_engine_link_set(R.e, HUB_LINK_DOWN);
    hub_engine_link_set(R.e, HUB_LINK_UP);
    dev_rig_settle(&R);
    dev_ann_t *a = dev_rig_ann(&R, "schedules.republish");
    assert_non_null(a);
    assert_int_equal(sch_count_msgs(&R, mark, INTENT_TOPIC(7)), 1);
    assert_int_equal(sch_count_msgs(&R, mark, INTENT_TOPIC(8)), 1);
    assert_true(dev_rig_msg(a, HUB_OUT_MQTT, INTENT_TOPIC(7))->flags & HUB_OUT_NOKEEP);
    assert_true(metric("power_intent_retained_republish_total") == 2);
    /* once they expired (no cycle ran: 90 s later), nothing goes out */
    dev_clock_set((uint64_t)(AT(10, 30) + 90000));
    mark = R.nanns;
    hub_engine_link_set(R.e, HUB_LINK_DOWN);
    hub_engine_link_set(R.e, HUB_LINK_UP);
    dev_rig_settle(&R);
    assert_int_equal(sch_count_msgs(&R, mark, INTENT_TOPIC(7)), 0);
    assert_int_equal(R.nanns, mark);
    assert_true(metric("power_intent_retained_republish_total") == 2);
    /* the next cycle refreshes them (heartbeat) */
    poll();
    assert_int_equal(sch_count_msgs(&R, mark, INTENT_TOPIC(7)), 1);
    assert_true(metric("power_intent_retained_age_seconds") == 0);
    /* while the broker is away nothing is published (it would fail); the
     * reconnect sends the current intent */
    hub_engine_link_set(R.e, HUB_LINK_DOWN);
    mark = R.nanns;
    poll_at(AT(10, 30) + 120000);
    assert_int_equal(sch_count_msgs(&R, mark, INTENT_TOPIC(7)), 0);
    assert_string_equal(sch_field(&R, "power", "7", "issued_at"), "2026-04-03T10:32:00Z");
    hub_engine_link_set(R.e, HUB_LINK_UP);
    dev_rig_settle(&R);
    dev_msg_t *m = sch_last_msg(&R, mark, INTENT_TOPIC(7));
    assert_non_null(m);
    assert_non_null(strstr(m->payload, "\"issued_at\":\"2026-04-03T10:32:00Z\""));
    assert_true(metric("power_intent_publish_failures_total") == 0);
}

/* The fleet's groups get an intent even without events. */
static void test_power_fleet_groups(void **state)
{
    (void)state;
    dev_rig_discover(&R, U1);
    ok("device.group", "{'ids':['" U1 "'],'group_id':9}");
    size_t mark = R.nanns;
    poll();
    assert_string_equal(sch_field(&R, "power", "9", "desired_state"), "off");
    assert_non_null(sch_last_msg(&R, mark, INTENT_TOPIC(9)));
}

/* POWER_INTENT_PUBLISH_ENABLED=false: computed and kept as state, never
 * published; no heartbeat, so an unchanged intent writes nothing. */
static void test_power_not_published(void **state)
{
    (void)state;
    size_t mark = R.nanns;
    create("7", "Show", AT(10, 0), AT(11, 0), "");
    assert_string_equal(sch_field(&R, "power", "7", "desired_state"), "on");
    assert_int_equal(sch_count_msgs(&R, mark, INTENT_TOPIC(7)), 0);
    const char *issued = sch_field(&R, "power", "7", "issued_at");
    char was[40];
    snprintf(was, sizeof(was), "%s", issued);
    dev_clock_set((uint64_t)AT(10, 31));
    assert_int_equal(poll(), HUB_INTENT_REJECTED);
    assert_string_equal(sch_field(&R, "power", "7", "issued_at"), was);
    /* a transition still changes it */
    poll_at(AT(11, 0));
    assert_string_equal(sch_field(&R, "power", "7", "desired_state"), "off");
    assert_int_equal(sch_count_msgs(&R, mark, INTENT_TOPIC(7)), 0);
    /* nothing to republish */
    mark = R.nanns;
    hub_engine_link_set(R.e, HUB_LINK_DOWN);
    hub_engine_link_set(R.e, HUB_LINK_UP);
    dev_rig_settle(&R);
    assert_int_equal(R.nanns, mark);
}

/* ---- REST ------------------------------------------------------------------------------- */

static void route_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    const hub_route_def_t *r = in->route;
    dev_rig_on_done(in, ann, ud);
    if (r->answer == NULL)
        return;
    dev_fake_reply_t *f = hub_calloc(1, sizeof(*f));
    f->base.send = dev_fake_reply_send;
    f->R = &R;
    r->answer(in->route_ctx, in, ann, &f->base);
}

/* One request; its status, and its body in *body (hub_free). */
static int request(int method, const char *path, const char *query, const char *body_sq,
                   char **body)
{
    hub_route_req_t rq;
    void *ctx;
    unsigned allow;
    hub_error_t err;
    hub_jbuf_t b;
    int status;

    memset(&rq, 0, sizeof(rq));
    memset(&err, 0, sizeof(err));
    const hub_route_def_t *r = hub_engine_route(R.e, method, path, &rq, &ctx, &allow);
    if (r == NULL)
        fail_msg("no route %d %s", method, path);
    rq.query = query ? query : "";
    hub_jbuf_init(&b);
    if (r->read != NULL) {
        status = r->read(ctx, &rq, &b, &err) == 0 ? 200 : hub_errcode_http(err.code);
        if (status != 200) {
            hub_jbuf_reset(&b);
            hub_jbuf_str(&b, err.msg);
        }
        *body = hub_jbuf_take(&b, NULL);
        return status;
    }
    hub_jbuf_free(&b);
    int before = R.nreplies;
    if (r->read_async != NULL) {
        dev_fake_reply_t *f = hub_calloc(1, sizeof(*f));
        f->base.send = dev_fake_reply_send;
        f->R = &R;
        assert_int_equal(r->read_async(ctx, &rq, &f->base, &err), 0);
    } else {
        json_t *j = body_sq ? dev_json(body_sq) : NULL;
        const char *name;
        json_t *payload;
        rq.body = j;
        if (r->to_intent(&rq, &name, &payload, &err) != 0) {
            json_decref(j);
            *body = hub_strdup(err.msg);
            return hub_errcode_http(err.code);
        }
        json_decref(j);
        hub_intent_t *in = hub_intent_new("", "api", name);
        char rid[40];
        static int n;
        snprintf(rid, sizeof(rid), "rest-%d", ++n);
        snprintf(in->req_id, sizeof(in->req_id), "%s", rid);
        hub_intent_set_payload(in, payload);
        in->route = r;
        in->route_ctx = ctx;
        in->recv_us = hub_mono_us();
        in->done = route_done;
        in->ud = &R;
        assert_int_equal(hub_engine_prepare(R.e, in, &err), 0);
        assert_int_equal(hub_engine_submit(R.e, in), 0);
        dev_rig_settle(&R);
        if (r->answer == NULL) {
            *body = hub_strdup("");
            return R.outcome == HUB_INTENT_APPLIED ? 200 : hub_errcode_http(R.err.code);
        }
    }
    assert_int_equal(R.nreplies, before + 1);
    *body = hub_strdup(R.replies[before].body);
    return R.replies[before].status;
}

static void test_rest_ours(void **state)
{
    (void)state;
    char *body;
    int st =
        request(HUB_HTTP_POST, "/api/v1/events", NULL,
                "{'group_id':3,'title':'Hello','type':'website','start':'2026-04-03T10:00:00Z',"
                "'end':'2026-04-03T12:00:00Z','rrule':'FREQ=DAILY;COUNT=3',"
                "'content':{'website':{'type':'browser','url':'https://example.org'}}}",
                &body);
    assert_int_equal(st, 201);
    assert_non_null(strstr(body, "{\"id\":1,\"group_id\":3,\"title\":\"Hello\""));
    hub_free(body);
    st = request(HUB_HTTP_POST, "/api/v1/events", NULL, "{'group_id':3}", &body);
    assert_int_equal(st, 400);
    assert_non_null(strstr(body, "\"field\":\"event.title\""));
    hub_free(body);
    st = request(HUB_HTTP_GET, "/api/v1/events/1", NULL, NULL, &body);
    assert_int_equal(st, 200);
    hub_free(body);
    st = request(HUB_HTTP_GET, "/api/v1/events/42", NULL, NULL, &body);
    assert_int_equal(st, 404);
    hub_free(body);
    st = request(HUB_HTTP_GET, "/api/v1/events", "group_id=4", NULL, &body);
    assert_string_equal(body, "{\"events\":[]}");
    hub_free(body);
    st = request(HUB_HTTP_GET, "/api/v1/events", "group_id=x", NULL, &body);
    assert_int_equal(st, 400);
    hub_free(body);
    st = request(HUB_HTTP_GET, "/api/v1/events",
                 "from=2026-04-04T00%3A00%3A00Z&to=2026-04-10T00:00:00Z", NULL, &body);
    assert_int_equal(st, 200);
    assert_string_equal(body, "{\"from\":\"2026-04-04T00:00:00Z\",\"to\":\"2026-04-10T00:00:00Z\","
                              "\"occurrences\":[{\"event_id\":1,\"group_id\":3,\"title\":\"Hello\","
                              "\"type\":\"website\",\"start\":\"2026-04-04T10:00:00Z\","
                              "\"end\":\"2026-04-04T12:00:00Z\",\"recurring\":true,"
                              "\"detached_from\":null},{\"event_id\":1,\"group_id\":3,\"title\":"
                              "\"Hello\",\"type\":\"website\",\"start\":\"2026-04-05T10:00:00Z\","
                              "\"end\":\"2026-04-05T12:00:00Z\",\"recurring\":true,"
                              "\"detached_from\":null}],\"truncated\":false}");
    hub_free(body);
    st = request(HUB_HTTP_GET, "/api/v1/events",
                 "from=2026-04-04T00:00:00Z&to=2026-09-10T00:00:00Z", NULL, &body);
    assert_int_equal(st, 400);
    hub_free(body);
    st = request(HUB_HTTP_PUT, "/api/v1/events/1", NULL,
                 "{'group_id':3,'title':'Bye','start':'2026-04-03T10:00:00Z',"
                 "'end':'2026-04-03T12:00:00Z','rrule':'FREQ=DAILY;COUNT=3'}",
                 &body);
    assert_int_equal(st, 200);
    assert_non_null(strstr(body, "\"title\":\"Bye\""));
    hub_free(body);
    st = request(HUB_HTTP_POST, "/api/v1/events/1/occurrences/2026-04-04/detach", NULL,
                 "{'title':'Once'}", &body);
    assert_int_equal(st, 201);
    assert_non_null(strstr(body, "\"id\":2,"));
    assert_non_null(strstr(body, "\"detached_from\":1"));
    hub_free(body);
    st =
        request(HUB_HTTP_POST, "/api/v1/events/1/occurrences/2026-04-04/detach", NULL, NULL, &body);
    assert_int_equal(st, 409);
    hub_free(body);
    st = request(HUB_HTTP_GET, "/api/v1/power", NULL, NULL, &body);
    assert_int_equal(st, 200);
    assert_non_null(strstr(body, "{\"publish_enabled\":true,\"heartbeat_enabled\":true,"
                                 "\"groups\":[{\"group_id\":3,\"expired\":false,\"intent\":{"));
    hub_free(body);
    st = request(HUB_HTTP_DELETE, "/api/v1/events/2", NULL, NULL, &body);
    assert_int_equal(st, 200);
    hub_free(body);
    st = request(HUB_HTTP_DELETE, "/api/v1/events/2", NULL, NULL, &body);
    assert_int_equal(st, 404);
    hub_free(body);
}

static void test_rest_seed(void **state)
{
    (void)state;
    char *body;
    create("3", "Hello", AT(10, 0) + 500, AT(12, 0), "'rrule':'FREQ=DAILY;COUNT=5'");
    ok("event.detach", "{'id':1,'date':'2026-04-05'}");
    int st = request(HUB_HTTP_GET, "/api/events", NULL, NULL, &body);
    assert_int_equal(st, 200);
    assert_string_equal(
        body, "[{\"id\":1,\"subject\":\"Hello\",\"startTime\":\"2026-04-03T10:00:00.500000\","
              "\"endTime\":\"2026-04-03T12:00:00\",\"type\":\"presentation\",\"groupId\":3,"
              "\"recurrenceRule\":\"FREQ=DAILY;COUNT=5\","
              "\"recurrenceException\":\"20260405T100000Z\"},"
              "{\"id\":2,\"subject\":\"Hello\",\"startTime\":\"2026-04-05T10:00:00.500000\","
              "\"endTime\":\"2026-04-05T12:00:00\",\"type\":\"presentation\",\"groupId\":3,"
              "\"recurrenceRule\":null,\"recurrenceException\":null}]");
    hub_free(body);
    st = request(HUB_HTTP_GET, "/api/events/7", NULL, NULL, &body);
    assert_int_equal(st, 404);
    assert_string_equal(body, "{\"error\":\"Event not found\"}");
    hub_free(body);
    /* PUT with camelCase fields, merged; naive times are UTC */
    st = request(HUB_HTTP_PUT, "/api/events/1", NULL,
                 "{'subject':'Renamed','startTime':'2026-04-03T09:00:00','endTime':"
                 "'2026-04-03T11:00:00','recurrenceException':'20260405T090000Z,20260406T090000Z',"
                 "'isAllDay':false}",
                 &body);
    assert_int_equal(st, 200);
    assert_string_equal(body,
                        "{\"id\":1,\"subject\":\"Renamed\",\"startTime\":\"2026-04-03T09:00:00\","
                        "\"endTime\":\"2026-04-03T11:00:00\",\"type\":\"presentation\","
                        "\"groupId\":3,\"recurrenceRule\":\"FREQ=DAILY;COUNT=5\","
                        "\"recurrenceException\":\"20260405T090000Z,20260406T090000Z\"}");
    hub_free(body);
    st = request(HUB_HTTP_PUT, "/api/events/1", NULL, "{'startTime':'soon'}", &body);
    assert_int_equal(st, 400);
    assert_non_null(strstr(body, "{\"error\":\"startTime must be"));
    hub_free(body);
    st = request(HUB_HTTP_PUT, "/api/events/99", NULL, "{'subject':'x'}", &body);
    assert_int_equal(st, 404);
    assert_non_null(strstr(body, "{\"error\":"));
    hub_free(body);
    st = request(HUB_HTTP_PUT, "/api/events/1", NULL, NULL, &body);
    assert_int_equal(st, 400);
    hub_free(body);
    st = request(HUB_HTTP_POST, "/api/events/1/occurrences/2026-04-04/detach", NULL,
                 "{'subject':'Moved','startTime':'2026-04-04T13:00:00','endTime':"
                 "'2026-04-04T14:00:00','recurrenceRule':'FREQ=DAILY;COUNT=5'}",
                 &body);
    assert_int_equal(st, 201);
    assert_string_equal(body,
                        "{\"id\":3,\"subject\":\"Moved\",\"startTime\":\"2026-04-04T13:00:00\","
                        "\"endTime\":\"2026-04-04T14:00:00\",\"type\":\"presentation\","
                        "\"groupId\":3,\"recurrenceRule\":null,\"recurrenceException\":null}");
    hub_free(body);
    st = request(HUB_HTTP_POST, "/api/events/1/occurrences/2026-04-04/detach", NULL, NULL, &body);
    assert_int_equal(st, 409);
    assert_non_null(strstr(body, "{\"error\":"));
    hub_free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_events, setup_quiet, teardown),
        cmocka_unit_test_setup_teardown(test_update_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_active_list, setup_quiet, teardown),
        cmocka_unit_test_setup_teardown(test_active_overlap_order, setup_quiet, teardown),
        cmocka_unit_test_setup_teardown(test_refresh, setup_quiet, teardown),
        cmocka_unit_test_setup_teardown(test_timer_refresh, setup_timer, teardown),
        cmocka_unit_test_setup_teardown(test_hub_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hooks_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_down_period_catch_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_backwards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detach_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_ends_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_republish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_fleet_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_not_published, setup_quiet, teardown),
        cmocka_unit_test_setup_teardown(test_rest_ours, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_seed, setup, teardown),
    };
    hub_log_set_level(HUB_LOG_OFF);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
