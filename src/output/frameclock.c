/* output/frameclock.c - the output thread (see frameclock.h).
 *
 * Hand-over: the loop thread copies a universe's new layers into a pending
 * slot under `mu` (a 1.5 KB memcpy, never I/O); the output thread takes the
 * pending slots at the start of each tick. Everything else here is the
 * output thread's alone.
 */
#include "output/frameclock.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "engine/domain.h"
#include "output/artnet_pkt.h"
#include "output/sacn_pkt.h"

#define DISCOVERY_US 10000000u /* E1.31 8: universe discovery every 10 s */
#define TERMINATE_N  3         /* E1.31 6.7.1: three Stream_Terminated packets */

typedef struct pend {
    int universe;
    int dirty;
    int removed;
    hub_dmx_layers_t layers;
    hub_metric_t *m_artnet, *m_sacn, *m_ola;
} pend_t;

typedef struct uni {
    int universe;
    hub_dmx_layers_t layers;
    uint8_t out[512], sent[512];
    int has_sent;
    uint64_t sent_at_us; /* last Art-Net/sACN send */
    uint64_t ws_next_us; /* room "frames": the next frame is due from here */
    int ws_dirty;        /* changed since */
    uint8_t artnet_seq, sacn_seq;
    int sacn_repeat; /* sACN packets still due with unchanged data (E1.31 6.6.1) */
    hub_metric_t *m_artnet, *m_sacn, *m_ola;
} uni_t;

/* The loop thread's record of universes it registered counters for. */
typedef struct known {
    int universe;
    hub_metric_t *m_artnet, *m_sacn, *m_ola;
} known_t;

struct hub_frameclock {
    hub_frameclock_cfg_t cfg;
    hub_metrics_t *metrics;
    pthread_t thread;
    int started;
    atomic_int tid;
    atomic_int ws_refresh; /* a session joined room "frames": send every universe */
    pthread_mutex_t mu;
    pend_t *pend; /* mu */
    size_t npend, cappend;
    int stop;             /* mu */
    hub_frames_fn frames; /* mu */
    hub_frames_wanted_fn frames_wanted;
    void *frames_ud;
    int frames_busy;            /* the output thread holds a copy of frames (mu) */
    pthread_cond_t frames_idle; /* signalled when frames_busy drops */
    pthread_cond_t wake;        /* monotonic: a playback hand-over wakes the thread */
    int woken;                  /* mu */
    hub_output_event_fn event;
    void *event_ud;
    known_t *known; /* loop thread */
    size_t nknown;
    /* Output thread. */
    uni_t **unis; /* ascending universe */
    size_t nunis, capunis;
    int *list; /* universe numbers, for discovery and ArtPoll */
    uint64_t tick;
    uint8_t ones[512]; /* the test pattern holds every slot */
    hub_metric_t *m_late, *m_fps, *m_skipped;
    hub_tally_t late;
    /* Show playback: handed over under mu, played by the output thread. */
    hub_show_prog_t *pend_prog; /* mu */
    hub_show_previews_t *pend_pv;
    hub_transport_t pend_tr;
    int pend_prog_set, pend_pv_set, pend_tr_set;
    hub_player_t *player; /* output thread */
    hub_show_previews_t *pv;
    uint8_t pv_vals[512], pv_set[512]; /* scratch of render() */
    hub_metric_t *m_play_late, *m_play_ticks, *m_play_missed, *m_handover;
    hub_metric_t *m_stream_hash, *m_stream_ticks, *m_last_hash, *m_last_ticks;
    hub_tally_t play_late;
    uint64_t stream_hash, stream_ticks; /* since the transport was set */
};

static const double late_bounds[] = {0.00005, 0.0001, 0.0002, 0.0003, 0.0005,
                                     0.001,   0.002,  0.005,  0.01,   0.05};

