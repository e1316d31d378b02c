/* tests/unit/test_frameclock.c - output/frameclock: the "hub-output" thread.
 *
 * A real Art-Net and a real sACN sender aim at receivers on 127.0.0.1
 * (loopback_rx.h), whose threads stamp each datagram on arrival. The clock
 * is then judged by what arrives: ArtDmx per universe (port-address
 * universe - 1), sACN data packets by hub_sacn_parse_data, and the frames
 * sink's calls. Rates are checked with wide bounds over windows of half a
 * second or more (this is not a timing test); counts that do not depend on
 * timing (one frame for one change, the blackout, three Stream_Terminated
 * packets, metric == packets received) are checked exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/metrics.h"
#include "domains/dmx/roles.h"
#include "engine/domain.h"
#include "loopback_rx.h"
#include "output/artnet_pkt.h"
#include "output/frameclock.h"
#include "output/sacn_pkt.h"

/* ---- received packets --------------------------------------------------------- */

typedef struct frame {
    uint64_t at_us;
    uint8_t seq;
    uint8_t options; /* sACN only */
    uint8_t data[512];
} frame_t;

/* Copies of the ArtDmx frames for universe received so far, in order. */
static size_t artdmx_frames(rx_t *r, int universe, frame_t **out)
{
    size_t n = 0;
    frame_t *v;

    pthread_mutex_lock(&r->mu);
    v = calloc(r->n + 1, sizeof(*v));
    assert_non_null(v);
    for (size_t i = 0; i < r->n; i++) {
        uint16_t pa;
        uint8_t seq;
        const uint8_t *data;
        size_t nd;
        if (hub_artnet_parse_dmx(r->pkts[i].data, r->pkts[i].len, &pa, &seq, &data, &nd) != 0 ||
            pa != universe - 1)
            continue;
        v[n].at_us = r->pkts[i].at_us;
        v[n].seq = seq;
        memcpy(v[n].data, data, nd < 512 ? nd : 512);
        n++;
    }
    pthread_mutex_unlock(&r->mu);
    *out = v;
    return n;
}

/* The same for sACN data packets (Stream_Terminated ones included). */
static size_t sacn_frames(rx_t *r, int universe, frame_t **out)
{
    size_t n = 0;
    frame_t *v;

    pthread_mutex_lock(&r->mu);
    v = calloc(r->n + 1, sizeof(*v));
    assert_non_null(v);
    for (size_t i = 0; i < r->n; i++) {
        uint16_t u;
        uint8_t seq, opts, prio, cid[16];
        const uint8_t *slots;
        size_t ns;
        if (hub_sacn_parse_data(r->pkts[i].data, r->pkts[i].len, &u, &seq, &opts, &prio, &slots,
                                &ns, cid) != 0 ||
            u != universe)
            continue;
        v[n].at_us = r->pkts[i].at_us;
        v[n].seq = seq;
        v[n].options = opts;
        memcpy(v[n].data, slots, ns < 512 ? ns : 512);
        n++;
    }
    pthread_mutex_unlock(&r->mu);
    *out = v;
    return n;
}

static size_t count_artdmx(rx_t *r, int universe)
{
    frame_t *v;
    size_t n = artdmx_frames(r, universe, &v);
    free(v);
    return n;
}

static size_t count_artdmx_between(rx_t *r, int universe, uint64_t from_us, uint64_t to_us)
{
    frame_t *v;
    size_t n = artdmx_frames(r, universe, &v), k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].at_us >= from_us && v[i].at_us < to_us)
            k++;
    free(v);
    return k;
}

static size_t count_sacn(rx_t *r, int universe, int terminated)
{
    frame_t *v;
    size_t n = sacn_frames(r, universe, &v), k = 0;
    for (size_t i = 0; i < n; i++)
        if (((v[i].options & HUB_SACN_OPT_TERMINATED) != 0) == (terminated != 0))
            k++;
    free(v);
    return k;
}

static bool wait_artdmx(rx_t *r, int universe, size_t n, unsigned max_ms)
{
    uint64_t end = hub_mono_us() + (uint64_t)max_ms * 1000;
    while (count_artdmx(r, universe) < n) {
        if (hub_mono_us() >= end)
            return false;
        rx_sleep_ms(5);
    }
    return true;
}

