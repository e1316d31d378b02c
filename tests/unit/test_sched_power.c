/* tests/unit/test_sched_power.c - domains/schedules model: seed 004's group
 * power intents over its canary scenarios, with a fixed now and
 * deterministic intent ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/jbuf.h"
#include "domains/schedules/model.h"

#define SEC  1000LL
#define MIN  60000LL
#define HOUR 3600000LL
#define T10  1774951200000LL /* 2026-03-31T10:00:00Z (20454 + 89 days, 10 h) */
#define T11  (T10 + HOUR)
#define T12  (T10 + 2 * HOUR)

/* ---- helpers ---------------------------------------------------------------------- */

/* Ids "00000000-0000-4000-8000-000000000001", ...002, in call order. */
static void next_id(void *ud, char out[37])
{
    int *n = ud;
    snprintf(out, 37, "00000000-0000-4000-8000-%012d", ++*n);
}

static const sch_power_cfg_t CFG30 = {30, 3, 90, 1};

typedef struct rig {
    int ids; /* next_id's counter */
    sch_intent_t cur;
    int have;
} rig_t;

/* One poll: basis at now, next intent, cur replaced. Returns the kind. */
static int poll(rig_t *r, const sch_occ_t *occ, size_t n, int64_t now, int edited,
                const sch_power_cfg_t *cfg)
{
    sch_basis_t b;
    sch_intent_t out;
    sch_power_basis(occ, n, now, &b);
    int kind =
        sch_power_next(r->have ? &r->cur : NULL, &b, 12, now, edited, cfg, next_id, &r->ids, &out);
    sch_basis_free(&b);
    if (r->have)
        sch_intent_free(&r->cur);
    r->cur = out;
    r->have = 1;
    return kind;
}

static void rig_free(rig_t *r)
{
    if (r->have)
        sch_intent_free(&r->cur);
}

