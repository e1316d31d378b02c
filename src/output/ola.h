/* out/ola.h - DMX output to OLA over its HTTP API, on the output thread.
 *
 * The output clock hands over the latest 512-slot frame of each universe (hub_ola_set_frame,
 * a copy under a short mutex: the double buffer). The output thread wakes at
 * most fps times a second, and when the frame changed since the last send it
 * POSTs `u=<universe>&d=<v1,v2,…>` to the configured URL with libcurl,
 * which is loaded on first use rather than linked.
 * Duplicate frames are suppressed. Errors are logged (event "ola") and
 * counted, never fatal: state keeps flowing (fail-open). On close a blackout
 * (all zeros) of every universe is sent before the thread exits.
 */
#ifndef HUB_OUT_OLA_H
#define HUB_OUT_OLA_H

#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"

typedef struct hub_ola hub_ola_t;

typedef struct hub_ola_cfg {
    const char *url; /* e.g. http://localhost:9090/set_dmx */
    int universe;
    int fps;         /* max frames per second, >= 1 */
    long timeout_ms; /* per request; 0 = 1000 */
} hub_ola_cfg_t;

/* Load libcurl (libcurl.so.4, at run time) and start the output thread.
 * Registers dmx_ola_frames_total and dmx_ola_errors_total in metrics. Call
 * before other threads use libcurl. On failure returns a negative code
 * (HUB_ENOTFOUND: libcurl missing), writes one line saying what to do to err
 * (may be NULL when errlen is 0), and leaves *out unchanged. */
int hub_ola_new(hub_ola_t **out, const hub_ola_cfg_t *cfg, hub_metrics_t *metrics, char *err,
                size_t errlen);
/* Thread-safe: copy nslots (<= 512) values as the frame to send next to
 * cfg->universe. */
void hub_ola_set_frame(hub_ola_t *o, const uint8_t *slots, unsigned nslots);
/* Thread-safe: the same for any universe (each keeps its own 1/fps pace).
 * counter (may be NULL) is also counted for each frame olad accepts. */
void hub_ola_set_universe_frame(hub_ola_t *o, int universe, const uint8_t *slots, unsigned nslots,
                                hub_metric_t *counter);
/* Send a blackout, stop the thread, free. Bounded by the request timeout. */
void hub_ola_free(hub_ola_t *o);

#endif