static bool wait_sacn(rx_t *r, int universe, int terminated, size_t n, unsigned max_ms)
{
    uint64_t end = hub_mono_us() + (uint64_t)max_ms * 1000;
    while (count_sacn(r, universe, terminated) < n) {
        if (hub_mono_us() >= end)
            return false;
        rx_sleep_ms(5);
    }
    return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* ---- layers ------------------------------------------------------------------- */

/* Every slot held by the manual layer: slot i = base + i (mod 256), never 0
 * for base 1 in the first 255 slots. */
static void layers_manual(hub_dmx_layers_t *l, uint8_t base)
{
    memset(l, 0, sizeof(*l));
    for (int i = 0; i < 512; i++) {
        l->manual[i] = (uint8_t)(base + i);
        l->manual_set[i] = 1;
    }
}

static void want_manual(uint8_t out[512], uint8_t base)
{
    for (int i = 0; i < 512; i++)
        out[i] = (uint8_t)(base + i);
}

/* ---- fixture ------------------------------------------------------------------ */

enum { WITH_ARTNET = 1, WITH_SACN = 2, ARTNET_SYNC = 4, ARTNET_LISTEN = 8 };

struct fix {
    hub_metrics_t *m;
    rx_t an, sa;
    hub_artnet_t *artnet;
    hub_sacn_t *sacn;
    hub_frameclock_t *fc;
    char dir[64];
    int flags;
    hub_addr_t listen;
    int stopped;
};

static void fix_open(struct fix *f, int flags, int fps, int keepalive_ms, int ws_hz, int pattern)
{
    char err[256] = "";

    memset(f, 0, sizeof(*f));
    f->flags = flags;
    f->m = hub_metrics_new();
    rx_open(&f->an);
    rx_open(&f->sa);
    rx_start(&f->an);
    rx_start(&f->sa);
    if (flags & WITH_ARTNET) {
        f->listen = rx_loopback_addr(rx_free_port());
        hub_artnet_cfg_t ac = {.targets = &f->an.addr,
                               .ntargets = 1,
                               .sync = (flags & ARTNET_SYNC) != 0,
                               .listen = (flags & ARTNET_LISTEN) ? &f->listen : NULL};
        assert_int_equal(hub_artnet_new(&f->artnet, &ac, f->m, err, sizeof(err)), 0);
    }
    if (flags & WITH_SACN) {
        snprintf(f->dir, sizeof(f->dir), "/tmp/test_fc_XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        hub_sacn_cfg_t sc = {.targets = &f->sa.addr,
                             .ntargets = 1,
                             .priority = 100,
                             .source_name = "fc",
                             .data_dir = f->dir};
        assert_int_equal(hub_sacn_new(&f->sacn, &sc, f->m, err, sizeof(err)), 0);
    }
    hub_frameclock_cfg_t cfg = {.fps = fps,
                                .keepalive_ms = keepalive_ms,
                                .ws_hz = ws_hz,
                                .test_pattern = pattern,
                                .artnet = f->artnet,
                                .sacn = f->sacn};
    assert_int_equal(hub_frameclock_new(&f->fc, &cfg, f->m), 0);
}

static void fix_start(struct fix *f)
{
    assert_int_equal(hub_frameclock_start(f->fc), 0);
}

/* Stop the clock (bounded: a blackout and a join, well under a second at
 * these rates) and let the last datagrams arrive. */
static void fix_stop(struct fix *f)
{
    uint64_t t0 = hub_mono_us();
    hub_frameclock_stop(f->fc);
    assert_true(hub_mono_us() - t0 < 2000000);
    f->stopped = 1;
    rx_settle(&f->an, 150);
    rx_settle(&f->sa, 150);
}

static void fix_close(struct fix *f)
{
    hub_frameclock_free(f->fc);
    hub_artnet_free(f->artnet);
    hub_sacn_free(f->sacn);
    rx_close(&f->an);
    rx_close(&f->sa);
    hub_metrics_free(f->m);
    if (f->flags & WITH_SACN) {
        char p[128];
        snprintf(p, sizeof(p), "%s/sacn.cid", f->dir);
        unlink(p);
        rmdir(f->dir);
    }
}

static void set_manual(struct fix *f, int universe, uint8_t base)
{
    hub_dmx_layers_t l;
    layers_manual(&l, base);
    hub_frameclock_set_universe(f->fc, universe, &l);
}

static void set_clean(struct fix *f, int universe)
{
    hub_dmx_layers_t l;
    memset(&l, 0, sizeof(l));
    hub_frameclock_set_universe(f->fc, universe, &l);
}

/* ---- the thread ----------------------------------------------------------------- */

static void test_thread_named_hub_output(void **state)
{
    struct fix f;
    char path[64], comm[32] = "";
    int tid;
    FILE *fp;
    struct stat st;

    (void)state;
    fix_open(&f, WITH_ARTNET, 40, 1000, 10, HUB_TEST_OFF);
    assert_int_equal(hub_frameclock_tid(f.fc), 0);
    fix_start(&f);
    for (int i = 0; i < 400 && hub_frameclock_tid(f.fc) == 0; i++)
        rx_sleep_ms(5);
    tid = hub_frameclock_tid(f.fc);
    assert_true(tid > 0);
    assert_int_not_equal(tid, getpid());
    snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
    /* The name is set by the thread itself, just after its id: give it a moment. */
    for (int i = 0; i < 200; i++) {
        fp = fopen(path, "r");
        assert_non_null(fp);
        assert_non_null(fgets(comm, sizeof(comm), fp));
        fclose(fp);
        if (strcmp(comm, "hub-output\n") == 0)
            break;
        rx_sleep_ms(5);
    }
    assert_string_equal(comm, "hub-output\n");
    fix_stop(&f);
    /* Joined: the thread is gone. */
    snprintf(path, sizeof(path), "/proc/self/task/%d", tid);
    assert_int_equal(stat(path, &st), -1);
    fix_close(&f);
}

static void test_stop_and_free_without_start(void **state)
{
    struct fix f;

    (void)state;
    fix_open(&f, WITH_ARTNET | WITH_SACN, 40, 1000, 10, HUB_TEST_OFF);
    set_manual(&f, 1, 1);
    hub_frameclock_stop(f.fc); /* never started: nothing to stop, nothing sent */
    hub_frameclock_stop(f.fc);
    assert_int_equal(hub_frameclock_tid(f.fc), 0);
    assert_int_equal(rx_settle(&f.an, 100), 0);
    assert_int_equal(rx_settle(&f.sa, 0), 0);
    fix_close(&f);
}

/* ---- rate --------------------------------------------------------------------------- */

/* 40 fps with the chase (every tick a new frame): 20 frames in 0.5 s, give
 * or take scheduling. */
static void test_rate_40fps(void **state)
{
    struct fix f;
    uint64_t t1;
    size_t n;

    (void)state;
    fix_open(&f, WITH_ARTNET, 40, 1000, 10, HUB_TEST_CHASE);
    set_clean(&f, 1);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 1, 1, 2000));
    t1 = hub_mono_us() + 100000;
    rx_sleep_ms(700);
    n = count_artdmx_between(&f.an, 1, t1, t1 + 500000);
    if (n < 10 || n > 30)
        fail_msg("%zu ArtDmx frames in 0.5 s at 40 fps, want 10..30", n);
    fix_stop(&f);
    fix_close(&f);
}

/* ---- the chase ---------------------------------------------------------------------- */

/* Every slot changes every tick; the pattern sits in the playback layer, so
 * blackout (off) and manual values still win over it. */
static void test_chase_moves_every_slot_every_tick(void **state)
{
    struct fix f;
    hub_dmx_layers_t l;
    frame_t *v;
    size_t n;

    (void)state;
    fix_open(&f, WITH_ARTNET, 40, 1000, 10, HUB_TEST_CHASE);
    set_clean(&f, 1);
    memset(&l, 0, sizeof(l));
    l.off[10] = 1;
    l.manual[20] = 99;
    l.manual_set[20] = 1;
    l.manual[30] = 200; /* not set: playback shows through */
    hub_frameclock_set_universe(f.fc, 2, &l);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 1, 12, 3000));
    assert_true(wait_artdmx(&f.an, 2, 12, 3000));
    fix_stop(&f);

    /* A frame on every tick: every tick that slept was observed once in the
     * lateness histogram (a tick a whole period late skips that, and is
     * counted in dmx_output_ticks_skipped_total instead). One more frame is
     * the blackout. */
    {
        double ticks = rx_metric(f.m, "dmx_output_tick_lateness_seconds_count");
        double skips = rx_metric(f.m, "dmx_output_ticks_skipped_total");
        size_t n1 = count_artdmx(&f.an, 1);
        if (skips == 0 ? (double)(n1 - 1) != ticks : (double)(n1 - 1) < ticks)
            fail_msg("%zu chase frames (blackout included) for %.0f ticks (%.0f skipped)", n1,
                     ticks, skips);
    }

    for (int u = 1; u <= 2; u++) {
        n = artdmx_frames(&f.an, u, &v);
        assert_true(n >= 13);
        assert_true(all_zero(v[n - 1].data, 512)); /* the blackout at stop */
        n--;
        for (size_t i = 0; i < n; i++) {
            for (int s = 0; s < 512; s++) {
                uint8_t want = (uint8_t)(v[i].data[0] + s);
                if (u == 2 && s == 10)
                    want = 0; /* off wins */
                else if (u == 2 && s == 20)
                    want = 99; /* manual wins */
                if (v[i].data[s] != want)
                    fail_msg("universe %d frame %zu slot %d: %u, want %u", u, i, s, v[i].data[s],
                             want);
            }
            if (i == 0)
                continue;
            /* Consecutive frames are consecutive ticks: every moving slot
             * steps by the same amount, and none stands still. */
            assert_int_equal((uint8_t)(v[i].seq - v[i - 1].seq), 1);
            uint8_t step = (uint8_t)(v[i].data[0] - v[i - 1].data[0]);
            assert_int_not_equal(step, 0);
            for (int s = 1; s < 512; s++) {
                if (u == 2 && (s == 10 || s == 20))
                    continue;
                if ((uint8_t)(v[i].data[s] - v[i - 1].data[s]) != step)
                    fail_msg("universe %d frame %zu slot %d moved %u, slot 0 moved %u", u, i, s,
                             (uint8_t)(v[i].data[s] - v[i - 1].data[s]), step);
            }
        }
        free(v);
    }
    fix_close(&f);
}

/* ---- change and keep-alive ----------------------------------------------------------- */

/* Keep-alive far away: one frame per change, exactly, then the blackout. */
static void test_change_sent_once(void **state)
{
    struct fix f;
    frame_t *v;
    uint8_t want[512];
    size_t n;

    (void)state;
    fix_open(&f, WITH_ARTNET, 40, 60000, 10, HUB_TEST_OFF);
    set_manual(&f, 1, 1);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 1, 1, 2000));
    rx_sleep_ms(400); /* 16 ticks of an unchanged frame */
    assert_int_equal(count_artdmx(&f.an, 1), 1);

    set_manual(&f, 1, 50);
    assert_true(wait_artdmx(&f.an, 1, 2, 2000));
    rx_sleep_ms(300);
    assert_int_equal(count_artdmx(&f.an, 1), 2);

    /* The same layers again: nothing changed on the wire, nothing sent. */
    set_manual(&f, 1, 50);
    rx_sleep_ms(200);
    assert_int_equal(count_artdmx(&f.an, 1), 2);

    fix_stop(&f);
    n = artdmx_frames(&f.an, 1, &v);
    assert_int_equal(n, 3);
    want_manual(want, 1);
    assert_memory_equal(v[0].data, want, 512);
    want_manual(want, 50);
    assert_memory_equal(v[1].data, want, 512);
    assert_true(all_zero(v[2].data, 512));
    assert_int_equal(v[0].seq, 1);
    assert_int_equal(v[1].seq, 2);
    assert_int_equal(v[2].seq, 3);
    free(v);
    fix_close(&f);
}

