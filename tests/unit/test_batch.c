/* tests/unit/test_batch.c - engine/batch: journal records, keyed row replacement, clear, and the
 * free functions of the restore and journal-page structures (ASan/LSan prove nothing leaks). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "engine/arena.h"
#include "engine/batch.h"

static const hub_stmt_t st_upsert = {"INSERT OR REPLACE INTO t(id, v) VALUES (?1, ?2)", 2};
static const hub_stmt_t st_delete = {"DELETE FROM t WHERE id = ?1", 1};
static const hub_stmt_t st_log = {"INSERT INTO log(v) VALUES (?1)", 1};

static void expect_rows(const hub_batch_t *b, const hub_row_t *const *want, size_t n)
{
    assert_int_equal(b->nrows, n);
    for (size_t i = 0; i < n; i++)
        if (b->rows[i] != want[i])
            fail_msg("rows[%zu] = %p (key %s), want %p (key %s)", i, (const void *)b->rows[i],
                     b->rows[i] && b->rows[i]->key ? b->rows[i]->key : "-", (const void *)want[i],
                     want[i] && want[i]->key ? want[i]->key : "-");
}

static void test_new_is_empty(void **state)
{
    hub_batch_t *b = hub_batch_new();

    assert_int_equal(b->nrecs, 0);
    assert_int_equal(b->nrows, 0);
    assert_int_equal(b->seq, 0);
    assert_int_equal(b->ts_ms, 0);
    assert_int_equal(b->rc, 0);
    assert_string_equal(b->err, "");
    assert_null(b->head);
    assert_null(b->tail);
    assert_int_equal(b->nintents, 0);
    assert_null(b->done);
    hub_batch_free(b);
    hub_batch_free(NULL);
}

static void test_records(void **state)
{
    hub_batch_t *b = hub_batch_new();
    char ids[200][16];

    /* Past the first capacity: earlier records are kept as written. */
    for (int i = 0; i < 200; i++) {
        snprintf(ids[i], sizeof(ids[i]), "req-%d", i);
        hub_journal_rec_t *r = hub_batch_add_rec(b);
        assert_non_null(r);
        assert_int_equal(b->nrecs, (size_t)i + 1);
        assert_ptr_equal(r, &b->recs[i]);
        memset(r, 0, sizeof(*r));
        r->seq = 1000 + (uint64_t)i;
        r->ts_ms = 1700000000000ULL + (uint64_t)i;
        r->req_id = ids[i];
        r->src = "ui";
        r->name = "fixture.set";
        r->payload = "{\"v\":1}";
        r->payload_len = 7;
        r->patches = "[]";
        r->patches_len = 2;
        r->rooms = "dmx";
    }
    for (int i = 0; i < 200; i++) {
        const hub_journal_rec_t *r = &b->recs[i];
        assert_int_equal(r->seq, 1000 + (uint64_t)i);
        assert_int_equal(r->ts_ms, 1700000000000ULL + (uint64_t)i);
        assert_ptr_equal(r->req_id, ids[i]);
        assert_string_equal(r->src, "ui");
        assert_int_equal(r->payload_len, 7);
        assert_int_equal(r->patches_len, 2);
    }
    hub_batch_free(b);
}

/* Unkeyed rows are always appended, even the same row twice. */
static void test_unkeyed_appended(void **state)
{
    hub_batch_t *b = hub_batch_new();
    hub_val_t v = HUB_VAL_S("x", 1);
    hub_row_t r1 = {&st_log, NULL, &v}, r2 = {&st_log, NULL, &v};

    hub_batch_add_row(b, &r1);
    hub_batch_add_row(b, &r2);
    hub_batch_add_row(b, &r1);
    const hub_row_t *want[] = {&r1, &r2, &r1};
    expect_rows(b, want, 3);
    hub_batch_free(b);
}

/* A keyed row replaces the earlier row of its key: that slot becomes NULL, the new row is
 * appended (rows stay in apply order). */
