/* tests/unit/test_schedules_cycle.c - the cost side of the scheduler cycle
 * (cycle.c), on sch_rig.h's engine and fake wall clock:
 *
 *   - incremental: a group is computed again only when an occurrence of
 *     its events starts or ends, an event of it changes, a cache rolls or
 *     the clock goes back; a cycle in between looks at no event cache and
 *     still heartbeats every group's power intent;
 *   - the same answers as computing everything: over a random calendar, a
 *     clock walked forwards (onto boundaries too) and back, and edits
 *     (events moved to other groups, deleted), a cycle with every group
 *     forced stale right after the incremental one changes nothing (so it
 *     is refused: no seq); each group's own event list stays exact;
 *   - slices: a cycle over more groups than SCH_SLICE_UNITS is several
 *     schedules.poll intents {now, cursor}, each with at most that many
 *     groups to change, together covering every group exactly once; an
 *     edit during a cycle gets a cycle of its own after it. */
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
    hub_engine_link_set(R.e, HUB_LINK_UP);
    hub_schdom_start(S);
    dev_rig_settle(&R);
}

static int setup(void **state)
{
    (void)state;
    setup_cfg(sch_rig_cfg());
    return 0;
}

/* Publishing off: a cycle that changes nothing is refused. */
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

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % n;
}

static const char *t3339(int64_t ms)
{
    static char buf[8][32];
    static int k;
    k = (k + 1) % 8;
    sch_time_format(ms, ms % 1000 != 0, buf[k]);
    return buf[k];
}

static void create(int64_t g, int64_t s, int64_t e, const char *extra)
{
    char p[1024];
    snprintf(p, sizeof(p),
             "{'event':{'group_id':%lld,'title':'g%lld','start':'%s','end':'%s'%s%s}}",
             (long long)g, (long long)g, t3339(s), t3339(e), extra[0] ? "," : "", extra);
    if (dev_rig_run(&R, "api", "event.create", p) != HUB_INTENT_APPLIED)
        fail_msg("event.create %s: %s", p, R.err.msg);
}

static int poll_at(int64_t ms)
{
    dev_clock_set((uint64_t)ms);
    return dev_rig_run(&R, "timer", "schedules.poll", "{}");
}

static double metric(const char *name)
{
    return dev_rig_metric(&R, name);
}

/* The earliest instant a group of the domain must be computed again. */
static int64_t next_change(void)
{
    int64_t n = INT64_MAX;
    for (size_t i = 0; i < S->ngroups; i++)
        if (S->groups[i]->nev > 0 && S->groups[i]->next_at < n)
            n = S->groups[i]->next_at;
    return n;
}