/* An unchanged universe is resent every keepalive_ms, not every tick. */
static void test_keepalive_resends_unchanged_frame(void **state)
{
    struct fix f;
    frame_t *v;
    uint8_t want[512];
    size_t n, k = 0;

    (void)state;
    fix_open(&f, WITH_ARTNET, 40, 150, 10, HUB_TEST_OFF);
    set_manual(&f, 1, 7);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 1, 1, 2000));
    rx_sleep_ms(1100);
    n = artdmx_frames(&f.an, 1, &v);
    want_manual(want, 7);
    /* Frames in the first second: the change, then one every 150 ms or a
     * tick (25 ms) more: 1 + 5..6. Bounds kept wide; every tick would be 40. */
    for (size_t i = 0; i < n; i++)
        if (v[i].at_us < v[0].at_us + 1000000)
            k++;
    if (k < 4 || k > 10)
        fail_msg("%zu frames in 1 s with keepalive 150 ms at 40 fps, want 4..10", k);
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(v[i].data, want, 512);
        assert_int_equal(v[i].seq, (uint8_t)(i + 1));
        /* Not faster than the keep-alive (arrival times, so some slack). */
        if (i > 0 && v[i].at_us - v[i - 1].at_us < 100000)
            fail_msg("keep-alive %zu came %llu us after the one before", i,
                     (unsigned long long)(v[i].at_us - v[i - 1].at_us));
    }
    free(v);
    fix_stop(&f);
    fix_close(&f);
}

/* ---- sequence numbers ----------------------------------------------------------------- */

/* Per universe: Art-Net 1..255 then 1 again (0 would turn reordering off at
 * the receiver); sACN 1, 2, … 255, 0, 1 … with no gap, through the
 * blackout and the Stream_Terminated packets. */
static void test_sequence_numbers_per_universe(void **state)
{
    struct fix f;
    frame_t *v;
    size_t n;

    (void)state;
    fix_open(&f, WITH_ARTNET | WITH_SACN, 100, 1000, 10, HUB_TEST_CHASE);
    set_clean(&f, 1);
    set_clean(&f, 9);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 1, 270, 10000));
    assert_true(wait_artdmx(&f.an, 9, 270, 10000));
    fix_stop(&f);
    for (int u = 1; u <= 9; u += 8) {
        n = artdmx_frames(&f.an, u, &v);
        assert_true(n >= 270);
        uint8_t want = 1;
        for (size_t i = 0; i < n; i++) {
            if (v[i].seq != want)
                fail_msg("universe %d ArtDmx %zu: sequence %u, want %u", u, i, v[i].seq, want);
            want = want == 255 ? 1 : (uint8_t)(want + 1);
        }
        free(v);

        n = sacn_frames(&f.sa, u, &v);
        assert_true(n >= 270);
        for (size_t i = 0; i < n; i++)
            if (v[i].seq != (uint8_t)(i + 1))
                fail_msg("universe %d sACN %zu: sequence %u, want %u", u, i, v[i].seq,
                         (uint8_t)(i + 1));
        free(v);
    }
    fix_close(&f);
}

/* ---- stop: blackout, then Stream_Terminated ----------------------------------------------- */

static void test_stop_sends_blackout_then_terminates(void **state)
{
    struct fix f;
    frame_t *v;
    size_t n, nan;
    uint8_t want[512];
    uint64_t last_zero_us = 0, first_term_us = UINT64_MAX;

    (void)state;
    fix_open(&f, WITH_ARTNET | WITH_SACN | ARTNET_SYNC, 40, 1000, 10, HUB_TEST_OFF);
    set_manual(&f, 1, 1);
    set_manual(&f, 7, 100);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 1, 1, 2000) && wait_artdmx(&f.an, 7, 1, 2000));
    assert_true(wait_sacn(&f.sa, 1, 0, 1, 2000) && wait_sacn(&f.sa, 7, 0, 1, 2000));
    rx_sleep_ms(100);
    fix_stop(&f);
    nan = rx_count(&f.an);
    rx_settle(&f.an, 200);
    rx_settle(&f.sa, 200);
    assert_int_equal(rx_count(&f.an), nan); /* nothing after stop returned */
    rx_stop(&f.an);
    rx_stop(&f.sa);

    /* Art-Net: the last three datagrams are zeros for 1 and 7, then ArtSync. */
    assert_true(nan >= 6);
    {
        uint16_t pa;
        uint8_t seq;
        const uint8_t *data;
        size_t nd;
        const rx_pkt_t *p = &f.an.pkts[nan - 3];
        assert_int_equal(hub_artnet_parse_dmx(p->data, p->len, &pa, &seq, &data, &nd), 0);
        assert_int_equal(pa, 0);
        assert_true(nd == 512 && all_zero(data, 512));
        p = &f.an.pkts[nan - 2];
        assert_int_equal(hub_artnet_parse_dmx(p->data, p->len, &pa, &seq, &data, &nd), 0);
        assert_int_equal(pa, 6);
        assert_true(nd == 512 && all_zero(data, 512));
        p = &f.an.pkts[nan - 1];
        assert_int_equal(p->len, HUB_ARTSYNC_LEN);
        assert_int_equal(p->data[8], 0x00); /* OpSync 0x5200 */
        assert_int_equal(p->data[9], 0x52);
    }

    /* sACN, per universe: the levels, one blackout packet, then exactly three
     * Stream_Terminated packets, sequence numbers running on. */
    for (int u = 1; u <= 7; u += 6) {
        n = sacn_frames(&f.sa, u, &v);
        assert_true(n >= 5);
        want_manual(want, u == 1 ? 1 : 100);
        assert_memory_equal(v[0].data, want, 512);
        assert_int_equal(v[0].options, 0);
        assert_int_equal(v[n - 4].options, 0);
        assert_true(all_zero(v[n - 4].data, 512));
        for (size_t i = n - 3; i < n; i++) {
            assert_int_equal(v[i].options, HUB_SACN_OPT_TERMINATED);
            assert_int_equal(v[i].seq, (uint8_t)(v[i - 1].seq + 1));
        }
        assert_int_equal(count_sacn(&f.sa, u, 1), 3);
        for (size_t i = 0; i < n - 4; i++)
            assert_false(all_zero(v[i].data, 512)); /* zeros only at the end */
        if (v[n - 4].at_us > last_zero_us)
            last_zero_us = v[n - 4].at_us;
        if (v[n - 3].at_us < first_term_us)
            first_term_us = v[n - 3].at_us;
        free(v);
    }
    /* Every output's blackout before any stream ends. */
    assert_true(last_zero_us <= first_term_us);
    fix_close(&f);
}

/* hub_frameclock_free on a running clock stops it the same way. */
static void test_free_while_running_blacks_out(void **state)
{
    struct fix f;
    frame_t *v;
    size_t n;

    (void)state;
    fix_open(&f, WITH_ARTNET, 40, 1000, 10, HUB_TEST_OFF);
    set_manual(&f, 3, 1);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 3, 1, 2000));
    hub_frameclock_free(f.fc);
    f.fc = NULL;
    assert_true(wait_artdmx(&f.an, 3, 2, 2000));
    rx_settle(&f.an, 100);
    n = artdmx_frames(&f.an, 3, &v);
    assert_true(all_zero(v[n - 1].data, 512));
    free(v);
    fix_close(&f);
}