int hub_frameclock_new(hub_frameclock_t **out, const hub_frameclock_cfg_t *cfg,
                       hub_metrics_t *metrics)
{
    hub_frameclock_t *fc = hub_calloc(1, sizeof(*fc));

    fc->cfg = *cfg;
    if (fc->cfg.fps < 1)
        fc->cfg.fps = 1;
    if (fc->cfg.ws_hz < 1)
        fc->cfg.ws_hz = 1;
    fc->metrics = metrics;
    memset(fc->ones, 1, sizeof(fc->ones));
    pthread_mutex_init(&fc->mu, NULL);
    pthread_cond_init(&fc->frames_idle, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fc->wake, &ca);
    pthread_condattr_destroy(&ca);
    fc->m_late = hub_metrics_histogram(metrics, "dmx_output_tick_lateness_seconds",
                                       "How late the output clock woke for each tick", late_bounds,
                                       sizeof(late_bounds) / sizeof(late_bounds[0]));
    fc->m_fps = hub_metrics_gauge(metrics, "dmx_output_fps", "Output ticks in the last second");
    fc->m_skipped = hub_metrics_counter(metrics, "dmx_output_ticks_skipped_total",
                                        "Ticks not run because the clock was a whole period late");
    hub_tally_init(&fc->late, fc->m_late);
    fc->player = hub_player_new(fc->cfg.playback_fps > 0 ? fc->cfg.playback_fps : 60);
    fc->m_play_late =
        hub_metrics_histogram(metrics, "show_playback_tick_lateness_seconds",
                              "How late each show playback tick rendered (DMX_PLAYBACK_FPS ticks)",
                              late_bounds, sizeof(late_bounds) / sizeof(late_bounds[0]));
    fc->m_play_ticks =
        hub_metrics_counter(metrics, "show_playback_ticks_total", "Show playback ticks rendered");
    fc->m_play_missed = hub_metrics_counter(
        metrics, "show_playback_ticks_missed_total",
        "Show playback ticks not rendered because the clock was more than a tick late");
    fc->m_handover =
        hub_metrics_histogram(metrics, "show_transport_handover_seconds",
                              "From a transport change's apply to its first rendered tick",
                              late_bounds, sizeof(late_bounds) / sizeof(late_bounds[0]));
    fc->m_stream_hash = hub_metrics_gauge(
        metrics, "show_playback_stream_hash",
        "Hash (52 bits) of every playback tick's show time and frames since the last transport "
        "change: equal runs of a show give equal hashes");
    fc->m_stream_ticks = hub_metrics_gauge(metrics, "show_playback_stream_ticks",
                                           "Playback ticks in show_playback_stream_hash");
    fc->m_last_hash = hub_metrics_gauge(
        metrics, "show_playback_last_stream_hash",
        "show_playback_stream_hash of the stream before the current one (written once, when "
        "the transport changed: a play to the end reads here after the end's pause)");
    fc->m_last_ticks = hub_metrics_gauge(metrics, "show_playback_last_stream_ticks",
                                         "Playback ticks in show_playback_last_stream_hash");
    hub_tally_init(&fc->play_late, fc->m_play_late);
    *out = fc;
    return 0;
}

/* ---- hand-over (loop thread) ----------------------------------------------------- */

static hub_metric_t *counter(hub_frameclock_t *fc, const char *proto, int universe)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "proto=\"%s\",universe=\"%d\"", proto, universe);
    return hub_metrics_counter_labeled(fc->metrics, "dmx_output_frames_total",
                                       "DMX frames sent, per protocol and universe", labels);
}

static const known_t *know(hub_frameclock_t *fc, int universe)
{
    for (size_t i = 0; i < fc->nknown; i++)
        if (fc->known[i].universe == universe)
            return &fc->known[i];
    fc->known = hub_realloc(fc->known, (fc->nknown + 1) * sizeof(*fc->known));
    known_t *k = &fc->known[fc->nknown++];
    k->universe = universe;
    k->m_artnet = fc->cfg.artnet ? counter(fc, "artnet", universe) : NULL;
    k->m_sacn = fc->cfg.sacn ? counter(fc, "sacn", universe) : NULL;
    k->m_ola = fc->cfg.ola ? counter(fc, "ola", universe) : NULL;
    return k;
}

