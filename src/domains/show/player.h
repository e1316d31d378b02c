/* domains/show/player.h - playback: which show time each tick renders.
 *
 * The transport says where the show is: stopped (no playback layer),
 * paused at t (the render of t, held), or playing: show time t_us was true
 * at monotonic time mono_us and advances at rate_pm/1000. Playing, the
 * player renders on ticks of its own clock, DMX_PLAYBACK_FPS (60) a second
 * counted from mono_us: tick k is due at mono_us + k * 1e6 / fps and shows
 * render(t_us + k * 1e6 * rate_pm / (1000 * fps)), clamped to the show's
 * duration. A tick found more than a period late is not rendered late:
 * the player goes to the newest due tick and counts the ones it skipped.
 * Times are integers (microseconds) so every path to a tick gives the same
 * bytes.
 *
 * The player runs on the output thread (output/frameclock.c); the loop
 * thread hands it programs and transports through the clock's hand-over.
 * Pure apart from its own buffers: tests drive it with any clock.
 */
#ifndef HUB_SHOW_PLAYER_H
#define HUB_SHOW_PLAYER_H

#include <stddef.h>
#include <stdint.h>

#include "domains/show/render.h"

enum { HUB_TRANSPORT_STOPPED = 0, HUB_TRANSPORT_PLAYING, HUB_TRANSPORT_PAUSED };

#define HUB_RATE_ONE 1000 /* rate_pm of normal speed */

typedef struct hub_transport {
    int state;        /* HUB_TRANSPORT_* */
    int64_t t_us;     /* show time at mono_us (paused: the held time) */
    uint64_t mono_us; /* playing: when t_us was true (monotonic clock) */
    int rate_pm;      /* per mille, 250..4000 */
} hub_transport_t;

/* The show time of tick k (clamped to 0..duration_us). */
int64_t hub_transport_tick_time(const hub_transport_t *tr, uint64_t k, int fps,
                                int64_t duration_us);
/* When tick k is due. */
uint64_t hub_transport_tick_mono(const hub_transport_t *tr, uint64_t k, int fps);
/* The show time at monotonic time now (playing: continuous, not per tick;
 * clamped to 0..duration_us). */
int64_t hub_transport_time_at(const hub_transport_t *tr, uint64_t now_us, int64_t duration_us);

typedef struct hub_player hub_player_t;

hub_player_t *hub_player_new(int fps);
void hub_player_free(hub_player_t *p);
/* A new program (takes the caller's reference; NULL: none). The transport
 * is kept; a playing or paused player renders the new program from its
 * next tick (playing: the newest due tick, which may be the one already
 * shown, so the new show is up at once). Until then there is no layer. */
void hub_player_set_prog(hub_player_t *p, hub_show_prog_t *prog);
/* A new transport: tick numbering starts again at tr->mono_us. Playing or
 * paused, the last render stays the layer until the next tick; stopped,
 * there is no layer. */
void hub_player_set_transport(hub_player_t *p, const hub_transport_t *tr);
/* When the next tick is due: playing, the next tick's deadline (a new
 * transport: its tick 0's, tr->mono_us, normally already past; a new
 * program: 0); paused with a new program or transport not yet rendered, 0
 * (now), paused and rendered, UINT64_MAX; stopped or no program,
 * UINT64_MAX. */
uint64_t hub_player_next_us(const hub_player_t *p);
/* Render the newest tick due at now, if one is: returns 1 and sets
 * *late_us (how late that tick's render is) and *skipped (due ticks not
 * rendered to get there; 0 on time). Returns 0 and does nothing when no
 * tick is due. Paused: renders the held time once per transport/program
 * (*late_us and *skipped 0). The first tick of a transport skips none: a
 * hand-over arriving after tr->mono_us starts at the newest due tick and
 * only *late_us shows the delay. late_us and skipped may be NULL. */
int hub_player_tick(hub_player_t *p, uint64_t now_us, uint64_t *late_us, uint64_t *skipped);
/* The playback layer of universe as last rendered; 0 when there is none
 * (stopped, no program, or the program does not touch it). */
int hub_player_layer(const hub_player_t *p, int universe, const uint8_t **vals,
                     const uint8_t **set);
/* Ticks rendered since the transport was set, and the show time of the
 * last one (-1 when none): for tests and metrics. */
uint64_t hub_player_ticks(const hub_player_t *p);
int64_t hub_player_last_time(const hub_player_t *p);

#endif