/* A universe that leaves the patch: its sACN stream is terminated (three
 * packets) and nothing more goes out for it on either protocol. */
static void test_removed_universe_stream_terminated(void **state)
{
    struct fix f;
    size_t an2, sa2, an1;

    (void)state;
    fix_open(&f, WITH_ARTNET | WITH_SACN, 40, 100, 10, HUB_TEST_OFF);
    set_manual(&f, 1, 1);
    set_manual(&f, 2, 2);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 2, 1, 2000) && wait_sacn(&f.sa, 2, 0, 1, 2000));
    hub_frameclock_set_universe(f.fc, 2, NULL);
    assert_true(wait_sacn(&f.sa, 2, 1, 3, 2000));
    rx_sleep_ms(50);
    an2 = count_artdmx(&f.an, 2);
    sa2 = count_sacn(&f.sa, 2, 0);
    an1 = count_artdmx(&f.an, 1);
    rx_sleep_ms(400); /* keep-alive 100 ms: universe 1 goes on */
    assert_int_equal(count_artdmx(&f.an, 2), an2);
    assert_int_equal(count_sacn(&f.sa, 2, 0), sa2);
    assert_int_equal(count_sacn(&f.sa, 2, 1), 3);
    assert_true(count_artdmx(&f.an, 1) >= an1 + 2);
    fix_stop(&f);
    /* No blackout for a universe that is gone. */
    assert_int_equal(count_artdmx(&f.an, 2), an2);
    assert_int_equal(count_sacn(&f.sa, 2, 1), 3);
    fix_close(&f);
}

/* ---- the frames sink (room "frames") ------------------------------------------------------- */

#define MAX_WS 512

struct ws {
    pthread_mutex_t mu;
    size_t n;
    struct {
        int universe;
        uint64_t at_us, ts_ms;
        uint8_t slots[512];
    } f[MAX_WS];
    atomic_int wanted;
    atomic_int calls;
    int sleep_on_call; /* sleep 150 ms in this call (1-based); 0 never */
};

static void on_frames(void *ud, const int *universes, const uint8_t (*slots)[512], size_t n,
                      uint64_t ts_ms)
{
    struct ws *w = ud;
    int call = atomic_fetch_add(&w->calls, 1) + 1;

    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n && w->n < MAX_WS; i++) {
        w->f[w->n].universe = universes[i];
        w->f[w->n].at_us = hub_mono_us();
        w->f[w->n].ts_ms = ts_ms;
        memcpy(w->f[w->n].slots, slots[i], 512);
        w->n++;
    }
    pthread_mutex_unlock(&w->mu);
    if (call == w->sleep_on_call)
        rx_sleep_ms(150);
}

static int frames_wanted(void *ud)
{
    struct ws *w = ud;
    return atomic_load(&w->wanted);
}

static struct ws *ws_new(int wanted)
{
    struct ws *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    pthread_mutex_init(&w->mu, NULL);
    atomic_store(&w->wanted, wanted);
    return w;
}

static void ws_free(struct ws *w)
{
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static size_t ws_count(struct ws *w, int universe)
{
    size_t k = 0;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->n; i++)
        if (universe == 0 || w->f[i].universe == universe)
            k++;
    pthread_mutex_unlock(&w->mu);
    return k;
}

static bool ws_wait(struct ws *w, int universe, size_t n, unsigned max_ms)
{
    for (unsigned t = 0; t < max_ms; t += 5) {
        if (ws_count(w, universe) >= n)
            return true;
        rx_sleep_ms(5);
    }
    return ws_count(w, universe) >= n;
}

/* Chase at 50 fps, ws_hz 4: at most 4 frames a second per universe, each
 * one a frame that really went out. */
static void test_ws_frames_at_most_ws_hz(void **state)
{
    struct fix f;
    struct ws *w = ws_new(1);
    uint64_t t0, wall0, wall1;

    (void)state;
    fix_open(&f, WITH_ARTNET, 50, 1000, 4, HUB_TEST_CHASE);
    set_clean(&f, 1);
    set_clean(&f, 2);
    hub_frameclock_set_frames(f.fc, on_frames, frames_wanted, w);
    wall0 = hub_wall_ms();
    fix_start(&f);
    assert_true(ws_wait(w, 1, 1, 2000));
    t0 = hub_mono_us();
    rx_sleep_ms(1600);
    fix_stop(&f);
    wall1 = hub_wall_ms();

    for (int u = 1; u <= 2; u++) {
        size_t in_window = 0;
        uint64_t prev = 0;
        frame_t *v;
        size_t nv = artdmx_frames(&f.an, u, &v);

        pthread_mutex_lock(&w->mu);
        for (size_t i = 0; i < w->n; i++) {
            if (w->f[i].universe != u)
                continue;
            if (w->f[i].at_us >= t0 + 200000 && w->f[i].at_us < t0 + 1200000)
                in_window++;
            /* ws_hz 4: 250 ms apart (less a little for when in the tick they land). */
            if (prev != 0 && w->f[i].at_us - prev < 200000)
                fail_msg("universe %d: frames %llu us apart, ws_hz 4", u,
                         (unsigned long long)(w->f[i].at_us - prev));
            prev = w->f[i].at_us;
            assert_true(w->f[i].ts_ms >= wall0 && w->f[i].ts_ms <= wall1);
            bool sent = false;
            for (size_t k = 0; k < nv && !sent; k++)
                sent = memcmp(v[k].data, w->f[i].slots, 512) == 0;
            if (!sent)
                fail_msg("universe %d: frame %zu to room \"frames\" was never output", u, i);
        }
        pthread_mutex_unlock(&w->mu);
        free(v);
        if (in_window < 2 || in_window > 5)
            fail_msg("universe %d: %zu frames in 1 s at ws_hz 4, want 2..5", u, in_window);
    }
    fix_close(&f);
    ws_free(w);
}

/* Unchanged universes go once; not while nobody wants frames; again on
 * hub_frameclock_ws_refresh; never with the sink unset. */
static void test_ws_frames_changed_wanted_refresh(void **state)
{
    struct fix f;
    struct ws *w = ws_new(0);
    uint8_t want[512];

    (void)state;
    fix_open(&f, WITH_ARTNET, 40, 1000, 10, HUB_TEST_OFF);
    set_manual(&f, 1, 1);
    set_manual(&f, 2, 2);
    hub_frameclock_set_frames(f.fc, on_frames, frames_wanted, w);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 2, 1, 2000));
    rx_sleep_ms(200);
    assert_int_equal(ws_count(w, 0), 0); /* nobody in the room */

    atomic_store(&w->wanted, 1);
    assert_true(ws_wait(w, 1, 1, 2000) && ws_wait(w, 2, 1, 2000));
    rx_sleep_ms(400);
    assert_int_equal(ws_count(w, 1), 1); /* unchanged since: not again */
    assert_int_equal(ws_count(w, 2), 1);
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->n; i++) {
        want_manual(want, (uint8_t)w->f[i].universe);
        assert_memory_equal(w->f[i].slots, want, 512);
    }
    pthread_mutex_unlock(&w->mu);

    /* A new session: every universe again, once. */
    hub_frameclock_ws_refresh(f.fc);
    assert_true(ws_wait(w, 1, 2, 2000) && ws_wait(w, 2, 2, 2000));
    rx_sleep_ms(300);
    assert_int_equal(ws_count(w, 1), 2);
    assert_int_equal(ws_count(w, 2), 2);

    /* A change: that universe only. */
    set_manual(&f, 2, 9);
    assert_true(ws_wait(w, 2, 3, 2000));
    rx_sleep_ms(300);
    assert_int_equal(ws_count(w, 1), 2);
    assert_int_equal(ws_count(w, 2), 3);

    /* No sink: nothing, though the output goes on. */
    hub_frameclock_set_frames(f.fc, NULL, NULL, NULL);
    rx_sleep_ms(100);
    size_t before = ws_count(w, 0), an = count_artdmx(&f.an, 2);
    set_manual(&f, 2, 33);
    assert_true(wait_artdmx(&f.an, 2, an + 1, 2000));
    rx_sleep_ms(200);
    assert_int_equal(ws_count(w, 0), before);
    fix_stop(&f);
    fix_close(&f);
    ws_free(w);
}