static int count_prefix(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* A cycle at now computes exactly the groups that were due (next_at <=
 * now) and no other; at least `least` of them. */
static void expect_computed(int64_t now, int least)
{
    int64_t was[64];
    int due[64], n = 0;
    assert_true(S->ngroups <= 64);
    for (size_t i = 0; i < S->ngroups; i++) {
        was[i] = S->groups[i]->at;
        due[i] = S->groups[i]->dirty || now >= S->groups[i]->next_at || now < was[i];
        n += due[i];
    }
    assert_true(n >= least);
    assert_int_equal(poll_at(now), HUB_INTENT_APPLIED);
    for (size_t i = 0; i < S->ngroups; i++)
        assert_int_equal(S->groups[i]->at, due[i] ? now : was[i]);
}

/* ---- incremental ------------------------------------------------------------------- */

static void test_quiet_cycle_touches_nothing(void **state)
{
    (void)state;
    /* Six groups, three daily events each, 20-50 minutes, spread over the day. */
    for (int64_t g = 1; g <= 6; g++)
        for (int k = 0; k < 3; k++) {
            int64_t s = AT(8 + 3 * k, 0) + g * 7 * MINUTE;
            create(g, s, s + (20 + 10 * k) * MINUTE, "'rrule':'FREQ=DAILY'");
        }
    int64_t t1 = AT(10, 30) + 1000;
    assert_int_equal(poll_at(t1), HUB_INTENT_APPLIED); /* heartbeats */
    int64_t ats[16], cats[64];
    size_t ne = 0;
    for (size_t i = 0; i < S->ngroups && i < 16; i++)
        ats[i] = S->groups[i]->at;
    for (size_t i = 0; i < S->nev && ne < 64; i++)
        cats[ne++] = S->ev[i]->c_at;

    /* Nothing starts or ends before the next boundary: a cycle just before
     * it computes no group and looks at no cache, and still heartbeats. */
    int64_t nb = next_change();
    assert_true(nb > t1 && nb < t1 + 2 * HOUR);
    double cycles = metric("schedules_cycle_seconds_count");
    size_t mark = R.nanns;
    assert_int_equal(poll_at(nb - 1), HUB_INTENT_APPLIED);
    assert_true(metric("schedules_cycle_seconds_count") == cycles + 1);
    for (size_t i = 0; i < S->ngroups && i < 16; i++)
        assert_int_equal(S->groups[i]->at, ats[i]);
    for (size_t i = 0; i < ne; i++)
        assert_int_equal(S->ev[i]->c_at, cats[i]);
    for (int64_t g = 1; g <= 6; g++) {
        char topic[64];
        snprintf(topic, sizeof(topic), ROOT "/groups/%lld/power/intent", (long long)g);
        assert_int_equal(sch_count_msgs(&R, mark, topic), 1);
    }

    /* At the boundary, only the group(s) whose occurrence starts or ends. */
    expect_computed(nb, 1);

    /* An edit moving an event from group 2 to group 4: both computed again
     * at the cycle its announcement runs (and only those due anyway). */
    char p[256];
    sch_event_t *ev = S->ev[4];
    assert_int_equal(ev->group, 2);
    snprintf(p, sizeof(p),
             "{'id':%lld,'event':{'group_id':4,'title':'moved','start':'%s','end':'%s'}}",
             (long long)ev->id, t3339(AT(10, 0)), t3339(AT(12, 0)));
    int64_t t3 = nb + 1000;
    int64_t due[16];
    for (size_t i = 0; i < S->ngroups && i < 16; i++)
        due[i] = S->groups[i]->next_at <= t3 || S->groups[i]->id == 2 || S->groups[i]->id == 4;
    dev_clock_set((uint64_t)t3);
    if (dev_rig_run(&R, "api", "event.update", p) != HUB_INTENT_APPLIED)
        fail_msg("event.update: %s", R.err.msg);
    for (size_t i = 0; i < S->ngroups && i < 16; i++)
        assert_int_equal(S->groups[i]->at == t3, due[i]);
    char *t = sch_state(&R, "active", "4");
    assert_non_null(strstr(t, "\"title\":\"moved\""));
    hub_free(t);
}

/* Each group's own list of events is exactly its events of d->ev, by id. */
static void check_group_lists(void)
{
    size_t total = 0;
    for (size_t i = 0; i < S->ngroups; i++) {
        const sch_group_t *g = S->groups[i];
        size_t k = 0;
        for (size_t j = 0; j < S->nev; j++)
            if (S->ev[j]->group == g->id) {
                assert_true(k < g->nev);
                assert_ptr_equal(g->evs[k], S->ev[j]);
                k++;
            }
        assert_int_equal(k, g->nev);
        total += g->nev;
    }
    assert_int_equal(total, S->nev);
}

/* An edit: move an event to another group and time, or delete one. */
static void random_edit(void)
{
    char p[512];
    if (S->nev == 0)
        return;
    const sch_event_t *ev = S->ev[rnd(S->nev)];
    if (rnd(4) == 0) {
        snprintf(p, sizeof(p), "{'id':%lld}", (long long)ev->id);
        if (dev_rig_run(&R, "api", "event.delete", p) != HUB_INTENT_APPLIED)
            fail_msg("event.delete: %s", R.err.msg);
        return;
    }
    int64_t s = ev->start + ((int64_t)rnd(121) - 60) * MINUTE;
    snprintf(p, sizeof(p),
             "{'id':%lld,'event':{'group_id':%lld,'title':'e','start':'%s','end':'%s'%s%s%s}}",
             (long long)ev->id, (long long)(1 + rnd(9)), t3339(s), t3339(s + ev->end - ev->start),
             ev->rrule ? ",'rrule':'" : "", ev->rrule ? ev->rrule : "", ev->rrule ? "'" : "");
    if (dev_rig_run(&R, "api", "event.update", p) != HUB_INTENT_APPLIED)
        fail_msg("event.update %s: %s", p, R.err.msg);
}

/* Forcing every group stale right after a cycle must change nothing. */
static void check_full(int64_t now, int step)
{
    for (size_t i = 0; i < S->ngroups; i++)
        S->groups[i]->dirty = 1;
    int runs = sch_runs.n;
    int rc = poll_at(now);
    if (rc != HUB_INTENT_REJECTED)
        fail_msg("step %d at %s: a full cycle after the incremental one changed something "
                 "(outcome %d)",
                 step, t3339(now), rc);
    assert_int_equal(sch_runs.n, runs);
}

static void test_incremental_matches_full(void **state)
{
    static const char *const rules[] = {
        "'rrule':'FREQ=DAILY'",
        "'rrule':'FREQ=HOURLY;INTERVAL=3'",
        "'rrule':'FREQ=WEEKLY;BYDAY=MO,WE,FR,SA'",
        "'rrule':'FREQ=MINUTELY;INTERVAL=20'",
        "",
    };
    static const int64_t durs[] = {MINUTE, 10 * MINUTE, 45 * MINUTE, 2 * HOUR, 20 * MINUTE};
    (void)state;
    rng = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < 40; i++) {
        int64_t g = 1 + (int64_t)rnd(8);
        int64_t s = AT(0, 0) + (int64_t)rnd(36 * 60) * MINUTE;
        int r = (int)rnd(5);
        int64_t dur = durs[rnd(5)];
        if (r == 3 && dur > 20 * MINUTE)
            dur = 20 * MINUTE; /* chains of touching occurrences */
        char extra[256];
        snprintf(extra, sizeof(extra), "%s%s%s", rules[r], rules[r][0] && (i % 5 == 0) ? "," : "",
                 i % 5 == 0 ? "'on_start':[{'topic':'a/b','message':'on'}],"
                              "'on_end':[{'topic':'a/b','message':'off'}]"
                            : "");
        if (extra[0] == ',')
            memmove(extra, extra + 1, strlen(extra));
        create(g, s, s + dur, extra);
    }
    check_group_lists();
    int64_t now = AT(10, 30);
    for (int step = 0; step < 400; step++) {
        int how = (int)rnd(10);
        if (how < 4)
            now = next_change(); /* onto a boundary */
        else if (how < 5)
            now = next_change() - 1;
        else if (how < 9)
            now += 1000 + (int64_t)rnd(40 * MINUTE);
        else
            now -= (int64_t)rnd(3 * HOUR); /* the clock goes back */
        if (step % 20 == 19) {
            dev_clock_set((uint64_t)now);
            random_edit(); /* its announcement runs a cycle */
            check_group_lists();
        } else {
            poll_at(now);
        }
        check_full(now, step);
    }
}