void hub_frameclock_set_universe(hub_frameclock_t *fc, int universe, const hub_dmx_layers_t *layers)
{
    const known_t *k = layers ? know(fc, universe) : NULL;
    pend_t *p = NULL;

    pthread_mutex_lock(&fc->mu);
    for (size_t i = 0; i < fc->npend && p == NULL; i++)
        if (fc->pend[i].universe == universe)
            p = &fc->pend[i];
    if (p == NULL) {
        if (fc->npend == fc->cappend) {
            fc->cappend = fc->cappend ? fc->cappend * 2 : 16;
            fc->pend = hub_realloc(fc->pend, fc->cappend * sizeof(*fc->pend));
        }
        p = &fc->pend[fc->npend++];
        memset(p, 0, sizeof(*p));
        p->universe = universe;
    }
    p->dirty = 1;
    p->removed = layers == NULL;
    if (layers != NULL) {
        p->layers = *layers;
        p->m_artnet = k->m_artnet;
        p->m_sacn = k->m_sacn;
        p->m_ola = k->m_ola;
    }
    pthread_mutex_unlock(&fc->mu);
}

void hub_frameclock_set_frames(hub_frameclock_t *fc, hub_frames_fn fn, hub_frames_wanted_fn wanted,
                               void *ud)
{
    pthread_mutex_lock(&fc->mu);
    fc->frames = fn;
    fc->frames_wanted = wanted;
    fc->frames_ud = ud;
    /* Once this returns the old sink is not called again, so its ud may be
     * freed: wait out a tick that holds a copy (not from the sink itself). */
    while (fc->frames_busy && !(fc->started && pthread_equal(pthread_self(), fc->thread)))
        pthread_cond_wait(&fc->frames_idle, &fc->mu);
    pthread_mutex_unlock(&fc->mu);
}

void hub_frameclock_set_show(hub_frameclock_t *fc, hub_show_prog_t *prog)
{
    hub_frameclock_set_playback(fc, 1, prog, NULL);
}

void hub_frameclock_set_transport(hub_frameclock_t *fc, const hub_transport_t *tr)
{
    hub_frameclock_set_playback(fc, 0, NULL, tr);
}

void hub_frameclock_set_playback(hub_frameclock_t *fc, int has_prog, hub_show_prog_t *prog,
                                 const hub_transport_t *tr)
{
    hub_show_prog_t *old = NULL;
    pthread_mutex_lock(&fc->mu);
    if (has_prog) {
        old = fc->pend_prog_set ? fc->pend_prog : NULL;
        fc->pend_prog = prog;
        fc->pend_prog_set = 1;
    }
    if (tr != NULL) {
        fc->pend_tr = *tr;
        fc->pend_tr_set = 1;
    }
    /* Tick 0 of a transport is due now: do not let it wait for the next
     * output tick (up to 1/DMX_OUTPUT_FPS away, more than a playback tick). */
    fc->woken = 1;
    pthread_cond_signal(&fc->wake);
    pthread_mutex_unlock(&fc->mu);
    hub_show_prog_unref(old); /* never taken: the output thread did not see it */
}

void hub_frameclock_set_previews(hub_frameclock_t *fc, hub_show_previews_t *pv)
{
    hub_show_previews_t *old;
    pthread_mutex_lock(&fc->mu);
    old = fc->pend_pv_set ? fc->pend_pv : NULL;
    fc->pend_pv = pv;
    fc->pend_pv_set = 1;
    pthread_mutex_unlock(&fc->mu);
    hub_show_previews_unref(old);
}

/* Output thread: what the loop thread handed over for playback. The old
 * program and previews are released after the lock. */