/* ---- metrics ---------------------------------------------------------------------------- */

static void test_metrics_move(void **state)
{
    struct fix f;
    double fps, frames_an, frames_sa;
    size_t an, sa;

    (void)state;
    fix_open(&f, WITH_ARTNET | WITH_SACN, 40, 1000, 10, HUB_TEST_CHASE);
    set_clean(&f, 3);
    assert_int_equal(rx_metric(f.m, "dmx_output_frames_total{proto=\"artnet\",universe=\"3\"}"), 0);
    assert_int_equal(rx_metric(f.m, "dmx_output_frames_total{proto=\"sacn\",universe=\"3\"}"), 0);
    assert_int_equal(rx_metric(f.m, "dmx_output_tick_lateness_seconds_count"), 0);
    assert_int_equal(rx_metric(f.m, "dmx_output_ticks_skipped_total"), 0);
    fix_start(&f);
    rx_sleep_ms(1400);
    fps = rx_metric(f.m, "dmx_output_fps");
    if (fps < 20 || fps > 60)
        fail_msg("dmx_output_fps %.1f after 1.4 s at 40 fps, want 20..60", fps);
    assert_true(rx_metric(f.m, "dmx_output_tick_lateness_seconds_count") >= 10);
    fix_stop(&f);

    /* Every frame counted was a frame sent: the counters equal what arrived
     * (the blackout included; Stream_Terminated packets are not frames). */
    an = count_artdmx(&f.an, 3);
    sa = count_sacn(&f.sa, 3, 0);
    frames_an = rx_metric(f.m, "dmx_output_frames_total{proto=\"artnet\",universe=\"3\"}");
    frames_sa = rx_metric(f.m, "dmx_output_frames_total{proto=\"sacn\",universe=\"3\"}");
    assert_true(an >= 30);
    assert_int_equal((size_t)frames_an, an);
    assert_int_equal((size_t)frames_sa, sa);
    assert_int_equal(rx_metric(f.m, "dmx_output_errors_total{proto=\"artnet\"}"), 0);
    assert_int_equal(rx_metric(f.m, "dmx_output_errors_total{proto=\"sacn\"}"), 0);
    fix_close(&f);
}

/* A tick held up for six periods is counted as skipped, and the clock
 * carries on. The frames sink is the hook: it sleeps 150 ms once. */
static void test_late_ticks_counted_skipped(void **state)
{
    struct fix f;
    struct ws *w = ws_new(1);
    size_t n;

    (void)state;
    w->sleep_on_call = 5;
    fix_open(&f, WITH_ARTNET, 40, 1000, 100, HUB_TEST_CHASE);
    set_clean(&f, 1);
    hub_frameclock_set_frames(f.fc, on_frames, frames_wanted, w);
    fix_start(&f);
    for (int i = 0; i < 600 && rx_metric(f.m, "dmx_output_ticks_skipped_total") < 3; i++)
        rx_sleep_ms(5);
    assert_true(rx_metric(f.m, "dmx_output_ticks_skipped_total") >= 3);
    n = count_artdmx(&f.an, 1);
    assert_true(wait_artdmx(&f.an, 1, n + 5, 2000)); /* still ticking */
    fix_stop(&f);
    fix_close(&f);
    ws_free(w);
}

/* ---- what the clock drives besides frames ---------------------------------------------------- */

static void test_artpoll_answered_while_running(void **state)
{
    static const uint8_t artpoll[14] = {'A', 'r',  't',  '-',  'N', 'e',  't',
                                        0,   0x00, 0x20, 0x00, 14,  0x00, 0x10};
    struct fix f;
    rx_t client;

    (void)state;
    fix_open(&f, WITH_ARTNET | ARTNET_LISTEN, 40, 1000, 10, HUB_TEST_OFF);
    set_manual(&f, 5, 1);
    set_manual(&f, 1, 1);
    rx_open(&client);
    rx_start(&client);
    fix_start(&f);
    assert_int_equal(sendto(client.fd, artpoll, sizeof(artpoll), 0,
                            (const struct sockaddr *)&f.listen.sin, sizeof(f.listen.sin)),
                     (ssize_t)sizeof(artpoll));
    assert_true(rx_wait(&client, 2, 2000));
    assert_int_equal(rx_settle(&client, 200), 2);
    fix_stop(&f);
    rx_stop(&client);
    /* In universe order: port-address 0 as BindIndex 1, 4 as 2. */
    assert_int_equal(client.pkts[0].len, HUB_ARTPOLLREPLY_LEN);
    assert_int_equal(client.pkts[0].data[9], 0x21);
    assert_int_equal(client.pkts[0].data[186], 0);
    assert_int_equal(client.pkts[0].data[211], 1);
    assert_int_equal(client.pkts[1].data[186], 4);
    assert_int_equal(client.pkts[1].data[211], 2);
    assert_int_equal(rx_metric(f.m, "dmx_artnet_polls_total"), 1);
    rx_close(&client);
    fix_close(&f);
}

static void test_sacn_discovery_lists_universes(void **state)
{
    struct fix f;
    bool found = false;

    (void)state;
    fix_open(&f, WITH_SACN, 40, 1000, 10, HUB_TEST_OFF);
    set_manual(&f, 40000, 1);
    set_manual(&f, 5, 1);
    fix_start(&f);
    for (int i = 0; i < 400 && !found; i++) {
        pthread_mutex_lock(&f.sa.mu);
        for (size_t k = 0; k < f.sa.n && !found; k++) {
            const rx_pkt_t *p = &f.sa.pkts[k];
            /* Root vector VECTOR_ROOT_E131_EXTENDED, discovery list of two. */
            if (p->len == 124 && p->data[21] == 0x08) {
                assert_int_equal(p->data[118], 0); /* page 0 of 0 */
                assert_int_equal(p->data[119], 0);
                assert_int_equal(p->data[120] << 8 | p->data[121], 5);
                assert_int_equal(p->data[122] << 8 | p->data[123], 40000);
                found = true;
            }
        }
        pthread_mutex_unlock(&f.sa.mu);
        if (!found)
            rx_sleep_ms(5);
    }
    assert_true(found);
    fix_stop(&f);
    fix_close(&f);
}

/* Universes above 32768 have no Art-Net port-address: sACN only. */
static void test_universe_beyond_artnet_sacn_only(void **state)
{
    struct fix f;

    (void)state;
    fix_open(&f, WITH_ARTNET | WITH_SACN, 40, 1000, 10, HUB_TEST_OFF);
    set_manual(&f, 40000, 1);
    fix_start(&f);
    assert_true(wait_sacn(&f.sa, 40000, 0, 1, 2000));
    fix_stop(&f);
    assert_int_equal(rx_count(&f.an), 0);
    assert_true(rx_metric(f.m, "dmx_output_frames_total{proto=\"artnet\",universe=\"40000\"}") <=
                0);
    assert_true(rx_metric(f.m, "dmx_output_frames_total{proto=\"sacn\",universe=\"40000\"}") >= 2);
    fix_close(&f);
}

struct evs {
    atomic_int warnings;
    atomic_int other;
};

