/* domains/show/render.h - what a show puts on the universes at show time t.
 *
 * A show is compiled against the patch into a program: per DMX channel the
 * cues that set it (keyframes), and the effects resolved to channels. The
 * program is immutable and reference-counted, so the loop thread builds it
 * and the output thread plays it without a lock. Rendering is a pure
 * function of (program, t): the bytes of a universe at t do not depend on
 * what was rendered before. A cursor only caches where each channel's
 * keyframe search ended, so sequential renders cost O(1) per channel; the
 * result is the same with or without it (tests/unit/test_show_player.c).
 *
 * The rules (docs/shows.md):
 *  - A cue sets each of its values on each of its fixtures that has the
 *    role (a POI gives pan, pan_fine, tilt, tilt_fine). On one channel, of
 *    several cues at the same t_ms only the last in file order counts.
 *  - The value of a channel at t: the last cue on it with t_ms <= t fades
 *    from the value the channel had just before t_ms (0 before its first
 *    cue; the earlier cues evaluated at t_ms, a whole byte) to its target
 *    over fade_ms: v = from + (to - from) * c(x),
 *    x = (t - t_ms) / fade_ms, c = 1 (step), x (linear), 3x^2 - 2x^3
 *    (ease_in_out); at x >= 1, or fade_ms 0, or step: the target. Rounded
 *    to nearest: floor(v + 0.5).
 *  - Effects run on top while t_ms <= t < t_ms + dur_ms; a later effect in
 *    file order wins a channel over an earlier one. With tau = t - t_ms in
 *    ms, i the fixture's position in the effect's list, n the list's
 *    length, frac(x) = x - floor(x), ph = frac(tau / period_ms + i * spread / n):
 *      pulse:   max - (max - min) * ph
 *      chase:   max if floor(tau / period_ms) mod n == i, else min
 *      rainbow: red, green, blue = HSV(hue ph, saturation 1, value 1) * max
 *      strobe:  max if frac(tau / period_ms) < duty, else min
 *      sine:    min + (max - min) * (1 - cos(2 pi ph)) / 2
 *    each rounded to nearest, on the fixtures that have the role.
 *  - t is clamped to 0..duration.
 * Channels no cue or effect touches are not set (set[i] = 0); touched ones
 * are set from t = 0 (0 before their first cue).
 */
#ifndef HUB_SHOW_RENDER_H
#define HUB_SHOW_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "domains/show/showfile.h"

#define HUB_SHOW_SLOTS 512

typedef struct hub_show_prog hub_show_prog_t;
typedef struct hub_show_cursor hub_show_cursor_t;

/* Compile s against patch. References the patch lacks (a fixture or role
 * gone since the show was checked) are skipped; *skipped (may be NULL)
 * counts them: one per fixture name not in the patch, one per value role
 * (or effect role; rainbow: red, green and blue together) that none of the
 * item's fixtures in the patch has, one per POI not in the patch or with
 * no fixture of its cue having pan or tilt. A fixture lacking a role that
 * others of its cue have is left alone and not counted (the show rules).
 * An effect keeps its fixtures' positions i and length n from the file,
 * missing ones included. s and patch are only read during the call.
 * Never fails (out of memory aborts). Reference count 1. */
hub_show_prog_t *hub_show_compile(const hub_show_t *s, const hub_show_patch_t *patch,
                                  size_t *skipped);
/* Any thread. */
hub_show_prog_t *hub_show_prog_ref(hub_show_prog_t *p);
void hub_show_prog_unref(hub_show_prog_t *p); /* p may be NULL */
int64_t hub_show_prog_duration_us(const hub_show_prog_t *p);
/* The universes the program sets channels on, ascending. */
const int *hub_show_prog_universes(const hub_show_prog_t *p, size_t *n);
/* Keyframes (after same-t merging) plus effect channels (one per fixture
 * channel an effect drives), for the load report and the benchmark. */
size_t hub_show_prog_keyframes(const hub_show_prog_t *p);

/* Render universe at show time t_us (clamped to 0..duration) into out and
 * set (512 each). Returns 0 when the program sets nothing on that universe
 * (out and set are zeroed). cursor may be NULL (a binary search per
 * channel); with one, renders that move forward in time are O(1) per
 * channel, and one earlier than the universe's previous render costs a
 * binary search per channel once. A cursor belongs to one program (given
 * another program's it is ignored) and one thread. */
int hub_show_render_universe(const hub_show_prog_t *p, hub_show_cursor_t *cursor, int universe,
                             int64_t t_us, uint8_t out[HUB_SHOW_SLOTS],
                             uint8_t set[HUB_SHOW_SLOTS]);
hub_show_cursor_t *hub_show_cursor_new(const hub_show_prog_t *p);
void hub_show_cursor_free(hub_show_cursor_t *c); /* c may be NULL */

/* ---- preview effects (the top layer) ------------------------------------------ */

/* Effects started at monotonic times, each running for its dur_ms from its
 * start (its t_ms is ignored). Immutable, reference-counted like programs. */
typedef struct hub_show_previews hub_show_previews_t;

typedef struct hub_show_preview_def {
    const hub_show_effect_t *effect;
    uint64_t start_mono_us;
} hub_show_preview_def_t;

hub_show_previews_t *hub_show_previews_compile(const hub_show_preview_def_t *defs, size_t n,
                                               const hub_show_patch_t *patch);
hub_show_previews_t *hub_show_previews_ref(hub_show_previews_t *pv);
void hub_show_previews_unref(hub_show_previews_t *pv); /* pv may be NULL */
/* The preview layer of universe at monotonic time now_us; returns 0 when
 * no preview sets anything there now (out and set zeroed). A later preview
 * wins a channel over an earlier one. */
int hub_show_previews_render(const hub_show_previews_t *pv, int universe, uint64_t now_us,
                             uint8_t out[HUB_SHOW_SLOTS], uint8_t set[HUB_SHOW_SLOTS]);

/* ---- the pieces, for tests ------------------------------------------------------ */

/* c(x) of curve for x in 0..1 (step: 1). */
double hub_show_curve(int curve, double x);
/* The value of one fixture channel under effect e at tau_ms after its start
 * (i of n fixtures; role the channel's role). -1 when e does not drive that
 * role. */
int hub_show_effect_value(const hub_show_effect_t *e, double tau_ms, size_t i, size_t n, int role);

#endif