static void take_show(hub_frameclock_t *fc)
{
    hub_show_prog_t *prog = NULL;
    hub_show_previews_t *pv = NULL, *old_pv = NULL;
    hub_transport_t tr;
    int has_prog, has_pv, has_tr;

    pthread_mutex_lock(&fc->mu);
    has_prog = fc->pend_prog_set;
    has_pv = fc->pend_pv_set;
    has_tr = fc->pend_tr_set;
    prog = fc->pend_prog;
    pv = fc->pend_pv;
    tr = fc->pend_tr;
    fc->pend_prog = NULL;
    fc->pend_pv = NULL;
    fc->pend_prog_set = fc->pend_pv_set = fc->pend_tr_set = 0;
    pthread_mutex_unlock(&fc->mu);
    if (has_prog)
        hub_player_set_prog(fc->player, prog);
    if (has_tr)
        hub_player_set_transport(fc->player, &tr);
    if (has_pv) {
        old_pv = fc->pv;
        fc->pv = pv;
        hub_show_previews_unref(old_pv);
    }
}

/* The determinism check: fold the tick's show time and every universe's
 * playback layer into a running hash (hub_hash: a few GB/s, so 64
 * universes at 60 ticks a second cost well under 1 % of a core). */
static void stream_fold(hub_frameclock_t *fc, int first)
{
    int64_t t = hub_player_last_time(fc->player);
    uint8_t buf[1024];

    if (first) {
        if (fc->stream_ticks > 0) {
            hub_metric_set(fc->m_last_hash, (double)(fc->stream_hash & ((1ULL << 52) - 1)));
            hub_metric_set(fc->m_last_ticks, (double)fc->stream_ticks);
        }
        fc->stream_hash = 0;
        fc->stream_ticks = 0;
    }
    fc->stream_hash = hub_hash_seeded(fc->stream_hash, &t, sizeof(t));
    for (size_t i = 0; i < fc->nunis; i++) {
        const uint8_t *vals, *set;
        if (!hub_player_layer(fc->player, fc->unis[i]->universe, &vals, &set))
            continue;
        memcpy(buf, vals, 512);
        memcpy(buf + 512, set, 512);
        fc->stream_hash = hub_hash_seeded(fc->stream_hash, buf, sizeof(buf));
    }
    fc->stream_ticks++;
    hub_metric_set(fc->m_stream_hash, (double)(fc->stream_hash & ((1ULL << 52) - 1)));
    hub_metric_set(fc->m_stream_ticks, (double)fc->stream_ticks);
}

/* Output thread: render the playback tick that is due, if one is. */
static void play_tick(hub_frameclock_t *fc, uint64_t now)
{
    uint64_t late = 0, skipped = 0;
    uint64_t before = hub_player_ticks(fc->player);

    if (!hub_player_tick(fc->player, now, &late, &skipped))
        return;
    hub_metric_inc(fc->m_play_ticks);
    stream_fold(fc, before == 0);
    if (skipped > 0)
        hub_metric_add(fc->m_play_missed, skipped);
    /* The first tick of a transport waits for the hand-over (the commit):
     * that is not the clock being late. */
    if (before == 0)
        hub_metric_observe(fc->m_handover, (double)late / 1e6);
    else
        hub_tally_observe(&fc->play_late, (double)late / 1e6);
}

/* The tick is done with its copy of the frames sink. */
static void frames_release(hub_frameclock_t *fc)
{
    pthread_mutex_lock(&fc->mu);
    fc->frames_busy = 0;
    pthread_cond_broadcast(&fc->frames_idle);
    pthread_mutex_unlock(&fc->mu);
}

void hub_frameclock_set_events(hub_frameclock_t *fc, hub_output_event_fn fn, void *ud)
{
    fc->event = fn;
    fc->event_ud = ud;
    if (fc->cfg.artnet)
        hub_artnet_set_events(fc->cfg.artnet, fn, ud);
    if (fc->cfg.sacn)
        hub_sacn_set_events(fc->cfg.sacn, fn, ud);
}

/* ---- the output thread ---------------------------------------------------------- */

