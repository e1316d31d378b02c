/* domains/show/render_int.h - shared by render.c and render_compile.c only.
 *
 * A program is a handful of flat arrays (the "layout"):
 *   universes[], unis[]  per universe, ascending: its tracks, its effect
 *                        runs and which slots the show sets;
 *   tracks[]             per touched channel, by universe then slot: a
 *                        range of kfs[];
 *   kfs[]                keyframes of a track by t, each with the value
 *                        it fades from worked out at compile time;
 *   fxs[]                effects in file order: window and parameters;
 *   runs[], ents[]       per universe, per effect that has channels there
 *                        (file order): (slot, role, position in its list).
 * Memory is linear in the channels cues and effects name; no canvas, and
 * nothing is allocated per frame. Previews use the same layout with no
 * tracks.
 */
#ifndef HUB_SHOW_RENDER_INT_H
#define HUB_SHOW_RENDER_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "domains/show/render.h"

typedef struct kf {
    int64_t t_us;
    uint32_t fade_ms;
    uint8_t from, to, curve;
} kf_t;

typedef struct track {
    size_t kf_off;
    uint32_t nkf;
    uint16_t slot;
} track_t;

typedef struct fx {
    int64_t start_us, end_us; /* active while start_us <= t < end_us */
    hub_show_effect_t def;    /* parameters; fixtures NULL, nfixtures the list's length */
} fx_t;

typedef struct fx_ent {
    uint16_t slot;
    uint8_t role;
    uint32_t i; /* position in the effect's list */
} fx_ent_t;

typedef struct fx_run {
    uint32_t fx;
    uint32_t n;
    size_t off;
} fx_run_t;

typedef struct uni {
    size_t track_off, run_off;
    uint32_t ntracks, nruns;
    uint8_t set[HUB_SHOW_SLOTS];
} uni_t;

typedef struct layout {
    int *universes;
    uni_t *unis;
    size_t nunis;
    track_t *tracks;
    size_t ntracks;
    kf_t *kfs;
    size_t nkfs;
    fx_t *fxs;
    size_t nfxs;
    fx_run_t *runs;
    size_t nruns;
    fx_ent_t *ents;
    size_t nents;
} layout_t;

struct hub_show_prog {
    atomic_int refs;
    int64_t duration_us;
    layout_t l;
};

struct hub_show_previews {
    atomic_int refs;
    layout_t l;
};

/* The value of a channel at t >= k->t_us while k is its last keyframe. */
uint8_t render__kf_eval(const kf_t *k, int64_t t);
/* The index of universe in the ascending universes[0..n), or -1. */
long render__uni_index(const int *universes, size_t n, int universe);

#endif
