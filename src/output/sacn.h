/* output/sacn.h - sACN (ANSI E1.31-2018) output.
 *
 * Data packets per universe (hub universe = sACN universe, 1..63999) to each
 * unicast target, or to the universe's multicast group 239.255.<hi>.<lo>
 * when no target is given; universe discovery (E1.31 section 8) every 10 s;
 * three Stream_Terminated packets when a universe stops (E1.31 6.7.1). The
 * CID (a UUID) is made once and kept in <data_dir>/sacn.cid, so receivers
 * see the same source across restarts. Output thread only, after new.
 */
#ifndef HUB_OUTPUT_SACN_H
#define HUB_OUTPUT_SACN_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/metrics.h"
#include "output/output.h"

typedef struct hub_sacn hub_sacn_t;

typedef struct hub_sacn_cfg {
    const hub_addr_t *targets; /* unicast; NULL/0: multicast */
    size_t ntargets;
    int priority; /* 0..200 */
    const char *source_name;
    const char *data_dir; /* where sacn.cid lives */
} hub_sacn_cfg_t;

/* Reads or creates the CID file. On failure one line in err. */
int hub_sacn_new(hub_sacn_t **out, const hub_sacn_cfg_t *cfg, hub_metrics_t *metrics, char *err,
                 size_t errlen);
void hub_sacn_set_events(hub_sacn_t *s, hub_output_event_fn fn, void *ud);
/* The CID as text (for logs and tests). */
const char *hub_sacn_cid(const hub_sacn_t *s);
/* Queue universe's frame; options: HUB_SACN_OPT_* (0 normally). */
void hub_sacn_add(hub_sacn_t *s, int universe, uint8_t sequence, uint8_t options,
                  const uint8_t slots[512]);
size_t hub_sacn_flush(hub_sacn_t *s);
/* Queue and send the universe discovery pages for universes (ascending). */
void hub_sacn_discovery(hub_sacn_t *s, const int *universes, size_t n);
void hub_sacn_free(hub_sacn_t *s);

#endif