static long find_uni(const hub_frameclock_t *fc, int universe)
{
    size_t lo = 0, hi = fc->nunis;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (fc->unis[mid]->universe == universe)
            return (long)mid;
        if (fc->unis[mid]->universe < universe)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

static void rebuild_list(hub_frameclock_t *fc)
{
    hub_free(fc->list);
    fc->list = hub_malloc((fc->nunis ? fc->nunis : 1) * sizeof(int));
    for (size_t i = 0; i < fc->nunis; i++)
        fc->list[i] = fc->unis[i]->universe;
}

static void terminate(hub_frameclock_t *fc, uni_t *u)
{
    if (fc->cfg.sacn == NULL || !u->has_sent)
        return;
    for (int i = 0; i < TERMINATE_N; i++)
        hub_sacn_add(fc->cfg.sacn, u->universe, ++u->sacn_seq, HUB_SACN_OPT_TERMINATED, u->sent);
    hub_sacn_flush(fc->cfg.sacn);
}

/* Take what the loop thread handed over. */
static void take_pending(hub_frameclock_t *fc, hub_frames_fn *frames, hub_frames_wanted_fn *wanted,
                         void **frames_ud)
{
    int changed = 0;
    uni_t **gone = NULL; /* terminated after the lock: no I/O under it */
    size_t ngone = 0;

    pthread_mutex_lock(&fc->mu);
    for (size_t i = 0; i < fc->npend; i++) {
        pend_t *p = &fc->pend[i];
        if (!p->dirty)
            continue;
        p->dirty = 0;
        long at = find_uni(fc, p->universe);
        if (p->removed) {
            if (at >= 0) {
                gone = hub_realloc(gone, (ngone + 1) * sizeof(*gone));
                gone[ngone++] = fc->unis[at];
                memmove(&fc->unis[at], &fc->unis[at + 1],
                        (fc->nunis - (size_t)at - 1) * sizeof(*fc->unis));
                fc->nunis--;
                changed = 1;
            }
            continue;
        }
        if (at < 0) {
            size_t pos = (size_t)(-at - 1);
            if (fc->nunis == fc->capunis) {
                fc->capunis = fc->capunis ? fc->capunis * 2 : 16;
                fc->unis = hub_realloc(fc->unis, fc->capunis * sizeof(*fc->unis));
            }
            memmove(&fc->unis[pos + 1], &fc->unis[pos], (fc->nunis - pos) * sizeof(*fc->unis));
            uni_t *u = hub_calloc(1, sizeof(*u));
            u->universe = p->universe;
            fc->unis[pos] = u;
            fc->nunis++;
            at = (long)pos;
            changed = 1;
        }
        uni_t *u = fc->unis[at];
        u->layers = p->layers;
        u->m_artnet = p->m_artnet;
        u->m_sacn = p->m_sacn;
        u->m_ola = p->m_ola;
    }
    *frames = fc->frames;
    *wanted = fc->frames_wanted;
    *frames_ud = fc->frames_ud;
    fc->frames_busy = fc->frames != NULL;
    pthread_mutex_unlock(&fc->mu);
    for (size_t i = 0; i < ngone; i++) {
        terminate(fc, gone[i]);
        hub_free(gone[i]);
    }
    hub_free(gone);
    if (changed)
        rebuild_list(fc);
}

/* Every slot of every universe moves every tick: for checking a rig's
 * cabling, and for measuring the outputs at full load. */
static void test_pattern(uint64_t tick, int universe, uint8_t out[512])
{
    for (int s = 0; s < 512; s++)
        out[s] = (uint8_t)(tick * 3 + (uint64_t)s + (uint64_t)universe * 7);
}

static void render(hub_frameclock_t *fc, uni_t *u, uint64_t now)
{
    uint8_t play[512];
    hub_dmx_merge_in_t in = {
        .off = u->layers.off, .manual = u->layers.manual, .manual_set = u->layers.manual_set};

    if (fc->cfg.test_pattern == HUB_TEST_CHASE) {
        test_pattern(fc->tick, u->universe, play);
        in.playback = play;
        in.playback_set = fc->ones;
    } else if (!hub_player_layer(fc->player, u->universe, &in.playback, &in.playback_set)) {
        in.playback = NULL;
    }
    if (fc->pv != NULL &&
        hub_show_previews_render(fc->pv, u->universe, now, fc->pv_vals, fc->pv_set)) {
        in.preview = fc->pv_vals;
        in.preview_set = fc->pv_set;
    }
    hub_dmx_merge(&in, u->out);
}

static void send_sacn(hub_frameclock_t *fc, uni_t *u, const uint8_t *slots)
{
    /* sACN universes are 1..63999 (E1.31 9.1.1); the demo universe
     * (DMX_OLA_UNIVERSE) may lie outside: not sent, not counted. */
    if (fc->cfg.sacn && u->universe >= 1 && u->universe <= 63999) {
        hub_sacn_add(fc->cfg.sacn, u->universe, ++u->sacn_seq, 0, slots);
        if (u->m_sacn)
            hub_metric_inc(u->m_sacn);
    }
}

static void send_universe(hub_frameclock_t *fc, uni_t *u, const uint8_t *slots, uint64_t now)
{
    /* Universes above 32768 have no Port-Address: not sent, not counted. */
    if (fc->cfg.artnet && hub_artnet_port_address(u->universe) >= 0) {
        if (++u->artnet_seq == 0) /* 0 means "no sequencing" to receivers */
            u->artnet_seq = 1;
        hub_artnet_add(fc->cfg.artnet, u->universe, u->artnet_seq, slots);
        if (u->m_artnet)
            hub_metric_inc(u->m_artnet);
    }
    send_sacn(fc, u, slots);
    u->sent_at_us = now;
}

static void tick(hub_frameclock_t *fc, uint64_t now, hub_frames_fn frames,
                 hub_frames_wanted_fn wanted, void *frames_ud, uint64_t *discovery_at)
{
    uint64_t keep_us = (uint64_t)fc->cfg.keepalive_ms * 1000;
    /* Frames follow an ideal schedule (not "a full interval since the last
     * one", which at 44 Hz sends every other tick: 22 a second). Its interval
     * is stretched by one output period over the second, so that sends, each
     * at most a period after its slot, never put more than ws_hz into any
     * one-second window: about 29.3 a second at 44 Hz and 30 asked. */
    uint64_t period_us = 1000000u / (uint64_t)fc->cfg.fps;
    uint64_t ws_us = (1000000u + period_us) / (uint64_t)fc->cfg.ws_hz + 1;
    size_t nws = 0;
    int *wsu = NULL;
    uint8_t(*wss)[512] = NULL;
    int want_ws = frames != NULL && (wanted == NULL || wanted(frames_ud));

    if (want_ws && atomic_exchange(&fc->ws_refresh, 0))
        for (size_t i = 0; i < fc->nunis; i++)
            fc->unis[i]->ws_dirty = 1;

    for (size_t i = 0; i < fc->nunis; i++) {
        uni_t *u = fc->unis[i];
        render(fc, u, now);
        int changed = !u->has_sent || memcmp(u->out, u->sent, 512) != 0;
        if (changed || now - u->sent_at_us >= keep_us) {
            send_universe(fc, u, u->out, now);
            /* E1.31 6.6.1: three packets of the final data before the rate
             * drops to keep-alives, so one lost packet is not a second of
             * wrong light. */
            u->sacn_repeat = changed ? 2 : 0;
        } else if (u->sacn_repeat > 0) {
            send_sacn(fc, u, u->out);
            u->sacn_repeat--;
        }
        if (changed) {
            memcpy(u->sent, u->out, 512);
            u->has_sent = 1;
            u->ws_dirty = 1;
            if (fc->cfg.ola)
                hub_ola_set_universe_frame(fc->cfg.ola, u->universe, u->out, 512, u->m_ola);
        }
        if (want_ws && u->ws_dirty && now >= u->ws_next_us) {
            if (wsu == NULL) {
                wsu = hub_malloc(fc->nunis * sizeof(*wsu));
                wss = hub_malloc(fc->nunis * sizeof(*wss));
            }
            wsu[nws] = u->universe;
            memcpy(wss[nws], u->out, 512);
            nws++;
            u->ws_dirty = 0;
            /* On schedule unless a slot was missed (idle, or unchanged):
             * then the schedule starts again from now. */
            u->ws_next_us = now - u->ws_next_us < ws_us ? u->ws_next_us + ws_us : now + ws_us;
        }
    }
    if (fc->cfg.artnet) {
        hub_artnet_flush(fc->cfg.artnet);
        hub_artnet_poll(fc->cfg.artnet, fc->list, fc->nunis);
    }
    if (fc->cfg.sacn) {
        hub_sacn_flush(fc->cfg.sacn);
        if (now >= *discovery_at) {
            hub_sacn_discovery(fc->cfg.sacn, fc->list, fc->nunis);
            *discovery_at = now + DISCOVERY_US;
        }
    }
    if (nws > 0)
        frames(frames_ud, wsu, (const uint8_t(*)[512])wss, nws, hub_wall_ms());
    hub_free(wsu);
    hub_free(wss);
}

/* Zeros on every output, then the end of every sACN stream. */
static void blackout(hub_frameclock_t *fc)
{
    static const uint8_t zeros[512];
    uint64_t now = hub_mono_us();

    for (size_t i = 0; i < fc->nunis; i++) {
        uni_t *u = fc->unis[i];
        send_universe(fc, u, zeros, now);
        memset(u->sent, 0, sizeof(u->sent));
        u->has_sent = 1;
        if (fc->cfg.ola)
            hub_ola_set_universe_frame(fc->cfg.ola, u->universe, zeros, 512, u->m_ola);
    }
    if (fc->cfg.artnet)
        hub_artnet_flush(fc->cfg.artnet);
    if (fc->cfg.sacn)
        hub_sacn_flush(fc->cfg.sacn);
    for (size_t i = 0; i < fc->nunis; i++)
        terminate(fc, fc->unis[i]);
    hub_log(HUB_LOG_INFO, "output_blackout", "{s:I,s:b,s:b}", "universes", (json_int_t)fc->nunis,
            "artnet", fc->cfg.artnet != NULL, "sacn", fc->cfg.sacn != NULL);
}

/* Until us (monotonic) or a playback hand-over, whichever comes first. */
static void sleep_until(hub_frameclock_t *fc, uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000};
    pthread_mutex_lock(&fc->mu);
    while (!fc->woken)
        if (pthread_cond_timedwait(&fc->wake, &fc->mu, &ts) == ETIMEDOUT)
            break;
    fc->woken = 0;
    pthread_mutex_unlock(&fc->mu);
}