/* ---- slices ------------------------------------------------------------------------ */

static void test_slices_cover_each_group_once(void **state)
{
    (void)state;
    const int groups = 2 * SCH_SLICE_UNITS + 17;
    for (int64_t g = 1; g <= groups; g++)
        create(g, AT(9, 0) + g * MINUTE, AT(11, 0) + g * MINUTE, "'rrule':'FREQ=DAILY'");
    double cycles = metric("schedules_cycle_seconds_count");
    double slices = metric("schedules_cycle_slice_seconds_count");
    size_t mark = R.nanns;
    int64_t now = AT(10, 40);
    assert_int_equal(poll_at(now), HUB_INTENT_APPLIED);

    /* One cycle, several slices: the first {}, then {now, cursor} rising. */
    int n = 0;
    long long last_cursor = -2;
    for (size_t i = mark; i < R.nanns; i++) {
        dev_ann_t *a = &R.anns[i];
        if (strcmp(a->name, "schedules.poll") != 0)
            continue;
        if (n == 0) {
            assert_string_equal(a->payload, "{}");
        } else {
            json_t *p = json_loads(a->payload, 0, NULL);
            assert_non_null(p);
            assert_int_equal(json_integer_value(json_object_get(p, "now")), now);
            long long cur = json_integer_value(json_object_get(p, "cursor"));
            assert_true(cur > last_cursor);
            last_cursor = cur;
            assert_string_equal(a->src, "timer");
            json_decref(p);
        }
        assert_true(count_prefix(a->patches, "\"schedules.power.") <= SCH_SLICE_UNITS);
        n++;
    }
    assert_true(n >= (groups + SCH_SLICE_UNITS - 1) / SCH_SLICE_UNITS);
    assert_true(metric("schedules_cycle_seconds_count") == cycles + 1);
    assert_true(metric("schedules_cycle_slice_seconds_count") == slices + n);
    /* every group's intent exactly once, at the cycle's now */
    for (int64_t g = 1; g <= groups; g++) {
        char topic[64];
        snprintf(topic, sizeof(topic), ROOT "/groups/%lld/power/intent", (long long)g);
        assert_int_equal(sch_count_msgs(&R, mark, topic), 1);
        dev_msg_t *m = sch_last_msg(&R, mark, topic);
        char want[64];
        snprintf(want, sizeof(want), "\"issued_at\":\"%s\"", t3339(now));
        assert_non_null(strstr(m->payload, want));
    }
    assert_false(S->cyc.active);

    /* An edit while a cycle runs: the cycle finishes, then one more runs
     * for it (at once, not at the next tick). */
    cycles = metric("schedules_cycle_seconds_count");
    dev_clock_set((uint64_t)(now + 1000));
    assert_int_equal(dev_rig_submit(&R, NULL, "timer", "schedules.poll", dev_json("{}")), 0);
    char p[256];
    snprintf(p, sizeof(p), "{'event':{'group_id':%d,'title':'late','start':'%s','end':'%s'}}",
             groups + 1, t3339(AT(10, 0)), t3339(AT(12, 0)));
    assert_int_equal(dev_rig_submit(&R, NULL, "api", "event.create", dev_json(p)), 0);
    dev_rig_settle(&R);
    assert_true(metric("schedules_cycle_seconds_count") == cycles + 2);
    char key[16];
    snprintf(key, sizeof(key), "%d", groups + 1);
    char *t = sch_state(&R, "active", key);
    assert_non_null(strstr(t, "\"title\":\"late\""));
    hub_free(t);
    assert_int_equal(S->poll_pending, 0);
}

/* A quiet hub (publishing off, nothing starting or ending): one refused
 * slice per cycle, however many groups — no seq. */
static void test_quiet_cycle_one_refused_slice(void **state)
{
    (void)state;
    for (int64_t g = 1; g <= 3 * SCH_SLICE_UNITS; g++)
        create(g, AT(9, 0), AT(12, 0), "'rrule':'FREQ=DAILY'");
    poll_at(AT(10, 40));
    double slices = metric("schedules_cycle_slice_seconds_count");
    uint64_t seq = hub_engine_seq(R.e);
    assert_int_equal(poll_at(AT(10, 41)), HUB_INTENT_REJECTED);
    assert_true(metric("schedules_cycle_slice_seconds_count") == slices + 1);
    assert_int_equal(hub_engine_seq(R.e), seq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quiet_cycle_touches_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_matches_full, setup_quiet, teardown),
        cmocka_unit_test_setup_teardown(test_slices_cover_each_group_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiet_cycle_one_refused_slice, setup_quiet, teardown),
    };
    hub_log_set_level(HUB_LOG_OFF);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
