/* tests/unit/fake_persist.h - a store that holds batches until the test lets go.
 *
 * Header-only (static inline) so a test just includes it: no extra link
 * step. It implements hub_persist_ops_t the way engine/batch.h describes a
 * store: submit takes the batch; the test later completes it, on the loop
 * thread, with fake_persist_complete(). While it holds batches it checks
 * what the engine promises about them:
 *  - one batch in flight at a time;
 *  - journal records in contiguous ascending seq across batches (a failed
 *    batch's seqs are spent: the next batch goes on after them);
 *  - every record has a req_id, src, name and payload (non-empty);
 *  - the batch's seq and ts_ms are its last record's (the store's meta row);
 *  - every row it will write names a statement (and values when it binds any).
 * A broken promise is counted in violations, the first one described in why;
 * the test decides when to look.
 */
#ifndef HUB_TEST_FAKE_PERSIST_H
#define HUB_TEST_FAKE_PERSIST_H

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "engine/batch.h"

#define FAKE_PERSIST_MAX_HELD 8

typedef struct fake_persist {
    hub_batch_t *held[FAKE_PERSIST_MAX_HELD]; /* oldest first */
    size_t nheld;
    size_t submitted;      /* batches ever submitted */
    size_t committed;      /* batches completed with rc 0 */
    size_t recs_committed; /* journal records in those */
    size_t rows_committed; /* rows the store would have written in those (non-NULL) */
    uint64_t last_seq;     /* seq of the last record submitted */
    int violations;        /* broken batch promises (see above) */
    char why[256];         /* the first violation */
} fake_persist_t;

static inline void fake_persist_violation(fake_persist_t *f, const char *what, uint64_t seq)
{
    if (f->violations++ == 0)
        snprintf(f->why, sizeof(f->why), "%s (seq %llu)", what, (unsigned long long)seq);
}

static inline int fake_persist_text_ok(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static inline void fake_persist_submit(void *ctx, hub_batch_t *b)
{
    fake_persist_t *f = ctx;

    if (f->nheld > 0)
        fake_persist_violation(f, "a batch was submitted while another was in flight", b->seq);
    if (f->nheld == FAKE_PERSIST_MAX_HELD) {
        fake_persist_violation(f, "too many batches held", b->seq);
        return;
    }
    for (size_t i = 0; i < b->nrecs; i++) {
        const hub_journal_rec_t *r = &b->recs[i];
        if (r->seq != f->last_seq + 1)
            fake_persist_violation(f, "journal seq not contiguous", r->seq);
        f->last_seq = r->seq;
        if (!fake_persist_text_ok(r->req_id))
            fake_persist_violation(f, "journal record without req_id", r->seq);
        if (!fake_persist_text_ok(r->src))
            fake_persist_violation(f, "journal record without src", r->seq);
        if (!fake_persist_text_ok(r->name))
            fake_persist_violation(f, "journal record without name", r->seq);
        if (r->payload == NULL || r->payload_len == 0)
            fake_persist_violation(f, "journal record without payload", r->seq);
    }
    if (b->nrecs > 0) {
        const hub_journal_rec_t *last = &b->recs[b->nrecs - 1];
        if (b->seq != last->seq)
            fake_persist_violation(f, "batch seq is not its last record's", b->seq);
        if (b->ts_ms != last->ts_ms)
            fake_persist_violation(f, "batch ts_ms is not its last record's", b->seq);
    }
    for (size_t i = 0; i < b->nrows; i++) {
        const hub_row_t *row = b->rows[i];
        if (row == NULL)
            continue; /* replaced by a later row of its key */
        if (row->stmt == NULL || row->stmt->sql == NULL)
            fake_persist_violation(f, "batch row without a statement", b->seq);
        else if (row->stmt->nparams > 0 && row->vals == NULL)
            fake_persist_violation(f, "batch row without values", b->seq);
    }
    f->held[f->nheld++] = b;
    f->submitted++;
}

static inline hub_persist_ops_t fake_persist_ops(fake_persist_t *f)
{
    hub_persist_ops_t ops = {fake_persist_submit, f};
    return ops;
}

/* The oldest held batch, or NULL. */
static inline hub_batch_t *fake_persist_peek(const fake_persist_t *f)
{
    return f->nheld > 0 ? f->held[0] : NULL;
}

/* Complete the oldest held batch with rc (0 or HUB_ESTORE). Returns 1 if
 * there was one. Call on the loop thread, outside engine callbacks. */
static inline int fake_persist_complete(fake_persist_t *f, int rc)
{
    hub_batch_t *b;

    if (f->nheld == 0)
        return 0;
    b = f->held[0];
    memmove(&f->held[0], &f->held[1], (f->nheld - 1) * sizeof(f->held[0]));
    f->nheld--;
    b->rc = rc;
    if (rc != 0) {
        snprintf(b->err, sizeof(b->err), "fake store: disk on fire");
    } else {
        f->committed++;
        f->recs_committed += b->nrecs;
        for (size_t i = 0; i < b->nrows; i++)
            f->rows_committed += b->rows[i] != NULL;
    }
    b->done(b, b->done_ud);
    return 1;
}

#endif
