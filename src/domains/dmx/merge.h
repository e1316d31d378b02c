/* domains/dmx/merge.h - how one universe's output is made from its layers.
 *
 * One pure function decides every slot, highest precedence first:
 *   1. blackout on, or the slot's fixture disarmed  -> 0
 *   2. preview effects (the show issue)             -> the preview value
 *   3. manual values (the programmer: fixture values and raw channels,
 *      held until released)                          -> the manual value
 *   4. playback (the show issue)                    -> the playback value
 *   5. nothing                                      -> 0
 * A layer that is NULL does not exist yet; its `*_set` array says which slots
 * it holds a value for. Tested rule by rule in tests/unit/test_dmx_merge.c.
 */
#ifndef HUB_DMX_MERGE_H
#define HUB_DMX_MERGE_H

#include <stdint.h>

#define HUB_DMX_UNIVERSE_SLOTS 512

/* What the dmx domain hands the output clock for one universe. */
typedef struct hub_dmx_layers {
    uint8_t off[HUB_DMX_UNIVERSE_SLOTS];        /* 1: blackout or disarmed fixture */
    uint8_t manual[HUB_DMX_UNIVERSE_SLOTS];     /* manual layer values */
    uint8_t manual_set[HUB_DMX_UNIVERSE_SLOTS]; /* 1: the manual layer holds a value */
} hub_dmx_layers_t;

typedef struct hub_dmx_merge_in {
    const uint8_t *off; /* required */
    const uint8_t *preview, *preview_set;
    const uint8_t *manual, *manual_set;
    const uint8_t *playback, *playback_set;
} hub_dmx_merge_in_t;

/* out[i] for every slot i of one universe, by the rules above. */
void hub_dmx_merge(const hub_dmx_merge_in_t *in, uint8_t out[HUB_DMX_UNIVERSE_SLOTS]);
/* The same for the layers the dmx domain publishes (no preview, no playback). */
void hub_dmx_merge_layers(const hub_dmx_layers_t *l, uint8_t out[HUB_DMX_UNIVERSE_SLOTS]);

#endif
