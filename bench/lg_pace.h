/* bench/lg_pace.h - open-loop pacing at a fixed rate, with ns precision.
 *
 * Command k of a paced phase is due at t0 + k / rate. A timerfd (armed
 * absolute, so no drift) wakes the loop at the next due time; everything due
 * by then is emitted with its *intended* time, which is what latency is
 * measured from (no coordinated omission: a late sender still counts its
 * own lateness). libuv timers tick in whole ms, too coarse for this.
 */
#ifndef LG_PACE_H
#define LG_PACE_H

#include <stdint.h>

#include <uv.h>

#include "lg_hist.h"

typedef void (*lg_pace_emit)(uint64_t k, uint64_t intended_ns, void *ud);

typedef struct lg_pace {
    uv_poll_t poll;
    int tfd;
    int running;
    double rate;            /* commands per second */
    uint64_t t0_ns, end_ns; /* phase start; no command is due at or after end */
    uint64_t emitted, limit;
    lg_pace_emit emit;
    void *ud;
    lg_hist_t lag; /* emit time - intended time: the sender's own lateness */
} lg_pace_t;

int lg_pace_init(lg_pace_t *p, uv_loop_t *loop);
/* Emit up to limit commands at rate for dur_ns from now. */
void lg_pace_start(lg_pace_t *p, double rate, uint64_t limit, uint64_t dur_ns, lg_pace_emit emit,
                   void *ud);
void lg_pace_stop(lg_pace_t *p);
int lg_pace_done(const lg_pace_t *p);
/* Close the handle (the loop must run once more). */
void lg_pace_close(lg_pace_t *p);

#endif
