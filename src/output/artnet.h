/* output/artnet.h - Art-Net 4 output: ArtDmx to each target, ArtSync, and
 * ArtPollReply to whoever polls.
 *
 * Hub universe u is Art-Net port-address u - 1 (as QLC+ numbers them);
 * universes above 32768 have no port-address and are not sent. Packets of a
 * tick are queued with hub_artnet_add and sent together by hub_artnet_flush
 * (then one ArtSync when DMX_ARTNET_SYNC is on). Output thread only, after
 * hub_artnet_new.
 */
#ifndef HUB_OUTPUT_ARTNET_H
#define HUB_OUTPUT_ARTNET_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/metrics.h"
#include "output/output.h"

typedef struct hub_artnet hub_artnet_t;

typedef struct hub_artnet_cfg {
    const hub_addr_t *targets;
    size_t ntargets;
    int sync;                 /* ArtSync after each tick's ArtDmx */
    const hub_addr_t *listen; /* answer ArtPoll here; NULL: do not listen */
    const char *short_name, *long_name;
} hub_artnet_cfg_t;

int hub_artnet_new(hub_artnet_t **out, const hub_artnet_cfg_t *cfg, hub_metrics_t *metrics,
                   char *err, size_t errlen);
void hub_artnet_set_events(hub_artnet_t *a, hub_output_event_fn fn, void *ud);
/* Queue universe's frame for every target (no-op beyond port-address 32767). */
void hub_artnet_add(hub_artnet_t *a, int universe, uint8_t sequence, const uint8_t slots[512]);
/* Send what is queued; returns the ArtDmx packets sent (universes x
 * targets, less those that failed). */
size_t hub_artnet_flush(hub_artnet_t *a);
/* Answer the ArtPolls waiting on the listen socket: one ArtPollReply per
 * universe (Art-Net 4: one port per reply, BindIndex 1..n). */
void hub_artnet_poll(hub_artnet_t *a, const int *universes, size_t n);
void hub_artnet_free(hub_artnet_t *a);

#endif