/* One output tick: send the latest render of every universe. */
static void send_tick(hub_frameclock_t *fc, uint64_t now, uint64_t *discovery_at)
{
    hub_frames_fn frames;
    hub_frames_wanted_fn wanted;
    void *frames_ud;

    take_pending(fc, &frames, &wanted, &frames_ud);
    tick(fc, now, frames, wanted, frames_ud, discovery_at);
    frames_release(fc);
    fc->tick++;
}

/* Two schedules on one thread: output ticks every 1/DMX_OUTPUT_FPS, and,
 * while a show plays, playback ticks every 1/DMX_PLAYBACK_FPS from the
 * transport's start. It sleeps until the nearer of the two. */
static void *run(void *arg)
{
    hub_frameclock_t *fc = arg;
    uint64_t period = 1000000u / (uint64_t)fc->cfg.fps;
    uint64_t deadline = hub_mono_us(), second = deadline, discovery_at = deadline;
    unsigned ticks = 0;
    hub_frames_fn frames;
    hub_frames_wanted_fn wanted;
    void *frames_ud;

    atomic_store(&fc->tid, (int)syscall(SYS_gettid));
    pthread_setname_np(pthread_self(), "hub-output");
    /* Linux lets a sleeping thread wake up to 50 us late by default (timer
     * slack); a frame clock wants its deadlines. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    if (fc->cfg.rt_priority > 0) {
        /* On a busy 2-core box the network threads otherwise delay ticks by
         * milliseconds now and then (docs/benchmarks.md, show rows). */
        struct sched_param sp = {.sched_priority = fc->cfg.rt_priority};
        int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
        if (rc != 0)
            hub_log(HUB_LOG_WARN, "output_priority_refused", "{s:i,s:s,s:s}", "priority",
                    fc->cfg.rt_priority, "error", strerror(rc), "hint",
                    "run as root or grant CAP_SYS_NICE (systemd: AmbientCapabilities="
                    "CAP_SYS_NICE), or unset DMX_OUTPUT_PRIORITY");
        else
            hub_log(HUB_LOG_INFO, "output_priority", "{s:s,s:i}", "policy", "SCHED_FIFO",
                    "priority", fc->cfg.rt_priority);
    }
    for (;;) {
        pthread_mutex_lock(&fc->mu);
        int stop = fc->stop;
        pthread_mutex_unlock(&fc->mu);
        if (stop)
            break;
        take_show(fc);
        uint64_t now = hub_mono_us();
        play_tick(fc, now);
        if (now >= deadline) {
            send_tick(fc, now, &discovery_at);
            ticks++;
            if (now - second >= 1000000u) {
                hub_metric_set(fc->m_fps, (double)ticks * 1e6 / (double)(now - second));
                hub_tally_flush(&fc->late);
                hub_tally_flush(&fc->play_late);
                ticks = 0;
                second = now;
            }
            deadline += period;
            now = hub_mono_us();
            if (now > deadline + period) { /* a whole tick late: start again from now */
                hub_metric_add(fc->m_skipped, (now - deadline) / period);
                deadline = now;
                continue;
            }
        }
        uint64_t play_at = hub_player_next_us(fc->player);
        uint64_t wake = play_at < deadline ? play_at : deadline;
        if (wake > now)
            sleep_until(fc, wake);
        now = hub_mono_us();
        if (wake == deadline && now >= deadline) /* not woken early by a hand-over */
            hub_tally_observe(&fc->late, (double)(now - deadline) / 1e6);
    }
    take_pending(fc, &frames, &wanted, &frames_ud);
    frames_release(fc); /* the blackout is not sent to room "frames" */
    blackout(fc);
    hub_tally_flush(&fc->late);
    hub_tally_flush(&fc->play_late);
    return NULL;
}