static void test_keyed_replacement(void **state)
{
    hub_batch_t *b = hub_batch_new();
    hub_val_t va[2] = {HUB_VAL_S("par1", 4), HUB_VAL_I(10)};
    hub_val_t vd[1] = {HUB_VAL_S("par1", 4)};
    /* Same key text in different buffers: keys compare by content. */
    char k1[] = "fixture:par1", k2[] = "fixture:par1", k3[] = "fixture:par1";
    hub_row_t up1 = {&st_upsert, k1, va}, up2 = {&st_upsert, "fixture:par2", va};
    hub_row_t del1 = {&st_delete, k2, vd}, up1b = {&st_upsert, k3, va};
    hub_row_t log1 = {&st_log, NULL, vd};

    hub_batch_add_row(b, &up1);
    hub_batch_add_row(b, &up2);
    hub_batch_add_row(b, &log1);
    {
        const hub_row_t *want[] = {&up1, &up2, &log1};
        expect_rows(b, want, 3);
    }
    /* An upsert followed by a delete of the same fixture writes only the delete. */
    hub_batch_add_row(b, &del1);
    {
        const hub_row_t *want[] = {NULL, &up2, &log1, &del1};
        expect_rows(b, want, 4);
    }
    /* And a third row of the key replaces the second. */
    hub_batch_add_row(b, &up1b);
    {
        const hub_row_t *want[] = {NULL, &up2, &log1, NULL, &up1b};
        expect_rows(b, want, 5);
    }
    /* The same row object again replaces itself. */
    hub_batch_add_row(b, &up2);
    {
        const hub_row_t *want[] = {NULL, NULL, &log1, NULL, &up1b, &up2};
        expect_rows(b, want, 6);
    }
    hub_batch_free(b);
}

/* Keys are compared whole: prefixes, case and the empty key are all distinct keys. */
static void test_key_distinctness(void **state)
{
    hub_batch_t *b = hub_batch_new();
    hub_row_t r[6] = {
        {&st_log, "t:1", NULL}, {&st_log, "t:10", NULL}, {&st_log, "T:1", NULL},
        {&st_log, "", NULL},    {&st_log, "t:1 ", NULL}, {&st_log, "", NULL},
    };

    for (int i = 0; i < 6; i++)
        hub_batch_add_row(b, &r[i]);
    const hub_row_t *want[] = {&r[0], &r[1], &r[2], NULL, &r[4], &r[5]};
    expect_rows(b, want, 6);
    hub_batch_free(b);
}

static void test_clear(void **state)
{
    hub_batch_t *b = hub_batch_new();
    hub_row_t a1 = {&st_log, "k:a", NULL}, a2 = {&st_log, "k:a", NULL};

    /* Enough keyed rows to have grown every table. */
    static hub_row_t many[1000];
    static char keys[1000][16];
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k:%d", i);
        many[i] = (hub_row_t){&st_log, keys[i], NULL};
        hub_batch_add_row(b, &many[i]);
        hub_batch_add_rec(b)->seq = (uint64_t)i;
    }
    hub_batch_add_row(b, &a1);
    b->seq = 77;
    b->ts_ms = 88;
    b->rc = HUB_ESTORE;
    snprintf(b->err, sizeof(b->err), "disk full");
    b->head = b->tail = (hub_intent_t *)(void *)&a1; /* never dereferenced */
    b->nintents = 3;

    hub_batch_clear(b);
    assert_int_equal(b->nrecs, 0);
    assert_int_equal(b->nrows, 0);
    assert_int_equal(b->seq, 0);
    assert_int_equal(b->ts_ms, 0);
    assert_int_equal(b->rc, 0);
    assert_string_equal(b->err, "");
    assert_null(b->head);
    assert_null(b->tail);
    assert_int_equal(b->nintents, 0);

    /* Rows from before the clear are forgotten: a2 replaces nothing. */
    hub_batch_add_row(b, &a2);
    {
        const hub_row_t *want[] = {&a2};
        expect_rows(b, want, 1);
    }
    hub_batch_add_row(b, &many[5]);
    hub_batch_add_row(b, &a1);
    {
        const hub_row_t *want[] = {NULL, &many[5], &a1};
        expect_rows(b, want, 3);
    }
    hub_batch_free(b);
}

/* Model check: 20,000 rows over 700 keys and unkeyed rows, with clears; a row survives iff it is
 * unkeyed or the last of its key since the last clear. */
