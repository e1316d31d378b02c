/* bench/lg_util.h - helpers shared by the scenarios. */
#ifndef LG_UTIL_H
#define LG_UTIL_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "lg.h"

/* What the server says about itself, outside timed phases. NaN = absent
 * (the peer has fewer metrics). */
typedef struct lg_snap {
    int ok;
    uint32_t value;
    uint64_t seq;
    double processed, deduped, dropped, refused, queue_depth, ws_clients, slow_dropped;
} lg_snap_t;

void lg_snap_take(const lg_opts_t *o, lg_snap_t *s);
/* Poll until the server's queue is empty (or it has no such metric), at
 * most timeout_s. Returns the seconds waited. */
double lg_wait_drained(const lg_opts_t *o, double timeout_s);
/* {"seq","processed",...} deltas b - a; new reference. */
json_t *lg_snap_delta_json(const lg_snap_t *a, const lg_snap_t *b);

struct lg_cmds;
/* Start a timed scenario: init loop, wait for what earlier runs left queued,
 * snapshot the server into s0 and size cmds for cap commands. Returns 0, or
 * 1 (with a message) when the server does not answer. */
int lg_scn_begin(const lg_opts_t *o, uv_loop_t *loop, lg_snap_t *s0, struct lg_cmds *cmds,
                 uint32_t cap);

/* Run the loop until cond(ud) is true (checked every 2 ms) or timeout_s
 * passes. Returns 1 if cond became true. */
int lg_run_until(uv_loop_t *loop, int (*cond)(void *ud), void *ud, double timeout_s);
/* Run the loop for s seconds. */
void lg_run_for(uv_loop_t *loop, double s);
/* Close every handle left and run the loop until it is empty. */
void lg_loop_close(uv_loop_t *loop);

#endif
