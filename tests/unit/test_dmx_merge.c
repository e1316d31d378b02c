/* tests/unit/test_dmx_merge.c - the output merge, rule by rule
 * (domains/dmx/merge.h): blackout/disarmed, preview, manual, playback, 0. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "domains/dmx/merge.h"

typedef struct layers {
    uint8_t off[512], preview[512], preview_set[512], manual[512], manual_set[512], playback[512],
        playback_set[512];
} layers_t;

static layers_t L;

static int setup(void **state)
{
    memset(&L, 0, sizeof(L));
    return 0;
}

static void merge(uint8_t out[512], int preview, int playback)
{
    hub_dmx_merge_in_t in = {.off = L.off,
                             .preview = preview ? L.preview : NULL,
                             .preview_set = L.preview_set,
                             .manual = L.manual,
                             .manual_set = L.manual_set,
                             .playback = playback ? L.playback : NULL,
                             .playback_set = L.playback_set};
    memset(out, 0xee, 512);
    hub_dmx_merge(&in, out);
}

/* Rule 5: no layer holds the slot -> 0 (whatever the value arrays say). */
static void test_nothing_is_zero(void **state)
{
    uint8_t out[512];
    memset(L.manual, 200, 512);
    memset(L.playback, 100, 512);
    merge(out, 1, 1);
    for (int i = 0; i < 512; i++)
        assert_int_equal(out[i], 0);
}

/* Rule 3: manual values hold. */
static void test_manual(void **state)
{
    uint8_t out[512];
    L.manual[0] = 255;
    L.manual_set[0] = 1;
    L.manual[511] = 7;
    L.manual_set[511] = 1;
    merge(out, 0, 0);
    assert_int_equal(out[0], 255);
    assert_int_equal(out[511], 7);
    assert_int_equal(out[1], 0);
}

/* Rule 1 beats everything: blackout or a disarmed fixture is 0. */
static void test_off_wins(void **state)
{
    uint8_t out[512];
    L.manual[5] = L.preview[5] = L.playback[5] = 99;
    L.manual_set[5] = L.preview_set[5] = L.playback_set[5] = 1;
    L.off[5] = 1;
    merge(out, 1, 1);
    assert_int_equal(out[5], 0);
}

/* Rule 2 over rule 3: a preview shows over the programmer's values. */
static void test_preview_over_manual(void **state)
{
    uint8_t out[512];
    L.manual[9] = 10;
    L.manual_set[9] = 1;
    L.preview[9] = 20;
    L.preview_set[9] = 1;
    merge(out, 1, 0);
    assert_int_equal(out[9], 20);
    merge(out, 0, 0); /* no preview layer: manual again */
    assert_int_equal(out[9], 10);
}

/* Rule 3 over rule 4: manual values hold until released, over playback. */
static void test_manual_over_playback(void **state)
{
    uint8_t out[512];
    L.playback[3] = 30;
    L.playback_set[3] = 1;
    L.manual[3] = 40;
    L.manual_set[3] = 1;
    merge(out, 0, 1);
    assert_int_equal(out[3], 40);
    L.manual_set[3] = 0; /* released */
    merge(out, 0, 1);
    assert_int_equal(out[3], 30);
}

/* The published layers (no preview, no playback). */
static void test_merge_layers(void **state)
{
    hub_dmx_layers_t l;
    uint8_t out[512];
    memset(&l, 0, sizeof(l));
    l.manual[0] = 1;
    l.manual_set[0] = 1;
    l.manual[1] = 2;
    l.manual_set[1] = 1;
    l.off[1] = 1;
    hub_dmx_merge_layers(&l, out);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 0);
    assert_int_equal(out[2], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_nothing_is_zero, setup),
        cmocka_unit_test_setup(test_manual, setup),
        cmocka_unit_test_setup(test_off_wins, setup),
        cmocka_unit_test_setup(test_preview_over_manual, setup),
        cmocka_unit_test_setup(test_manual_over_playback, setup),
        cmocka_unit_test_setup(test_merge_layers, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