static void assert_on(const sch_intent_t *in, int64_t ws, int64_t we, const int64_t *ids, size_t n)
{
    assert_int_equal(in->on, 1);
    assert_int_equal(in->win_start, ws);
    assert_int_equal(in->win_end, we);
    assert_int_equal(in->nids, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(in->ids[i], ids[i]);
}

static void assert_off(const sch_intent_t *in)
{
    assert_int_equal(in->on, 0);
    assert_int_equal(in->nids, 0);
    assert_null(in->ids);
    assert_int_equal(in->win_start, 0);
    assert_int_equal(in->win_end, 0);
}

static void render(const sch_intent_t *in, char *out, size_t n)
{
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    sch_intent_render(&b, in);
    snprintf(out, n, "%s", b.p);
    hub_jbuf_free(&b);
}

/* ---- the basis ---------------------------------------------------------------------- */

static void test_basis(void **state)
{
    /* Unsorted; 7 touches 3 touches 5; 9 stands apart. */
    sch_occ_t occ[] = {
        {T11, T12, 5},
        {T10, T11, 3},
        {T12 + HOUR, T12 + 2 * HOUR, 9},
        {T10 - HOUR, T10, 7},
        {T10 + 30 * MIN, T10 + 45 * MIN, 3}, /* a second occurrence of 3 */
    };
    sch_basis_t b;
    sch_power_basis(occ, 5, T10 + 40 * MIN, &b);
    assert_int_equal(b.on, 1);
    assert_int_equal(b.win_start, T10 - HOUR);
    assert_int_equal(b.win_end, T12);
    assert_int_equal(b.nids, 1); /* 3 once */
    assert_int_equal(b.ids[0], 3);
    sch_basis_free(&b);
    assert_null(b.ids);

    /* Start inclusive, end exclusive. */
    sch_power_basis(occ, 5, T11, &b);
    assert_int_equal(b.nids, 1);
    assert_int_equal(b.ids[0], 5);
    sch_basis_free(&b);
    sch_power_basis(occ, 5, T12, &b);
    assert_int_equal(b.on, 0);
    assert_int_equal(b.win_start, 0);
    assert_int_equal(b.win_end, 0);
    assert_null(b.ids);
    sch_basis_free(&b);
    sch_power_basis(occ, 5, T12 + HOUR, &b);
    assert_int_equal(b.on, 1);
    assert_int_equal(b.win_start, T12 + HOUR);
    assert_int_equal(b.win_end, T12 + 2 * HOUR);
    sch_basis_free(&b);

    /* A zero-length occurrence covers nothing. */
    sch_occ_t zero = {T10, T10, 1};
    sch_power_basis(&zero, 1, T10, &b);
    assert_int_equal(b.on, 0);
    sch_basis_free(&b);
    sch_power_basis(NULL, 0, T10, &b);
    assert_int_equal(b.on, 0);
    sch_basis_free(&b);
}

/* ---- canary scenarios ------------------------------------------------------------------ */

/* A 10-11, B 11-12: one window 10-12, one intent id, never OFF. */
static void test_adjacent(void **state)
{
    static const sch_occ_t occ[] = {{T10, T11, 1}, {T11, T12, 2}};
    static const int64_t a[] = {1}, b[] = {2};
    rig_t r = {0};
    assert_int_equal(poll(&r, occ, 2, T10, 0, &CFG30), SCH_PUB_TRANSITION);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000001");
    assert_on(&r.cur, T10, T12, a, 1);
    assert_int_equal(poll(&r, occ, 2, T11 - SEC, 0, &CFG30), SCH_PUB_HEARTBEAT);
    assert_on(&r.cur, T10, T12, a, 1);
    assert_int_equal(poll(&r, occ, 2, T11, 0, &CFG30), SCH_PUB_UPDATE);
    assert_on(&r.cur, T10, T12, b, 1);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000001");
    /* Every 30 s across the seam: on, same id. */
    for (int64_t t = T10; t < T12; t += 30 * SEC) {
        int kind = poll(&r, occ, 2, t, 0, &CFG30);
        assert_true(kind == SCH_PUB_HEARTBEAT || kind == SCH_PUB_UPDATE);
        assert_int_equal(r.cur.on, 1);
        assert_int_equal(r.ids, 1);
    }
    assert_int_equal(poll(&r, occ, 2, T12, 0, &CFG30), SCH_PUB_TRANSITION);
    assert_off(&r.cur);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000002");
    rig_free(&r);
}

/* A 10-11:30, B 11-12: both listed while both run; the window is 10-12. */
static void test_overlapping(void **state)
{
    static const sch_occ_t occ[] = {{T11, T12, 20}, {T10, T11 + 30 * MIN, 10}};
    static const int64_t a[] = {10}, ab[] = {10, 20}, b[] = {20};
    rig_t r = {0};
    assert_int_equal(poll(&r, occ, 2, T10 + 30 * MIN, 0, &CFG30), SCH_PUB_TRANSITION);
    assert_on(&r.cur, T10, T12, a, 1);
    assert_int_equal(poll(&r, occ, 2, T11 + 15 * MIN, 0, &CFG30), SCH_PUB_UPDATE);
    assert_on(&r.cur, T10, T12, ab, 2);
    assert_int_equal(poll(&r, occ, 2, T11 + 45 * MIN, 0, &CFG30), SCH_PUB_UPDATE);
    assert_on(&r.cur, T10, T12, b, 1);
    assert_int_equal(r.ids, 1);
    rig_free(&r);
}

/* A ends 11:00, B starts 11:30: off between with a new id, then on with another. */
static void test_gap(void **state)
{
    static const sch_occ_t occ[] = {{T10, T11, 1}, {T11 + 30 * MIN, T12 + 30 * MIN, 2}};
    static const int64_t b[] = {2};
    rig_t r = {0};
    poll(&r, occ, 2, T11 - SEC, 0, &CFG30);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000001");
    assert_int_equal(poll(&r, occ, 2, T11, 0, &CFG30), SCH_PUB_TRANSITION);
    assert_off(&r.cur);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000002");
    assert_int_equal(poll(&r, occ, 2, T11 + 15 * MIN, 0, &CFG30), SCH_PUB_HEARTBEAT);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000002");
    assert_int_equal(poll(&r, occ, 2, T11 + 30 * MIN, 0, &CFG30), SCH_PUB_TRANSITION);
    assert_on(&r.cur, T11 + 30 * MIN, T12 + 30 * MIN, b, 1);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000003");
    rig_free(&r);
}

/* An edit mid-window replaces the intent with a fresh id, still on. */
static void test_edit_mid_window(void **state)
{
    static const sch_occ_t occ[] = {{T10, T11, 1}};
    static const sch_occ_t edited[] = {{T10, T12, 1}};
    static const int64_t a[] = {1};
    rig_t r = {0};
    poll(&r, occ, 1, T10 + 10 * MIN, 0, &CFG30);
    assert_int_equal(poll(&r, occ, 1, T10 + 20 * MIN, 1, &CFG30), SCH_PUB_TRANSITION);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000002");
    assert_on(&r.cur, T10, T11, a, 1);
    assert_int_equal(poll(&r, edited, 1, T10 + 30 * MIN, 1, &CFG30), SCH_PUB_TRANSITION);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000003");
    assert_on(&r.cur, T10, T12, a, 1);
    assert_int_equal(r.cur.issued_at, T10 + 30 * MIN);
    rig_free(&r);
}

/* Deleting the only event mid-window: off, new id. */
static void test_delete_mid_window(void **state)
{
    static const sch_occ_t occ[] = {{T10, T11, 1}};
    rig_t r = {0};
    poll(&r, occ, 1, T10 + 10 * MIN, 0, &CFG30);
    assert_int_equal(poll(&r, NULL, 0, T10 + 20 * MIN, 1, &CFG30), SCH_PUB_TRANSITION);
    assert_off(&r.cur);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000002");
    rig_free(&r);
    /* Not flagged as an edit: still a transition (the state changed). */
    rig_t q = {0};
    poll(&q, occ, 1, T10 + 10 * MIN, 0, &CFG30);
    assert_int_equal(poll(&q, NULL, 0, T10 + 20 * MIN, 0, &CFG30), SCH_PUB_TRANSITION);
    assert_int_equal(q.ids, 2);
    rig_free(&q);
}

/* The hub restarts mid-window: no previous intent, so a fresh id, on. */
static void test_restart_mid_window(void **state)
{
    static const sch_occ_t occ[] = {{T10, T11, 1}, {T11, T12, 2}};
    static const int64_t a[] = {1};
    rig_t r = {.ids = 41};
    assert_int_equal(poll(&r, occ, 2, T10 + 30 * MIN, 0, &CFG30), SCH_PUB_TRANSITION);
    assert_string_equal(r.cur.intent_id, "00000000-0000-4000-8000-000000000042");
    assert_on(&r.cur, T10, T12, a, 1);
    assert_int_equal(r.cur.issued_at, T10 + 30 * MIN);
    assert_int_equal(r.cur.expires_at, T10 + 30 * MIN + 90 * SEC);
    rig_free(&r);
}

/* The broker restarts: the domain republishes what it holds; the model's
 * part is that the held intent survives intact and the next poll keeps its
 * id, refreshing only the times. */
static void test_broker_restart(void **state)
{
    static const sch_occ_t occ[] = {{T10, T11, 1}};
    rig_t r = {0};
    poll(&r, occ, 1, T10 + 10 * MIN, 0, &CFG30);
    sch_intent_t held;
    sch_intent_copy(&held, &r.cur);
    char a[512], b[512];
    render(&held, a, sizeof(a));
    render(&r.cur, b, sizeof(b));
    assert_string_equal(a, b);
    assert_ptr_not_equal(held.ids, r.cur.ids);
    assert_int_equal(poll(&r, occ, 1, T10 + 10 * MIN + 30 * SEC, 0, &CFG30), SCH_PUB_HEARTBEAT);
    assert_string_equal(r.cur.intent_id, held.intent_id);
    assert_int_equal(r.cur.issued_at, T10 + 10 * MIN + 30 * SEC);
    assert_int_equal(r.cur.expires_at, T10 + 10 * MIN + 120 * SEC);
    sch_intent_free(&held);
    rig_free(&r);
}

/* Heartbeat off: no semantic change publishes nothing and keeps prev as is. */
static void test_heartbeat_off(void **state)
{
    static const sch_occ_t occ[] = {{T10, T11, 1}};
    sch_power_cfg_t cfg = CFG30;
    cfg.heartbeat = 0;
    rig_t r = {0};
    assert_int_equal(poll(&r, occ, 1, T10, 0, &cfg), SCH_PUB_TRANSITION);
    sch_intent_t before;
    sch_intent_copy(&before, &r.cur);
    assert_int_equal(poll(&r, occ, 1, T10 + 30 * SEC, 0, &cfg), SCH_PUB_NONE);
    assert_string_equal(r.cur.intent_id, before.intent_id);
    assert_int_equal(r.cur.issued_at, before.issued_at);
    assert_int_equal(r.cur.expires_at, before.expires_at);
    assert_int_equal(r.cur.nids, 1);
    assert_int_equal(r.cur.ids[0], 1);
    assert_int_equal(r.cur.win_start, before.win_start);
    assert_int_equal(r.cur.win_end, before.win_end);
    /* A real change still publishes. */
    assert_int_equal(poll(&r, occ, 1, T11, 0, &cfg), SCH_PUB_TRANSITION);
    sch_intent_free(&before);
    rig_free(&r);
}

static int64_t life_ms(int poll_s, int mult, int min_s)
{
    sch_power_cfg_t cfg = {poll_s, mult, min_s, 1};
    sch_basis_t b = {0};
    sch_intent_t out;
    int n = 0;
    sch_power_next(NULL, &b, 12, T10, 0, &cfg, next_id, &n, &out);
    int64_t life = out.expires_at - out.issued_at;
    assert_int_equal(out.poll_s, poll_s);
    sch_intent_free(&out);
    return life;
}

/* expires_at = issued_at + max(multiplier x poll, min) s. */
static void test_expiry(void **state)
{
    assert_int_equal(life_ms(30, 3, 90), 90 * SEC);
    assert_int_equal(life_ms(60, 3, 90), 180 * SEC);
    assert_int_equal(life_ms(15, 3, 90), 90 * SEC);
    assert_int_equal(life_ms(1, 3, 90), 90 * SEC);
    assert_int_equal(life_ms(30, 4, 90), 120 * SEC);
    assert_int_equal(life_ms(30, 3, 200), 200 * SEC);

    sch_intent_t in = {.issued_at = T10, .expires_at = T10 + 90 * SEC};
    assert_int_equal(sch_intent_expired(&in, T10), 0);
    assert_int_equal(sch_intent_expired(&in, T10 + 90 * SEC - 1), 0);
    assert_int_equal(sch_intent_expired(&in, T10 + 90 * SEC), 1);
    assert_int_equal(sch_intent_expired(&in, T10 + 90 * SEC + 1), 1);
}

/* No events at all: off, no_active_event, [] and nulls. */
static void test_empty_group(void **state)
{
    rig_t r = {0};
    assert_int_equal(poll(&r, NULL, 0, T10, 0, &CFG30), SCH_PUB_TRANSITION);
    assert_off(&r.cur);
    char json[512];
    render(&r.cur, json, sizeof(json));
    assert_string_equal(json, "{\"schema_version\":\"1.0\","
                              "\"intent_id\":\"00000000-0000-4000-8000-000000000001\","
                              "\"group_id\":12,\"desired_state\":\"off\","
                              "\"reason\":\"no_active_event\","
                              "\"issued_at\":\"2026-03-31T10:00:00Z\","
                              "\"expires_at\":\"2026-03-31T10:01:30Z\",\"poll_interval_sec\":30,"
                              "\"active_event_ids\":[],\"event_window_start\":null,"
                              "\"event_window_end\":null}");
    assert_int_equal(poll(&r, NULL, 0, T10 + 30 * SEC, 0, &CFG30), SCH_PUB_HEARTBEAT);
    assert_int_equal(r.ids, 1);
    rig_free(&r);
}

/* Other content changes: poll interval (UPDATE), another group's prev (none). */
static void test_update_and_group(void **state)
{
    static const sch_occ_t occ[] = {{T10, T11, 1}};
    rig_t r = {0};
    poll(&r, occ, 1, T10, 0, &CFG30);
    sch_power_cfg_t cfg60 = {60, 3, 90, 0};
    assert_int_equal(poll(&r, occ, 1, T10 + MIN, 0, &cfg60), SCH_PUB_UPDATE);
    assert_int_equal(r.cur.poll_s, 60);
    assert_int_equal(r.cur.expires_at, T10 + MIN + 180 * SEC);
    assert_int_equal(r.ids, 1);
    sch_basis_t b;
    sch_intent_t out;
    sch_power_basis(occ, 1, T10 + 2 * MIN, &b);
    assert_int_equal(
        sch_power_next(&r.cur, &b, 13, T10 + 2 * MIN, 0, &CFG30, next_id, &r.ids, &out),
        SCH_PUB_TRANSITION);
    assert_int_equal(out.group_id, 13);
    assert_string_equal(out.intent_id, "00000000-0000-4000-8000-000000000002");
    sch_intent_free(&out);
    sch_basis_free(&b);
    rig_free(&r);
}

/* ---- the body, byte for byte -------------------------------------------------------- */

/* Seed 004's contract example, rebuilt from events. */
static void test_render_seed_example(void **state)
{
    static const sch_occ_t occ[] = {{T10 + 15 * MIN, T11, 148}};
    sch_basis_t b;
    sch_intent_t out;
    sch_power_basis(occ, 1, T10 + 15 * MIN + 30 * SEC, &b);
    int n = 0;
    sch_power_next(NULL, &b, 12, T10 + 15 * MIN + 30 * SEC, 0, &CFG30, next_id, &n, &out);
    memcpy(out.intent_id, "9cf26d9b-87a3-42f1-8446-e90bb6f6ce63", 37);
    char json[512];
    render(&out, json, sizeof(json));
    assert_string_equal(json,
                        "{\"schema_version\":\"1.0\","
                        "\"intent_id\":\"9cf26d9b-87a3-42f1-8446-e90bb6f6ce63\","
                        "\"group_id\":12,\"desired_state\":\"on\",\"reason\":\"active_event\","
                        "\"issued_at\":\"2026-03-31T10:15:30Z\","
                        "\"expires_at\":\"2026-03-31T10:17:00Z\",\"poll_interval_sec\":30,"
                        "\"active_event_ids\":[148],"
                        "\"event_window_start\":\"2026-03-31T10:15:00Z\","
                        "\"event_window_end\":\"2026-03-31T11:00:00Z\"}");
    sch_intent_free(&out);
    sch_basis_free(&b);
}

/* The handoff example: issued with ms keeps them, poll 15 still 90 s. */
static void test_render_handoff_ms(void **state)
{
    int64_t six = T10 + 20 * HOUR;     /* 2026-04-01T06:00:00Z */
    int64_t now = six + 3 * SEC + 496; /* 06:00:03.496 */
    sch_occ_t occ[] = {{six, six + HOUR, 148}};
    sch_power_cfg_t cfg = {15, 3, 90, 1};
    sch_basis_t b;
    sch_intent_t out;
    sch_power_basis(occ, 1, now, &b);
    int n = 0;
    sch_power_next(NULL, &b, 12, now, 0, &cfg, next_id, &n, &out);
    char json[512];
    render(&out, json, sizeof(json));
    assert_string_equal(json,
                        "{\"schema_version\":\"1.0\","
                        "\"intent_id\":\"00000000-0000-4000-8000-000000000001\","
                        "\"group_id\":12,\"desired_state\":\"on\",\"reason\":\"active_event\","
                        "\"issued_at\":\"2026-04-01T06:00:03.496Z\","
                        "\"expires_at\":\"2026-04-01T06:01:33.496Z\","
                        "\"poll_interval_sec\":15,\"active_event_ids\":[148],"
                        "\"event_window_start\":\"2026-04-01T06:00:00Z\","
                        "\"event_window_end\":\"2026-04-01T07:00:00Z\"}");
    sch_intent_free(&out);
    sch_basis_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basis),
        cmocka_unit_test(test_adjacent),
        cmocka_unit_test(test_overlapping),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_edit_mid_window),
        cmocka_unit_test(test_delete_mid_window),
        cmocka_unit_test(test_restart_mid_window),
        cmocka_unit_test(test_broker_restart),
        cmocka_unit_test(test_heartbeat_off),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_empty_group),
        cmocka_unit_test(test_update_and_group),
        cmocka_unit_test(test_render_seed_example),
        cmocka_unit_test(test_render_handoff_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
