/* output/frameclock.h - the output thread: DMX frames at a steady rate.
 *
 * The dmx domain hands over each universe's layers (domains/dmx/merge.h)
 * whenever they change, from the loop thread. The clock wakes every
 * 1/DMX_OUTPUT_FPS on absolute monotonic deadlines, renders every universe
 * once (hub_dmx_merge), and sends a universe by Art-Net and sACN when its
 * output changed and as a keep-alive every DMX_OUTPUT_KEEPALIVE_MS; OLA gets
 * each changed frame (its own thread paces it); the WebSocket room "frames"
 * gets changed universes at most DMX_WS_FRAME_HZ times a second. Nothing
 * here waits on the engine and nothing the engine does waits on this: a
 * mutex guards only the hand-over. At stop every output gets a blackout,
 * then sACN streams are terminated.
 *
 * Metrics: dmx_output_frames_total{proto,universe},
 * dmx_output_tick_lateness_seconds, dmx_output_fps,
 * dmx_output_ticks_skipped_total, show_playback_tick_lateness_seconds,
 * show_playback_ticks_total, show_playback_ticks_missed_total.
 */
#ifndef HUB_OUTPUT_FRAMECLOCK_H
#define HUB_OUTPUT_FRAMECLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "domains/dmx/merge.h"
#include "domains/show/player.h"
#include "domains/show/render.h"
#include "output/artnet.h"
#include "output/ola.h"
#include "output/output.h"
#include "output/sacn.h"

typedef struct hub_frameclock hub_frameclock_t;

enum { HUB_TEST_OFF = 0, HUB_TEST_CHASE };

typedef struct hub_frameclock_cfg {
    int fps;              /* 1..100 */
    int keepalive_ms;     /* resend an unchanged universe this often */
    int ws_hz;            /* room "frames": per universe */
    int test_pattern;     /* HUB_TEST_*: a moving pattern in the playback layer */
    int playback_fps;     /* show playback render ticks per second (0: 60) */
    int rt_priority;      /* 1..99: the thread runs SCHED_FIFO at it; 0: normal */
    hub_artnet_t *artnet; /* each may be NULL; the caller frees them after stop */
    hub_sacn_t *sacn;
    hub_ola_t *ola;
} hub_frameclock_cfg_t;

/* Changed universes for room "frames" (output thread). */
typedef void (*hub_frames_fn)(void *ud, const int *universes, const uint8_t (*slots)[512], size_t n,
                              uint64_t ts_ms);
typedef int (*hub_frames_wanted_fn)(void *ud);

int hub_frameclock_new(hub_frameclock_t **out, const hub_frameclock_cfg_t *cfg,
                       hub_metrics_t *metrics);
int hub_frameclock_start(hub_frameclock_t *fc);
/* Loop thread: universe's layers changed (copied); NULL: it left the patch
 * (its sACN stream is terminated). */
void hub_frameclock_set_universe(hub_frameclock_t *fc, int universe,
                                 const hub_dmx_layers_t *layers);
/* Loop thread: the show to play (takes the caller's reference; NULL none),
 * its transport, and the preview effects (takes the reference; NULL none).
 * The output thread picks them up at its next wake-up; playing, it renders
 * DMX_PLAYBACK_FPS ticks a second on their own deadlines (domains/show/
 * player.h) and every output tick sends the latest render. */
void hub_frameclock_set_show(hub_frameclock_t *fc, hub_show_prog_t *prog);
void hub_frameclock_set_transport(hub_frameclock_t *fc, const hub_transport_t *tr);
/* Both in one hand-over (has_prog: prog is new; tr NULL: unchanged), so
 * the output thread never takes a new program with the old transport. */
void hub_frameclock_set_playback(hub_frameclock_t *fc, int has_prog, hub_show_prog_t *prog,
                                 const hub_transport_t *tr);
void hub_frameclock_set_previews(hub_frameclock_t *fc, hub_show_previews_t *pv);

/* Any thread but the sink's own: where frames for room "frames" go (fn NULL:
 * nowhere). Once it returns the old sink is not called again. */
void hub_frameclock_set_frames(hub_frameclock_t *fc, hub_frames_fn fn, hub_frames_wanted_fn wanted,
                               void *ud);
/* Any thread: a session joined room "frames"; within the next tick or two
 * (DMX_WS_FRAME_HZ allowing) every universe's current output goes out, so it
 * starts from the whole picture (others get it again: frames are not seq'd). */
void hub_frameclock_ws_refresh(hub_frameclock_t *fc);
/* Where operator events go (set before start). */
void hub_frameclock_set_events(hub_frameclock_t *fc, hub_output_event_fn fn, void *ud);
/* Blackout on every output, terminate sACN, join the thread. */
void hub_frameclock_stop(hub_frameclock_t *fc);
void hub_frameclock_free(hub_frameclock_t *fc);
/* The output thread's id (for its CPU time in benchmarks), 0 before start. */
int hub_frameclock_tid(const hub_frameclock_t *fc);

#endif
