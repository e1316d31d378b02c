/* tests/unit/test_state.c - engine/state: demo fixture, slots, JSON rendering. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "engine/state.h"

static hub_state_t st; /* ~45 KB: keep it off the test's stack */

static void test_init(void **state)
{
    memset(&st, 0xa5, sizeof(st)); /* init must not rely on zeroed memory */
    hub_state_init(&st, 7);
    assert_true(st.seq == 0);
    assert_true(st.ts_ms == 0);
    assert_int_equal(st.nuniverses, 1);

    hub_universe_t *u = hub_state_universe(&st, 7);
    assert_non_null(u);
    assert_int_equal(u->id, 7);
    for (int i = 0; i < HUB_DMX_SLOTS; i++)
        assert_int_equal(u->slots[i], 0);

    const hub_fixture_t *f = hub_state_fixture(&st, "demo");
    assert_non_null(f);
    assert_string_equal(f->name, "demo");
    assert_int_equal(f->universe, 7);
    assert_int_equal(f->channel, 1);
    assert_int_equal(f->nchannels, 3);
    assert_null(hub_state_fixture(&st, "dem"));
    assert_null(hub_state_fixture(&st, "demo2"));
    assert_null(hub_state_fixture(&st, ""));
    assert_null(hub_state_universe(&st, 1));

    uint8_t rgb[3] = {9, 9, 9};
    hub_state_get_rgb(&st, rgb);
    assert_int_equal(rgb[0], 0);
    assert_int_equal(rgb[1], 0);
    assert_int_equal(rgb[2], 0);
}

static void test_universe_zero_and_one(void **state)
{
    hub_state_init(&st, 0);
    assert_non_null(hub_state_universe(&st, 0));
    assert_int_equal(hub_state_fixture(&st, "demo")->universe, 0);
    hub_state_init(&st, 1);
    assert_non_null(hub_state_universe(&st, 1));
    assert_null(hub_state_universe(&st, 0));
}

static void test_set_get_rgb(void **state)
{
    const uint8_t want[3] = {64, 32, 128};
    uint8_t got[3];

    hub_state_init(&st, 3);
    hub_state_set_rgb(&st, want);
    hub_universe_t *u = hub_state_universe(&st, 3);
    /* Channels 1..3 are slots 0..2; nothing else changes. */
    assert_int_equal(u->slots[0], 64);
    assert_int_equal(u->slots[1], 32);
    assert_int_equal(u->slots[2], 128);
    for (int i = 3; i < HUB_DMX_SLOTS; i++)
        assert_int_equal(u->slots[i], 0);
    hub_state_get_rgb(&st, got);
    assert_memory_equal(got, want, 3);
    /* set does not move seq; the engine does. */
    assert_true(st.seq == 0);

    /* The view reads the slots, so a direct slot write shows through. */
    u->slots[1] = 255;
    hub_state_get_rgb(&st, got);
    assert_int_equal(got[0], 64);
    assert_int_equal(got[1], 255);
    assert_int_equal(got[2], 128);
}

static void test_render_rgb(void **state)
{
    char buf[256];
    const uint8_t rgb[3] = {64, 32, 128};

    hub_state_init(&st, 1);
    hub_state_set_rgb(&st, rgb);
    st.seq = 1;
    st.ts_ms = 1732363200000ULL;
    size_t n = hub_state_render_rgb(&st, buf, sizeof(buf));
    const char *want = "{\"schema\":\"demo.rgb.state.v1\",\"r\":64,\"g\":32,\"b\":128,"
                       "\"seq\":1,\"ts\":1732363200000}";
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));

    hub_state_init(&st, 1);
    n = hub_state_render_rgb(&st, buf, sizeof(buf));
    assert_string_equal(buf, "{\"schema\":\"demo.rgb.state.v1\","
                             "\"r\":0,\"g\":0,\"b\":0,\"seq\":0,\"ts\":0}");
    assert_int_equal(n, strlen(buf));
}

static void test_render_ws(void **state)
{
    char buf[256];
    const uint8_t rgb[3] = {255, 0, 7};

    hub_state_init(&st, 1);
    hub_state_set_rgb(&st, rgb);
    st.seq = 18446744073709551615ULL;
    st.ts_ms = 123456;
    size_t n = hub_state_render_ws(&st, buf, sizeof(buf));
    const char *want =
        "{\"type\":\"state\",\"r\":255,\"g\":0,\"b\":7,\"seq\":18446744073709551615,\"ts\":123456}";
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),        cmocka_unit_test(test_universe_zero_and_one),
        cmocka_unit_test(test_set_get_rgb), cmocka_unit_test(test_render_rgb),
        cmocka_unit_test(test_render_ws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