static void on_event(void *ud, int level, const char *source, const char *msg)
{
    struct evs *e = ud;
    if (level == HUB_EVENT_WARNING && strcmp(source, "artnet") == 0 &&
        strstr(msg, "127.0.0.1:0") != NULL)
        atomic_fetch_add(&e->warnings, 1);
    else
        atomic_fetch_add(&e->other, 1);
}

/* Operator events set on the clock reach the outputs it drives: a target
 * that fails every send is reported (at most once a second), output goes on. */
static void test_output_events_routed(void **state)
{
    hub_metrics_t *m = hub_metrics_new();
    hub_addr_t bad = rx_loopback_addr(0);
    hub_artnet_t *a;
    hub_frameclock_t *fc;
    struct evs ev = {0};
    char err[256] = "";
    hub_dmx_layers_t l;

    (void)state;
    hub_artnet_cfg_t ac = {.targets = &bad, .ntargets = 1};
    assert_int_equal(hub_artnet_new(&a, &ac, m, err, sizeof(err)), 0);
    hub_frameclock_cfg_t cfg = {.fps = 40, .keepalive_ms = 50, .ws_hz = 10, .artnet = a};
    assert_int_equal(hub_frameclock_new(&fc, &cfg, m), 0);
    hub_frameclock_set_events(fc, on_event, &ev);
    layers_manual(&l, 1);
    hub_frameclock_set_universe(fc, 1, &l);
    assert_int_equal(hub_frameclock_start(fc), 0);
    for (int i = 0; i < 400 && atomic_load(&ev.warnings) == 0; i++)
        rx_sleep_ms(5);
    rx_sleep_ms(300);
    hub_frameclock_stop(fc);
    assert_int_equal(atomic_load(&ev.warnings), 1);
    assert_int_equal(atomic_load(&ev.other), 0);
    assert_true(rx_metric(m, "dmx_output_errors_total{proto=\"artnet\"}") >= 4);
    hub_frameclock_free(fc);
    hub_artnet_free(a);
    hub_metrics_free(m);
}

/* Regression, fixed: frameclock.c:383 (tick) calls the frames sink that take_pending
 * copied out from under the mutex at the start of the tick (:264, :437),
 * so hub_frameclock_set_frames(fc, NULL, NULL, NULL) can return while the
 * output thread is about to call the old fn with the old ud. frameclock.h
 * says "Any thread: where frames for room "frames" go (fn NULL: nowhere)";
 * a caller that frees ud after unsetting gets a use after free (app.c is
 * safe today only because it frees the server after joining the clock).
 * The wanted() hook holds one tick until the test has unset the sink.
 * Expected: no call after set_frames(NULL) returned; actual: one. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int armed, inside, released;
    atomic_int unset;
    atomic_int calls, calls_after_unset;
};

static int gate_wanted(void *ud)
{
    struct gate *g = ud;
    struct timespec until;

    pthread_mutex_lock(&g->mu);
    if (g->armed) {
        g->armed = 0;
        g->inside = 1;
        pthread_cond_broadcast(&g->cv);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        while (!g->released)
            if (pthread_cond_timedwait(&g->cv, &g->mu, &until) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&g->mu);
    return 1;
}

static void gate_frames(void *ud, const int *universes, const uint8_t (*slots)[512], size_t n,
                        uint64_t ts_ms)
{
    struct gate *g = ud;
    atomic_fetch_add(&g->calls, 1);
    if (atomic_load(&g->unset))
        atomic_fetch_add(&g->calls_after_unset, 1);
}

static void test_frames_sink_not_called_after_unset(void **state)
{
    struct fix f;
    struct gate *g = calloc(1, sizeof(*g));
    struct timespec until;
    int inside;

    (void)state;
    assert_non_null(g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    fix_open(&f, WITH_ARTNET, 40, 1000, 100, HUB_TEST_CHASE); /* a changed frame every tick */
    set_clean(&f, 1);
    hub_frameclock_set_frames(f.fc, gate_frames, gate_wanted, g);
    fix_start(&f);
    for (int i = 0; i < 400 && atomic_load(&g->calls) < 2; i++)
        rx_sleep_ms(5);
    assert_true(atomic_load(&g->calls) >= 2);

    pthread_mutex_lock(&g->mu);
    g->armed = 1;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    while (!g->inside)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &until) == ETIMEDOUT)
            break;
    inside = g->inside;
    pthread_mutex_unlock(&g->mu);
    assert_true(inside); /* the output thread is in a tick, sink already taken */

    hub_frameclock_set_frames(f.fc, NULL, NULL, NULL);
    atomic_store(&g->unset, 1);
    pthread_mutex_lock(&g->mu);
    g->released = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    rx_sleep_ms(200);
    fix_stop(&f);
    fix_close(&f);
    int after = atomic_load(&g->calls_after_unset);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
    assert_int_equal(after, 0);
}

/* Regression, fixed: frameclock.c:301-306 send_sacn() counts dmx_output_frames_total{proto="sacn"}
 * for every universe, but hub_sacn_add drops universes outside 1..63999
 * (sacn.c:144: "if (universe < 1 || universe > HUB_SACN_MAX_UNIVERSE) return").
 * Such universes reach the clock: the implicit demo universe is
 * DMX_OLA_UNIVERSE, 0..2147483647 (patchfile.h, config.c). send_universe
 * already skips and does not count Art-Net universes without a
 * port-address; sACN has no such guard. Input: universes 0 and 64000 with
 * sACN. Expected: no sACN packet and the counters at 0 ("DMX frames
 * sent"); actual: no packet, counters > 0. */
static void test_sacn_frames_outside_1_63999_not_counted(void **state)
{
    struct fix f;
    double c0, c64000;

    (void)state;
    fix_open(&f, WITH_SACN, 40, 100, 10, HUB_TEST_OFF);
    set_manual(&f, 0, 1);
    set_manual(&f, 64000, 1);
    set_manual(&f, 1, 1); /* a universe sACN does carry, to know the clock ran */
    fix_start(&f);
    assert_true(wait_sacn(&f.sa, 1, 0, 2, 2000));
    rx_sleep_ms(300);
    fix_stop(&f);
    assert_int_equal(count_sacn(&f.sa, 0, 0) + count_sacn(&f.sa, 64000, 0), 0);
    c0 = rx_metric(f.m, "dmx_output_frames_total{proto=\"sacn\",universe=\"0\"}");
    c64000 = rx_metric(f.m, "dmx_output_frames_total{proto=\"sacn\",universe=\"64000\"}");
    assert_true(rx_metric(f.m, "dmx_output_frames_total{proto=\"sacn\",universe=\"1\"}") >= 2);
    fix_close(&f);
    if (c0 > 0 || c64000 > 0)
        fail_msg("dmx_output_frames_total{proto=\"sacn\"} counts %.0f frames for universe 0 and "
                 "%.0f for 64000; none were sent",
                 c0, c64000);
}

/* ---- show playback ------------------------------------------------------------------------ */

/* One fixture on universe 2 (slots 0-3: red green blue dimmer), a show
 * built in code: red fades 0 -> 255 over 4 s (linear), dimmer steps to 200
 * at 0, a sine on green (period 700 ms) all along. Every playback tick
 * (16.7 ms) moves red by about 1 and green by up to about 20, so a frame
 * tells which tick it shows. */
#define SHOW_FPS 60

static const hub_patch_fixture_t SHOW_PAR = {
    .name = "par",
    .universe = 2,
    .address = 1,
    .nch = 4,
    .roles = {HUB_ROLE_RED, HUB_ROLE_GREEN, HUB_ROLE_BLUE, HUB_ROLE_DIMMER}};

static const hub_patch_fixture_t *show_fixture(void *ud, const char *name)
{
    (void)ud;
    return strcmp(name, "par") == 0 ? &SHOW_PAR : NULL;
}

