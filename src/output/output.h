/* output/output.h - what the network DMX outputs share.
 *
 * Every output sends to a list of targets and reports a failing target at
 * most once a second (log line "output_error", an operator event, and
 * dmx_output_errors_total{proto}), never stopping the clock: fail-open.
 */
#ifndef HUB_OUTPUT_OUTPUT_H
#define HUB_OUTPUT_OUTPUT_H

#include <stdint.h>

#include "core/addr.h"
#include "core/metrics.h"

/* An operator event from the output thread (level: HUB_EVENT_*). */
typedef void (*hub_output_event_fn)(void *ud, int level, const char *source, const char *msg);

typedef struct hub_target {
    hub_addr_t addr;
    uint64_t logged_us;  /* last error reported; 0 none */
    uint64_t suppressed; /* errors not reported since */
    int failing;
} hub_target_t;

typedef struct hub_output_report {
    const char *proto; /* "artnet", "sacn" */
    hub_metric_t *m_errors;
    hub_output_event_fn event;
    void *event_ud;
} hub_output_report_t;

/* Count a send error to t; log and raise an event at most once a second. */
void hub_output_error(hub_output_report_t *r, hub_target_t *t, int err);
/* t sent fine again: say so once. */
void hub_output_ok(hub_output_report_t *r, hub_target_t *t);

#endif
