/* engine/batch.c - a group commit's records and rows (see batch.h). */
#include "engine/batch.h"

#include <string.h>

#include "core/mem.h"
#include "core/str.h"
#include "engine/arena.h"

hub_batch_t *hub_batch_new(void)
{
    hub_batch_t *b = hub_calloc(1, sizeof(*b));
    b->caprecs = 64;
    b->recs = hub_malloc(b->caprecs * sizeof(*b->recs));
    b->caprows = 64;
    b->rows = hub_malloc(b->caprows * sizeof(*b->rows));
    b->keycap = 128;
    b->keyidx = hub_calloc(b->keycap, sizeof(*b->keyidx));
    return b;
}

void hub_batch_free(hub_batch_t *b)
{
    if (b == NULL)
        return;
    hub_free(b->recs);
    hub_free(b->rows);
    hub_free(b->keyidx);
    hub_free(b);
}

void hub_batch_clear(hub_batch_t *b)
{
    b->nrecs = 0;
    b->nrows = 0;
    b->seq = b->ts_ms = 0;
    b->rc = 0;
    b->err[0] = '\0';
    memset(b->keyidx, 0, b->keycap * sizeof(*b->keyidx));
    b->head = b->tail = NULL;
    b->nintents = 0;
}

hub_journal_rec_t *hub_batch_add_rec(hub_batch_t *b)
{
    if (b->nrecs == b->caprecs) {
        b->caprecs *= 2;
        b->recs = hub_realloc(b->recs, b->caprecs * sizeof(*b->recs));
    }
    return &b->recs[b->nrecs++];
}

static void rehash(hub_batch_t *b)
{
    size_t cap = b->keycap * 2;
    size_t *idx = hub_calloc(cap, sizeof(*idx));
    for (size_t i = 0; i < b->nrows; i++) {
        const hub_row_t *r = b->rows[i];
        if (r == NULL || r->key == NULL)
            continue;
        size_t j = hub_hash_str(r->key) & (cap - 1);
        while (idx[j] != 0)
            j = (j + 1) & (cap - 1);
        idx[j] = i + 1;
    }
    hub_free(b->keyidx);
    b->keyidx = idx;
    b->keycap = cap;
}

void hub_batch_add_row(hub_batch_t *b, const hub_row_t *row)
{
    if (b->nrows == b->caprows) {
        b->caprows *= 2;
        b->rows = hub_realloc(b->rows, b->caprows * sizeof(*b->rows));
    }
    if (row->key != NULL) {
        /* Keep the table at most half full; keyed rows are most rows. */
        if ((b->nrows + 1) * 2 > b->keycap)
            rehash(b);
        size_t j = hub_hash_str(row->key) & (b->keycap - 1);
        while (b->keyidx[j] != 0) {
            size_t i = b->keyidx[j] - 1;
            if (b->rows[i] != NULL && strcmp(b->rows[i]->key, row->key) == 0) {
                b->rows[i] = NULL; /* replaced: the later row is the entity's state */
                break;
            }
            j = (j + 1) & (b->keycap - 1);
        }
        b->keyidx[j] = b->nrows + 1;
    }
    b->rows[b->nrows++] = row;
}

void hub_journal_page_free(hub_journal_page_t *p)
{
    if (p == NULL)
        return;
    if (p->_mem != NULL) {
        hub_arena_reset(p->_mem);
        hub_free(p->_mem);
    }
    hub_free(p->entries);
    hub_free(p);
}
