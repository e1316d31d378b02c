/* bench/lg_rest.h - a pool of keep-alive connections POSTing commands
 * (POST /rgb, or POST /api/v1/intents with lg_rest_use_intents).
 *
 * Commands are submitted by index; an idle connection sends at once, else
 * the command waits in a FIFO (its latency keeps counting from its intended
 * time). Answers are classified into lg_cmds_t.answer and timed from
 * lg_cmds_t.intended_ns. Loop thread only.
 */
#ifndef LG_REST_H
#define LG_REST_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "lg.h"
#include "lg_cmd.h"
#include "lg_hist.h"

typedef struct lg_rest lg_rest_t;
/* Called after each answer (ans: LG_ANS_*). */
typedef void (*lg_rest_done)(uint32_t k, int ans, uint64_t t_ns, void *ud);

typedef struct lg_rest_counts {
    uint64_t sent, answered;
    uint64_t by_ans[8];    /* answers by LG_ANS_* */
    uint64_t status_other; /* answers with an unexpected status */
} lg_rest_counts_t;

lg_rest_t *lg_rest_new(uv_loop_t *loop, const lg_opts_t *o, lg_cmds_t *cmds, int nconns,
                       const char *src, lg_rest_done done, void *ud);
/* Send POST /api/v1/intents (the intent envelope of the same command,
 * lg_cmds_intent_body) instead of POST /rgb. Before the first submit. */
void lg_rest_use_intents(lg_rest_t *r);
/* Queue command k. -1 when the FIFO is full (the command is not sent). */
int lg_rest_submit(lg_rest_t *r, uint32_t k);
size_t lg_rest_backlog(const lg_rest_t *r);  /* queued, not yet sent */
size_t lg_rest_inflight(const lg_rest_t *r); /* sent, not yet answered */
int lg_rest_connected(const lg_rest_t *r);   /* connections that opened once */
lg_hist_t *lg_rest_hist(lg_rest_t *r);       /* answer latency (from intended) */
const lg_rest_counts_t *lg_rest_counts(const lg_rest_t *r);
void lg_rest_free(lg_rest_t *r);

#endif