static void test_many_rows_model(void **state)
{
    enum { N = 20000, K = 700 };
    static hub_row_t rows[N];
    static char keys[K][24];
    static int keyof[N];
    static int last[K];
    hub_batch_t *b = hub_batch_new();
    uint64_t s = 0x1234567887654321ULL;
    size_t base = 0; /* index in rows[] of the batch's first row */

    for (int k = 0; k < K; k++)
        snprintf(keys[k], sizeof(keys[k]), "fixture:%d", k * 7919);
    for (int k = 0; k < K; k++)
        last[k] = -1;
    for (int i = 0; i < N; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        int k = (s % 5 == 0) ? -1 : (int)((s >> 8) % K);
        keyof[i] = k;
        /* Each row gets its own copy of the key text. */
        rows[i] = (hub_row_t){&st_upsert, k < 0 ? NULL : keys[k], NULL};
        if (k >= 0) {
            char *copy = hub_strdup(keys[k]);
            rows[i].key = copy;
        }
        hub_batch_add_row(b, &rows[i]);
        if (k >= 0)
            last[k] = i;
        if (i % 5000 == 4999 || i == N - 1) {
            /* Check the batch against the model. */
            assert_int_equal(b->nrows, (size_t)i + 1 - base);
            for (size_t j = base; j <= (size_t)i; j++) {
                int kj = keyof[j];
                const hub_row_t *want = (kj < 0 || last[kj] == (int)j) ? &rows[j] : NULL;
                if (b->rows[j - base] != want)
                    fail_msg("after %d rows: rows[%zu] is %s, want %s", i + 1, j - base,
                             b->rows[j - base] ? "a row" : "NULL", want ? "the row" : "NULL");
            }
            if (i != N - 1) {
                hub_batch_clear(b);
                base = (size_t)i + 1;
                for (int x = 0; x < K; x++)
                    last[x] = -1;
            }
        }
    }
    for (int i = 0; i < N; i++)
        hub_free((void *)rows[i].key);
    hub_batch_free(b);
}

static void test_restore_free(void **state)
{
    hub_restore_t r;

    memset(&r, 0, sizeof(r));
    r.seq = 5;
    r.ts_ms = 6;
    r.found = 1;
    r.nids = 3;
    r.ids = hub_calloc(r.nids, sizeof(*r.ids));
    for (size_t i = 0; i < r.nids; i++) {
        snprintf(r.ids[i].id, sizeof(r.ids[i].id), "req-%zu", i);
        r.ids[i].seq = i + 1;
    }
    assert_string_equal(r.ids[2].id, "req-2");
    assert_int_equal(sizeof(r.ids[0].id), HUB_REQ_ID_MAX + 1);
    hub_restore_free(&r);
    assert_null(r.ids);
    assert_int_equal(r.nids, 0);
    hub_restore_free(&r); /* twice: nothing left to free */
    assert_null(r.ids);

    /* A restore of a new db: nothing allocated. */
    hub_restore_t empty = {0};
    hub_restore_free(&empty);
    assert_null(empty.ids);
    assert_int_equal(empty.nids, 0);
}

/* A page as store/reader.c builds one: texts in an arena (_mem), entries on the heap. */
static hub_journal_page_t *make_page(size_t n)
{
    hub_journal_page_t *p = hub_calloc(1, sizeof(*p));
    hub_arena_t *a = hub_malloc(sizeof(*a));
    char text[64];

    hub_arena_init(a);
    p->_mem = a;
    p->since = 10;
    p->oldest = 1;
    p->entries = n ? hub_calloc(n, sizeof(*p->entries)) : NULL;
    for (size_t i = 0; i < n; i++) {
        hub_journal_entry_t *e = &p->entries[i];
        e->seq = 11 + i;
        snprintf(text, sizeof(text), "req-%zu", i);
        e->req_id = hub_arena_strndup(a, text, strlen(text));
        e->src = hub_arena_strndup(a, "mqtt", 4);
        e->name = hub_arena_strndup(a, "fixture.set", 11);
        snprintf(text, sizeof(text), "{\"level\":%zu}", i);
        e->payload = hub_arena_strndup(a, text, strlen(text));
        e->patches = i % 2 ? NULL : hub_arena_strndup(a, "[]", 2);
        e->rooms = hub_arena_strndup(a, "dmx", 3);
    }
    p->n = n;
    return p;
}

static void test_journal_page_free(void **state)
{
    /* Many entries: the arena has gone well past its inline chunk into heap chunks. */
    hub_journal_page_t *p = make_page(500);
    assert_non_null(((hub_arena_t *)p->_mem)->extra);
    assert_string_equal(p->entries[499].payload, "{\"level\":499}");
    assert_null(p->entries[1].patches);
    hub_journal_page_free(p);

    /* Small, and empty (no entries array). */
    hub_journal_page_free(make_page(1));
    hub_journal_page_free(make_page(0));

    /* A page with no arena at all (an error page: rc set, nothing read). */
    hub_journal_page_t *e = hub_calloc(1, sizeof(*e));
    e->rc = HUB_ESTORE;
    hub_journal_page_free(e);

    hub_journal_page_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_empty),      cmocka_unit_test(test_records),
        cmocka_unit_test(test_unkeyed_appended),  cmocka_unit_test(test_keyed_replacement),
        cmocka_unit_test(test_key_distinctness),  cmocka_unit_test(test_clear),
        cmocka_unit_test(test_many_rows_model),   cmocka_unit_test(test_restore_free),
        cmocka_unit_test(test_journal_page_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
