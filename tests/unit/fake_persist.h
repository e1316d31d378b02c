/* tests/unit/fake_persist.h - a store that holds batches until the test lets go.
 *
 * Header-only (static inline) so a test just includes it: no extra link
 * step. It implements hub_persist_ops_t the way engine/batch.h describes a
 * store: submit takes the batch; the test later completes it, on the loop
 * thread, with fake_persist_complete(). While it holds batches it checks
 * what the engine promises about them: one in flight at a time, journal
 * records in contiguous ascending seq, the state copy matching the last one.
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
    uint64_t last_seq;     /* seq of the last record submitted */
    int violations;        /* broken batch promises (see above) */
    char why[256];         /* the first violation */
} fake_persist_t;

static inline void fake_persist_violation(fake_persist_t *f, const char *what)
{
    if (f->violations++ == 0)
        snprintf(f->why, sizeof(f->why), "%s", what);
}

static inline void fake_persist_submit(void *ctx, hub_batch_t *b)
{
    fake_persist_t *f = ctx;
    uint8_t rgb[3];

    if (f->nheld > 0)
        fake_persist_violation(f, "a batch was submitted while another was in flight");
    if (f->nheld == FAKE_PERSIST_MAX_HELD) {
        fake_persist_violation(f, "too many batches held");
        return;
    }
    for (size_t i = 0; i < b->nrecs; i++) {
        if (b->recs[i].seq != f->last_seq + 1)
            fake_persist_violation(f, "journal seq not contiguous");
        f->last_seq = b->recs[i].seq;
        if (b->recs[i].src[0] == '\0')
            fake_persist_violation(f, "journal record without src");
    }
    if (b->nrecs > 0) {
        const hub_journal_rec_t *last = &b->recs[b->nrecs - 1];
        hub_state_get_rgb(&b->state, rgb);
        if (b->state.seq != last->seq)
            fake_persist_violation(f, "batch state seq is not its last record's");
        if (memcmp(rgb, last->rgb, 3) != 0)
            fake_persist_violation(f, "batch state rgb is not its last record's");
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
    }
    b->done(b, b->done_ud);
    return 1;
}

#endif
