/* tests/unit/test_schedules_store.c - the schedules domain on the real
 * SQLite store (a temp data dir), with dev_rig.h's fake wall clock and
 * sch_rig.h's fake scenes domain.
 *
 * The hub is put together as src/app.c does (domains bound, the store
 * attached and loaded, batches through the real persist ops and back
 * through a hub_inbox on a uv loop, then hub_schdom_start: the start-up
 * cycle) and taken apart the same way; a "restart" is a second hub on the
 * same data dir, a "down period" a restart with the clock moved on.
 * Checked: every event field survives a restart, ids are never reused, the
 * hooks' fired records keep on_start from running twice across restarts
 * (the kill -9 case: the record commits before the hook is submitted) and
 * run on_end after a down period, the power intent keeps its intent_id
 * across a restart mid-window, the start-up cycle republishes every list
 * and clears ([]) the retained list of a group whose events ended while
 * the hub was down, and old fired records are pruned. Every wait is
 * bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#include <uv.h>

#include "core/inbox.h"
#include "core/log.h"
#include "sch_rig.h"
#include "store/store.h"

#define ROOT "infoscreen"

static dev_rig_t R;
static hub_schdom_t *S;
static hub_inbox_t *inbox;
static hub_store_t *store;
static char dir[64], data[128], db_path[192];

/* ---- the hub ---------------------------------------------------------------------- */

static void hub_open(void)
{
    char err[512];
    hub_restore_t r;
    hub_devdom_cfg_t c = dev_rig_cfg();
    hub_schdom_cfg_t sc = sch_rig_cfg();

    memset(&R, 0, sizeof(R));
    R.track = 1;
    R.slow = 1;
    dev_rig_init(&R, &c);
    assert_int_equal(hub_inbox_new(&inbox, &R.loop, NULL), 0);
    dev_rig_bind(&R, NULL);
    S = sch_rig_bind(&R, &sc);
    hub_store_cfg_t stc = {.data_dir = data,
                           .journal_retention = 10000,
                           .dedupe_capacity = 100,
                           .dedupe_ttl_ms = 60000};
    if (hub_store_open(&store, &stc, R.metrics, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    for (size_t i = 0; i < hub_engine_ndomains(R.e); i++) {
        void *ctx;
        const hub_domain_def_t *def = hub_engine_domain_at(R.e, i, &ctx);
        if (hub_store_attach(store, def, ctx, err, sizeof(err)) != 0)
            fail_msg("%s", err);
    }
    if (hub_store_load(store, &r, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    dev_rig_go(&R, &r, hub_store_persist_ops(store));
    hub_restore_free(&r);
    assert_int_equal(hub_store_start(store, inbox), 0);
    hub_engine_link_set(R.e, HUB_LINK_UP);
    hub_schdom_start(S); /* the start-up cycle */
    dev_rig_settle(&R);
}

static void hub_close(void)
{
    dev_rig_settle(&R);
    hub_schdom_stop(S);
    hub_devdom_stop(R.d);
    hub_engine_unsubscribe_all(R.e);
    hub_engine_close_store(R.e);
    hub_store_close(store);
    store = NULL;
    hub_inbox_drain(inbox);
    hub_engine_free(R.e);
    hub_inbox_close(inbox);
    uv_run(&R.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&R.loop), 0);
    hub_schdom_free(S);
    hub_devdom_free(R.d);
    hub_metrics_free(R.metrics);
    dev_rig_free_anns(&R);
    dev_rig_free_replies(&R);
    hub_jbuf_free(&R.events);
    memset(&R, 0, sizeof(R));
    S = NULL;
}

static void hub_restart(void)
{
    hub_close();
    hub_open();
}

static int setup(void **state)
{
    (void)state;
    dev_clock_set((uint64_t)AT(10, 30));
    memset(&sch_runs, 0, sizeof(sch_runs));
    snprintf(dir, sizeof(dir), "/tmp/test_schedules_store.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(db_path, sizeof(db_path), "%s/showhub.db", data);
    hub_open();
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];
    (void)state;
    if (R.e != NULL)
        hub_close();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static void ok(const char *name, const char *payload)
{
    if (dev_rig_run(&R, "api", name, payload) != HUB_INTENT_APPLIED)
        fail_msg("%s %s: outcome %d %s/%s (%s)", name, payload, R.outcome,
                 hub_errcode_name(R.err.code), R.err.field, R.err.msg);
}

static void poll_at(int64_t ms)
{
    dev_clock_set((uint64_t)ms);
    dev_rig_run(&R, "timer", "schedules.poll", "{}");
}

static int64_t sql_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

#define HOOKS                                                                                      \
    "'on_start':[{'topic':'room1/light','message':'ON'}],"                                         \
    "'on_end':[{'topic':'room1/light','message':'OFF'}]"

/* ---- tests ------------------------------------------------------------------------------- */

static void test_events_roundtrip(void **state)
{
    (void)state;
    ok("event.create",
       "{'event':{'group_id':5,'title':'Morning \\u00e9','type':'video',"
       "'start':'2026-04-03T14:00:00.250Z','end':'2026-04-03T15:00:00Z',"
       "'rrule':'FREQ=WEEKLY;BYDAY=FR;COUNT=10','exdates':['20260417T140000Z'],"
       "'content':{'video':{'url':'https://example.org/v.mp4','loop':true,'volume':0.8}}," HOOKS
       "}}");
    ok("event.create", "{'event':{'group_id':null,'title':'Hub','start':'2026-04-04T08:00:00Z',"
                       "'end':'2026-04-04T09:00:00Z'}}");
    ok("event.detach", "{'id':1,'date':'2026-04-10','event':{'title':'Moved'}}");
    ok("event.create", "{'event':{'group_id':6,'title':'Gone','start':'2026-04-04T08:00:00Z',"
                       "'end':'2026-04-04T09:00:00Z'}}");
    ok("event.delete", "{'id':4}");
    char *before[3];
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "%d", i + 1);
        before[i] = sch_state(&R, "events", id);
    }
    hub_restart();
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "%d", i + 1);
        char *after = sch_state(&R, "events", id);
        assert_string_equal(after, before[i]);
        hub_free(after);
        hub_free(before[i]);
    }
    assert_int_equal(S->nev, 3);
    /* the deleted id 4 is not given again */
    ok("event.create", "{'event':{'group_id':6,'title':'New','start':'2026-04-04T08:00:00Z',"
                       "'end':'2026-04-04T09:00:00Z'}}");
    assert_string_equal(sch_field(&R, "events", "5", "title"), "New");
    assert_int_equal(sql_int("SELECT COUNT(*) FROM schedule_events"), 4);
}