static const hub_show_patch_t SHOW_PATCH = {.fixture = show_fixture};

static hub_show_prog_t *show_prog(void)
{
    static hub_show_ident_t fx[] = {"par"};
    hub_show_value_t red = {.role = HUB_ROLE_RED, .value = 255};
    hub_show_value_t dim = {.role = HUB_ROLE_DIMMER, .value = 200};
    hub_show_cue_t cues[2] = {{.id = "fade",
                               .t_ms = 0,
                               .fade_ms = 4000,
                               .curve = HUB_CURVE_LINEAR,
                               .fixtures = fx,
                               .nfixtures = 1,
                               .values = &red,
                               .nvalues = 1},
                              {.id = "dim",
                               .t_ms = 0,
                               .curve = HUB_CURVE_STEP,
                               .fixtures = fx,
                               .nfixtures = 1,
                               .values = &dim,
                               .nvalues = 1}};
    hub_show_effect_t fxs = {.id = "wave",
                             .t_ms = 0,
                             .dur_ms = 20000,
                             .fixtures = fx,
                             .nfixtures = 1,
                             .effect = HUB_FX_SINE};
    hub_show_params_default(HUB_FX_SINE, &fxs.params);
    fxs.params.period_ms = 700;
    fxs.params.role = HUB_ROLE_GREEN;
    hub_show_t s = {.name = "code",
                    .duration_ms = 20000,
                    .cues = cues,
                    .ncues = 2,
                    .effects = &fxs,
                    .neffects = 1};
    size_t skipped = 99;
    hub_show_prog_t *p = hub_show_compile(&s, &SHOW_PATCH, &skipped);
    assert_int_equal(skipped, 0);
    return p;
}

/* The playback layer of universe 2 at show time t_us, as a frame (slots
 * the show does not set are 0). */
static void show_frame(const hub_show_prog_t *p, int64_t t_us, uint8_t out[512])
{
    uint8_t vals[512], set[512];
    hub_show_render_universe(p, NULL, 2, t_us, vals, set);
    for (int s = 0; s < 512; s++)
        out[s] = set[s] ? vals[s] : 0;
}

/* Art-Net only, output at fps, playback at SHOW_FPS (DMX_PLAYBACK_FPS). */
static void show_fix_open(struct fix *f, int fps)
{
    char err[256] = "";

    memset(f, 0, sizeof(*f));
    f->flags = WITH_ARTNET;
    f->m = hub_metrics_new();
    rx_open(&f->an);
    rx_open(&f->sa);
    rx_start(&f->an);
    rx_start(&f->sa);
    hub_artnet_cfg_t ac = {.targets = &f->an.addr, .ntargets = 1};
    assert_int_equal(hub_artnet_new(&f->artnet, &ac, f->m, err, sizeof(err)), 0);
    hub_frameclock_cfg_t cfg = {.fps = fps,
                                .keepalive_ms = 1000,
                                .ws_hz = 10,
                                .playback_fps = SHOW_FPS,
                                .artnet = f->artnet};
    assert_int_equal(hub_frameclock_new(&f->fc, &cfg, f->m), 0);
}

static hub_transport_t show_transport(int state, int64_t t_us, int rate_pm)
{
    hub_transport_t tr = {
        .state = state, .t_us = t_us, .mono_us = hub_mono_us(), .rate_pm = rate_pm};
    return tr;
}

/* Each frame of v[from..to) that arrived at or after since_us equals the
 * render of a tick of tr due at most one playback period plus one output
 * period before its arrival; the matched ticks never go back. Returns the
 * frames checked; *last_k gets the last frame's tick. */
static size_t check_frames_are_ticks(const frame_t *v, size_t n, uint64_t since_us,
                                     const hub_show_prog_t *p, const hub_transport_t *tr, int fps,
                                     uint64_t *last_k)
{
    uint64_t window = 1000000 / SHOW_FPS + 1000000 / (uint64_t)fps;
    int64_t dur = hub_show_prog_duration_us(p);
    uint64_t prev_k = 0;
    size_t checked = 0;
    uint8_t want[512];

    for (size_t i = 0; i < n; i++) {
        if (v[i].at_us < since_us)
            continue;
        uint64_t k = 0, match = UINT64_MAX;
        while (hub_transport_tick_mono(tr, k + 1, SHOW_FPS) <= v[i].at_us)
            k++; /* the newest tick due at the arrival */
        for (;; k--) {
            uint64_t due = hub_transport_tick_mono(tr, k, SHOW_FPS);
            if (due + window < v[i].at_us)
                break;
            show_frame(p, hub_transport_tick_time(tr, k, SHOW_FPS, dur), want);
            if (memcmp(want, v[i].data, 512) == 0) {
                match = k;
                break;
            }
            if (k == 0)
                break;
        }
        if (match == UINT64_MAX)
            fail_msg("frame %zu (arrived %llu us after the transport): red %u green %u dimmer %u "
                     "is no tick of the last %llu us",
                     i, (unsigned long long)(v[i].at_us - tr->mono_us), v[i].data[0], v[i].data[1],
                     v[i].data[3], (unsigned long long)window);
        if (match < prev_k)
            fail_msg("frame %zu shows tick %llu after tick %llu", i, (unsigned long long)match,
                     (unsigned long long)prev_k);
        prev_k = match;
        checked++;
    }
    *last_k = prev_k;
    return checked;
}

/* The output thread plays the show: every ArtDmx frame of universe 2 is
 * the render of a recent playback tick (hub_show_render_universe of that
 * tick's show time), before and after a new transport (a jump at twice the
 * speed). */
static void test_show_playback_frames_are_rendered_ticks(void **state)
{
    struct fix f;
    frame_t *v;
    size_t n, checked;
    uint64_t last_k;
    const int fps = 40;

    (void)state;
    show_fix_open(&f, fps);
    set_clean(&f, 2);
    hub_show_prog_t *p = show_prog();
    hub_frameclock_set_show(f.fc, hub_show_prog_ref(p));
    hub_transport_t tr = show_transport(HUB_TRANSPORT_PLAYING, 0, HUB_RATE_ONE);
    hub_frameclock_set_transport(f.fc, &tr);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 2, 16, 3000));
    rx_sleep_ms(200);

    /* a jump to 10 s at twice the speed */
    uint64_t jump_at = hub_mono_us();
    hub_transport_t tr2 = show_transport(HUB_TRANSPORT_PLAYING, 10000000, 2000);
    hub_frameclock_set_transport(f.fc, &tr2);
    size_t before = count_artdmx(&f.an, 2);
    assert_true(wait_artdmx(&f.an, 2, before + 16, 3000));
    fix_stop(&f);

    n = artdmx_frames(&f.an, 2, &v);
    assert_true(n >= 33);
    assert_true(all_zero(v[n - 1].data, 512)); /* the blackout at stop */
    n--;
    /* Before the jump (frames that arrived before it: they were sent before). */
    size_t first = 0;
    for (size_t i = 0; i < n && v[i].at_us < jump_at; i++)
        first = i + 1;
    checked = check_frames_are_ticks(v, first, 0, p, &tr, fps, &last_k);
    assert_true(checked >= 16);
    assert_true(last_k >= 20); /* the show moved: over a third of a second of ticks */
    assert_true(v[first - 1].data[0] > v[0].data[0]);
    assert_int_equal(v[0].data[3], 200);
    /* After it: the hand-over takes at most a wake-up of the output thread. */
    uint64_t since = jump_at + 1000000 / SHOW_FPS + 1000000 / (uint64_t)fps;
    checked = check_frames_are_ticks(v, n, since, p, &tr2, fps, &last_k);
    assert_true(checked >= 10);
    assert_true(last_k >= 10);
    free(v);
    fix_close(&f);
    hub_show_prog_unref(p);
}