int hub_frameclock_start(hub_frameclock_t *fc)
{
    int rc = pthread_create(&fc->thread, NULL, run, fc);
    if (rc != 0)
        return -rc;
    fc->started = 1;
    return 0;
}

void hub_frameclock_stop(hub_frameclock_t *fc)
{
    if (fc == NULL || !fc->started)
        return;
    pthread_mutex_lock(&fc->mu);
    fc->stop = 1;
    fc->frames = NULL;
    pthread_mutex_unlock(&fc->mu);
    pthread_join(fc->thread, NULL);
    fc->started = 0;
}

void hub_frameclock_free(hub_frameclock_t *fc)
{
    if (fc == NULL)
        return;
    hub_frameclock_stop(fc);
    for (size_t i = 0; i < fc->nunis; i++)
        hub_free(fc->unis[i]);
    hub_free(fc->unis);
    hub_free(fc->list);
    hub_free(fc->pend);
    hub_free(fc->known);
    hub_player_free(fc->player);
    hub_show_previews_unref(fc->pv);
    hub_show_prog_unref(fc->pend_prog);
    hub_show_previews_unref(fc->pend_pv);
    pthread_mutex_destroy(&fc->mu);
    pthread_cond_destroy(&fc->frames_idle);
    pthread_cond_destroy(&fc->wake);
    hub_free(fc);
}

int hub_frameclock_tid(const hub_frameclock_t *fc)
{
    return atomic_load(&((hub_frameclock_t *)fc)->tid);
}

void hub_frameclock_ws_refresh(hub_frameclock_t *fc)
{
    atomic_store(&fc->ws_refresh, 1);
}