/* on_start once across restarts; on_end after a down period. */
static void test_hooks_across_restarts(void **state)
{
    (void)state;
    ok("event.create", "{'event':{'group_id':5,'title':'Lights','start':'2026-04-03T10:00:00Z',"
                       "'end':'2026-04-03T11:00:00Z'," HOOKS "}}");
    assert_int_equal(sch_runs.n, 1);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM schedule_fired WHERE which = 'start'"), 1);
    /* restart inside the window (as after kill -9 once the record was
     * durable): the start-up cycle does not run on_start again */
    hub_restart();
    assert_int_equal(sch_runs.n, 1);
    dev_clock_set((uint64_t)AT(10, 50));
    hub_restart();
    assert_int_equal(sch_runs.n, 1);
    /* down from 10:50 to 13:00: on_end runs at the first cycle */
    dev_clock_set((uint64_t)AT(13, 0));
    hub_restart();
    assert_int_equal(sch_runs.n, 2);
    assert_string_equal(sch_runs.label[1], "event 1 on_end 2026-04-03T10:00:00Z");
    assert_int_equal(sql_int("SELECT COUNT(*) FROM schedule_fired WHERE which = 'end'"), 1);
    hub_restart();
    assert_int_equal(sch_runs.n, 2);
    /* a week and a day later the records are pruned */
    poll_at(AT(24 * 8 + 12, 0));
    dev_rig_settle(&R);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM schedule_fired"), 0);
}

static void test_intent_id_kept(void **state)
{
    (void)state;
    ok("event.create", "{'event':{'group_id':7,'title':'Show','start':'2026-04-03T10:00:00Z',"
                       "'end':'2026-04-03T11:00:00Z'}}");
    char id[40];
    snprintf(id, sizeof(id), "%s", sch_field(&R, "power", "7", "intent_id"));
    assert_int_equal(strlen(id), 36);
    /* restart mid-window: the start-up cycle publishes a heartbeat of the same intent */
    dev_clock_set((uint64_t)(AT(10, 30) + 45000));
    hub_restart();
    dev_msg_t *m = sch_last_msg(&R, 0, ROOT "/groups/7/power/intent");
    assert_non_null(m);
    assert_non_null(strstr(m->payload, id));
    assert_non_null(strstr(m->payload, "\"issued_at\":\"2026-04-03T10:30:45Z\""));
    /* ended while down: OFF with a new id */
    dev_clock_set((uint64_t)AT(12, 0));
    hub_restart();
    m = sch_last_msg(&R, 0, ROOT "/groups/7/power/intent");
    assert_non_null(m);
    assert_null(strstr(m->payload, id));
    assert_non_null(strstr(m->payload, "\"desired_state\":\"off\""));
}

static void test_startup_lists(void **state)
{
    (void)state;
    ok("event.create", "{'event':{'group_id':5,'title':'A','start':'2026-04-03T10:00:00Z',"
                       "'end':'2026-04-03T11:00:00Z'}}");
    ok("event.create", "{'event':{'group_id':6,'title':'B','start':'2026-04-03T10:00:00Z',"
                       "'end':'2026-04-03T12:00:00Z'}}");
    assert_int_equal(sql_int("SELECT COUNT(*) FROM schedule_active"), 2);
    /* down until 11:30: group 5's list is cleared ([]), group 6's
     * republished unchanged (the start-up cycle publishes every list) */
    dev_clock_set((uint64_t)AT(11, 30));
    hub_restart();
    dev_msg_t *m5 = sch_last_msg(&R, 0, ROOT "/events/5");
    dev_msg_t *m6 = sch_last_msg(&R, 0, ROOT "/events/6");
    assert_non_null(m5);
    assert_non_null(m6);
    assert_string_equal(m5->payload, "[]");
    assert_non_null(strstr(m6->payload, "\"title\":\"B\""));
    char *t = sch_state(&R, "active", "5");
    assert_string_equal(t, "<absent>");
    hub_free(t);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM schedule_active"), 1);
}

int main(void)
{
    hub_log_set_level(getenv("SCH_LOG") ? HUB_LOG_DEBUG : HUB_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hooks_across_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intent_id_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_startup_lists, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