/* The newest ArtDmx frame of universe equals want, within max_ms. */
static bool wait_frame(struct fix *f, int universe, const uint8_t want[512], unsigned max_ms)
{
    uint64_t end = hub_mono_us() + (uint64_t)max_ms * 1000;
    for (;;) {
        frame_t *v;
        size_t n = artdmx_frames(&f->an, universe, &v);
        bool same = n > 0 && memcmp(v[n - 1].data, want, 512) == 0;
        free(v);
        if (same)
            return true;
        if (hub_mono_us() >= end)
            return false;
        rx_sleep_ms(5);
    }
}

/* Precedence on the wire, with the show paused at 2 s (a fixed look):
 * manual beats playback, a preview beats manual, blackout (off) beats
 * everything; stopped, the playback layer is gone. */
static void test_show_layers_precedence(void **state)
{
    struct fix f;
    hub_dmx_layers_t l;
    uint8_t look[512], want[512];

    (void)state;
    show_fix_open(&f, 40);
    set_clean(&f, 2);
    hub_show_prog_t *p = show_prog();
    show_frame(p, 2000000, look);
    assert_int_equal(look[0], 128); /* 255 * 2/4 = 127.5 */
    assert_int_equal(look[3], 200);
    hub_frameclock_set_show(f.fc, p); /* the clock's reference now */
    hub_transport_t tr = show_transport(HUB_TRANSPORT_PAUSED, 2000000, HUB_RATE_ONE);
    hub_frameclock_set_transport(f.fc, &tr);
    fix_start(&f);
    assert_true(wait_frame(&f, 2, look, 2000));

    /* manual red 77 beats playback; the rest still plays */
    memset(&l, 0, sizeof(l));
    l.manual[0] = 77;
    l.manual_set[0] = 1;
    hub_frameclock_set_universe(f.fc, 2, &l);
    memcpy(want, look, 512);
    want[0] = 77;
    assert_true(wait_frame(&f, 2, want, 2000));

    /* a preview (pulse, min = max = 33, on red) beats manual */
    hub_show_effect_t pe = {.id = "p1",
                            .t_ms = 0,
                            .dur_ms = 60000,
                            .fixtures = (hub_show_ident_t[]){"par"},
                            .nfixtures = 1,
                            .effect = HUB_FX_PULSE};
    hub_show_params_default(HUB_FX_PULSE, &pe.params);
    pe.params.role = HUB_ROLE_RED;
    pe.params.min = pe.params.max = 33;
    hub_show_preview_def_t def = {.effect = &pe, .start_mono_us = hub_mono_us()};
    hub_show_previews_t *pv = hub_show_previews_compile(&def, 1, &SHOW_PATCH);
    assert_non_null(pv);
    hub_frameclock_set_previews(f.fc, pv);
    want[0] = 33;
    assert_true(wait_frame(&f, 2, want, 2000));

    /* blackout (off on every slot) beats everything */
    memset(l.off, 1, sizeof(l.off));
    hub_frameclock_set_universe(f.fc, 2, &l);
    memset(want, 0, 512);
    assert_true(wait_frame(&f, 2, want, 2000));

    /* off again: the preview is back; previews gone: manual; */
    memset(l.off, 0, sizeof(l.off));
    hub_frameclock_set_universe(f.fc, 2, &l);
    memcpy(want, look, 512);
    want[0] = 33;
    assert_true(wait_frame(&f, 2, want, 2000));
    hub_frameclock_set_previews(f.fc, NULL);
    want[0] = 77;
    assert_true(wait_frame(&f, 2, want, 2000));

    /* stopped: no playback layer, only the manual value */
    tr = show_transport(HUB_TRANSPORT_STOPPED, 0, HUB_RATE_ONE);
    hub_frameclock_set_transport(f.fc, &tr);
    memset(want, 0, 512);
    want[0] = 77;
    assert_true(wait_frame(&f, 2, want, 2000));
    /* and it stays so */
    size_t n0 = count_artdmx(&f.an, 2);
    rx_sleep_ms(200);
    assert_int_equal(count_artdmx(&f.an, 2), n0); /* unchanged: nothing sent (keep-alive 1 s) */
    fix_stop(&f);
    fix_close(&f);
}

/* show_playback_ticks_total grows at DMX_PLAYBACK_FPS (60) while the
 * output runs at its own rate (40), and stops when the show stops. */
static void test_show_playback_tick_rate(void **state)
{
    struct fix f;

    (void)state;
    show_fix_open(&f, 40);
    set_clean(&f, 2);
    assert_int_equal(rx_metric(f.m, "show_playback_ticks_total"), 0);
    hub_frameclock_set_show(f.fc, show_prog());
    hub_transport_t tr = show_transport(HUB_TRANSPORT_PLAYING, 0, HUB_RATE_ONE);
    hub_frameclock_set_transport(f.fc, &tr);
    fix_start(&f);
    assert_true(wait_artdmx(&f.an, 2, 2, 2000));
    rx_sleep_ms(100);
    uint64_t t0 = hub_mono_us();
    double a = rx_metric(f.m, "show_playback_ticks_total");
    rx_sleep_ms(1000);
    double b = rx_metric(f.m, "show_playback_ticks_total");
    double secs = (double)(hub_mono_us() - t0) / 1e6;
    double rate = (b - a) / secs;
    if (rate < 40 || rate > 80)
        fail_msg("%.1f playback ticks a second at DMX_PLAYBACK_FPS 60, want 40..80", rate);
    double fps = rx_metric(f.m, "dmx_output_fps");
    if (fps < 20 || fps > 60)
        fail_msg("dmx_output_fps %.1f with output at 40 fps, want 20..60", fps);
    /* frames at the output rate, not the playback rate */
    size_t frames = count_artdmx_between(&f.an, 2, t0, t0 + 1000000);
    if (frames < 20 || frames > 50)
        fail_msg("%zu frames in 1 s at 40 fps output, want 20..50", frames);

    /* stopped: no more ticks */
    tr = show_transport(HUB_TRANSPORT_STOPPED, 0, HUB_RATE_ONE);
    hub_frameclock_set_transport(f.fc, &tr);
    rx_sleep_ms(100);
    a = rx_metric(f.m, "show_playback_ticks_total");
    rx_sleep_ms(300);
    assert_true(rx_metric(f.m, "show_playback_ticks_total") == a);
    fix_stop(&f);
    fix_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_named_hub_output),
        cmocka_unit_test(test_stop_and_free_without_start),
        cmocka_unit_test(test_rate_40fps),
        cmocka_unit_test(test_chase_moves_every_slot_every_tick),
        cmocka_unit_test(test_change_sent_once),
        cmocka_unit_test(test_keepalive_resends_unchanged_frame),
        cmocka_unit_test(test_sequence_numbers_per_universe),
        cmocka_unit_test(test_stop_sends_blackout_then_terminates),
        cmocka_unit_test(test_free_while_running_blacks_out),
        cmocka_unit_test(test_removed_universe_stream_terminated),
        cmocka_unit_test(test_ws_frames_at_most_ws_hz),
        cmocka_unit_test(test_ws_frames_changed_wanted_refresh),
        cmocka_unit_test(test_metrics_move),
        cmocka_unit_test(test_late_ticks_counted_skipped),
        cmocka_unit_test(test_artpoll_answered_while_running),
        cmocka_unit_test(test_sacn_discovery_lists_universes),
        cmocka_unit_test(test_universe_beyond_artnet_sacn_only),
        cmocka_unit_test(test_output_events_routed),
        cmocka_unit_test(test_frames_sink_not_called_after_unset),
        cmocka_unit_test(test_sacn_frames_outside_1_63999_not_counted),
        cmocka_unit_test(test_show_playback_frames_are_rendered_ticks),
        cmocka_unit_test(test_show_layers_precedence),
        cmocka_unit_test(test_show_playback_tick_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
