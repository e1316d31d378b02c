/* domains/dmx/merge.c - the output merge (rules in merge.h). */
#include "domains/dmx/merge.h"

#include <stddef.h>

void hub_dmx_merge(const hub_dmx_merge_in_t *in, uint8_t out[HUB_DMX_UNIVERSE_SLOTS])
{
    for (size_t i = 0; i < HUB_DMX_UNIVERSE_SLOTS; i++) {
        uint8_t v = 0;
        if (in->off[i])
            v = 0;
        else if (in->preview != NULL && in->preview_set[i])
            v = in->preview[i];
        else if (in->manual != NULL && in->manual_set[i])
            v = in->manual[i];
        else if (in->playback != NULL && in->playback_set[i])
            v = in->playback[i];
        out[i] = v;
    }
}

void hub_dmx_merge_layers(const hub_dmx_layers_t *l, uint8_t out[HUB_DMX_UNIVERSE_SLOTS])
{
    hub_dmx_merge_in_t in = {.off = l->off, .manual = l->manual, .manual_set = l->manual_set};
    hub_dmx_merge(&in, out);
}
