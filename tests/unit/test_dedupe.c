/* tests/unit/test_dedupe.c - engine/dedupe: TTL, LRU, remove, and a model check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/ulid.h"
#include "engine/dedupe.h"

#define A "01HZX3YJ9YJ3M5QAZ3GZ8K3QFA"
#define B "01HZX3YJ9YJ3M5QAZ3GZ8K3QFB"
#define C "01HZX3YJ9YJ3M5QAZ3GZ8K3QFC"
#define D "01HZX3YJ9YJ3M5QAZ3GZ8K3QFD"

static void test_seen_add(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(16, 1000);

    assert_int_equal(hub_dedupe_size(d), 0);
    assert_int_equal(hub_dedupe_seen(d, A, 100, NULL), 0);
    assert_int_equal(hub_dedupe_size(d), 0); /* seen does not insert */
    hub_dedupe_add(d, A, 100, 0);
    assert_int_equal(hub_dedupe_size(d), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 100, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 500, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, B, 500, NULL), 0);
    /* Ids are compared whole: a shared prefix is not a match. */
    assert_int_equal(hub_dedupe_seen(d, "01HZX3YJ9YJ3M5QAZ3GZ8K3QFZ", 500, NULL), 0);
    hub_dedupe_add(d, B, 200, 0);
    assert_int_equal(hub_dedupe_size(d), 2);
    assert_int_equal(hub_dedupe_seen(d, B, 500, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 500, NULL), 1);
    hub_dedupe_free(d);
}

/* Each entry keeps the seq of its intent: a duplicate is answered with it. */
static void test_seq_kept(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(16, 1000);
    uint64_t seq = 0;

    hub_dedupe_add(d, A, 100, 41);
    hub_dedupe_add(d, B, 100, 42);
    assert_int_equal(hub_dedupe_seen(d, A, 200, &seq), 1);
    assert_int_equal(seq, 41);
    assert_int_equal(hub_dedupe_seen(d, B, 200, &seq), 1);
    assert_int_equal(seq, 42);
    seq = 7;
    assert_int_equal(hub_dedupe_seen(d, C, 200, &seq), 0);
    assert_int_equal(seq, 7); /* untouched on a miss */
    hub_dedupe_free(d);
}

/* req_ids are 1-64 bytes, case-sensitive, compared whole. */
static void test_req_ids(void **state)
{
    char long_a[65], long_b[65];
    hub_dedupe_t *d = hub_dedupe_new(16, 1000);

    memset(long_a, 'x', 64);
    long_a[64] = '\0';
    memcpy(long_b, long_a, sizeof(long_b));
    long_b[63] = 'y';
    hub_dedupe_add(d, "a", 0, 1);
    hub_dedupe_add(d, long_a, 0, 2);
    assert_int_equal(hub_dedupe_seen(d, "a", 1, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, "ab", 1, NULL), 0);
    assert_int_equal(hub_dedupe_seen(d, "A", 1, NULL), 0);
    assert_int_equal(hub_dedupe_seen(d, long_a, 1, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, long_b, 1, NULL), 0);
    hub_dedupe_free(d);
}

static void test_ttl(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(16, 1000);

    hub_dedupe_add(d, A, 10000, 0);
    /* A duplicate while younger than ttl: age 999 yes, age 1000 no. */
    assert_int_equal(hub_dedupe_seen(d, A, 10999, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 11000, NULL), 0);
    assert_int_equal(hub_dedupe_seen(d, A, 50000, NULL), 0);
    hub_dedupe_free(d);
}

static void test_lookup_does_not_extend_age(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(16, 1000);

    hub_dedupe_add(d, A, 0, 0);
    /* Age counts from the first application, not from the last lookup. */
    for (uint64_t t = 100; t < 1000; t += 100)
        assert_int_equal(hub_dedupe_seen(d, A, t, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 1000, NULL), 0);
    hub_dedupe_free(d);
}

static void test_readd_after_expiry(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(16, 100);

    hub_dedupe_add(d, A, 0, 0);
    assert_int_equal(hub_dedupe_seen(d, A, 150, NULL), 0);
    /* The engine applies it again and re-adds: one entry, fresh age. */
    hub_dedupe_add(d, A, 150, 0);
    assert_int_equal(hub_dedupe_size(d), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 200, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 249, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 250, NULL), 0);
    hub_dedupe_free(d);
}

static void test_lru_eviction(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(3, 1000000);

    hub_dedupe_add(d, A, 0, 0);
    hub_dedupe_add(d, B, 10, 0);
    hub_dedupe_add(d, C, 20, 0);
    assert_int_equal(hub_dedupe_size(d), 3);
    hub_dedupe_add(d, D, 30, 0);
    assert_int_equal(hub_dedupe_size(d), 3);
    /* The least recently used (A, the oldest, never looked up) went. */
    assert_int_equal(hub_dedupe_seen(d, A, 40, NULL), 0);
    assert_int_equal(hub_dedupe_seen(d, B, 40, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, C, 40, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, D, 40, NULL), 1);
    hub_dedupe_free(d);
}

static void test_lookup_refreshes_recency(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(3, 1000000);

    hub_dedupe_add(d, A, 0, 0);
    hub_dedupe_add(d, B, 10, 0);
    hub_dedupe_add(d, C, 20, 0);
    assert_int_equal(hub_dedupe_seen(d, A, 25, NULL), 1); /* A is now the most recent */
    hub_dedupe_add(d, D, 30, 0);
    /* So B, the least recently used, is the one evicted. */
    assert_int_equal(hub_dedupe_seen(d, B, 40, NULL), 0);
    assert_int_equal(hub_dedupe_seen(d, A, 40, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, C, 40, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, D, 40, NULL), 1);
    assert_int_equal(hub_dedupe_size(d), 3);
    hub_dedupe_free(d);
}

static void test_expired_evicted_before_lru(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(3, 100);

    hub_dedupe_add(d, A, 0, 0);
    hub_dedupe_add(d, B, 50, 0);
    hub_dedupe_add(d, C, 60, 0);
    assert_int_equal(hub_dedupe_seen(d, A, 90, NULL), 1); /* A most recent, but oldest */
    /* At 120 A has expired while B (the LRU) is still live: A makes room. */
    hub_dedupe_add(d, D, 120, 0);
    assert_int_equal(hub_dedupe_seen(d, B, 120, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, C, 120, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, D, 120, NULL), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 120, NULL), 0);
    assert_true(hub_dedupe_size(d) <= 3);
    hub_dedupe_free(d);
}

static void test_remove(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(4, 1000);

    hub_dedupe_add(d, A, 0, 0);
    hub_dedupe_add(d, B, 0, 0);
    hub_dedupe_remove(d, A);
    assert_int_equal(hub_dedupe_size(d), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 1, NULL), 0);
    assert_int_equal(hub_dedupe_seen(d, B, 1, NULL), 1);
    hub_dedupe_remove(d, A); /* absent: no-op */
    hub_dedupe_remove(d, C);
    assert_int_equal(hub_dedupe_size(d), 1);
    hub_dedupe_add(d, A, 5, 0); /* can come back */
    assert_int_equal(hub_dedupe_seen(d, A, 6, NULL), 1);
    assert_int_equal(hub_dedupe_size(d), 2);
    hub_dedupe_remove(d, A);
    hub_dedupe_remove(d, B);
    assert_int_equal(hub_dedupe_size(d), 0);
    /* Removing frees a slot: fill to capacity without evicting. */
    hub_dedupe_add(d, A, 10, 0);
    hub_dedupe_add(d, B, 10, 0);
    hub_dedupe_add(d, C, 10, 0);
    hub_dedupe_add(d, D, 10, 0);
    assert_int_equal(hub_dedupe_size(d), 4);
    assert_int_equal(hub_dedupe_seen(d, A, 11, NULL), 1);
    hub_dedupe_free(d);
}

static void test_capacity_one(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(1, 1000);

    hub_dedupe_add(d, A, 0, 0);
    hub_dedupe_add(d, B, 1, 0);
    assert_int_equal(hub_dedupe_size(d), 1);
    assert_int_equal(hub_dedupe_seen(d, A, 2, NULL), 0);
    assert_int_equal(hub_dedupe_seen(d, B, 2, NULL), 1);
    hub_dedupe_free(d);
}

/* Reference model: a small array ordered by recency (index 0 = LRU). */
#define POOL 200
#define CAP  64
#define TTL  5000

struct ref {
    int id[POOL];
    uint64_t seen_ms[POOL];
    int n;
};

static int ref_find(const struct ref *r, int id)
{
    for (int i = 0; i < r->n; i++)
        if (r->id[i] == id)
            return i;
    return -1;
}

static void ref_unlink(struct ref *r, int i)
{
    memmove(&r->id[i], &r->id[i + 1], (size_t)(r->n - i - 1) * sizeof(int));
    memmove(&r->seen_ms[i], &r->seen_ms[i + 1], (size_t)(r->n - i - 1) * sizeof(uint64_t));
    r->n--;
}

static void ref_push(struct ref *r, int id, uint64_t seen_ms)
{
    r->id[r->n] = id;
    r->seen_ms[r->n] = seen_ms;
    r->n++;
}

static int ref_seen(struct ref *r, int id, uint64_t now)
{
    int i = ref_find(r, id);
    if (i < 0 || now - r->seen_ms[i] >= TTL)
        return 0;
    uint64_t s = r->seen_ms[i];
    ref_unlink(r, i);
    ref_push(r, id, s);
    return 1;
}

static int ref_live(const struct ref *r, uint64_t now)
{
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += now - r->seen_ms[i] < TTL;
    return n;
}

static void ref_add(struct ref *r, int id, uint64_t now)
{
    int i = ref_find(r, id);
    if (i >= 0)
        ref_unlink(r, i);
    /* Expired entries go first (all of them), then the least recently used. */
    for (int j = 0; j < r->n;)
        if (now - r->seen_ms[j] >= TTL)
            ref_unlink(r, j);
        else
            j++;
    if (r->n == CAP)
        ref_unlink(r, 0);
    ref_push(r, id, now);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void id_of(char out[HUB_ULID_LEN + 1], int n)
{
    uint8_t rnd[10] = {0};
    rnd[8] = (uint8_t)(n >> 8);
    rnd[9] = (uint8_t)n;
    hub_ulid_encode(out, 1700000000000ULL, rnd);
}

static void test_model_100k(void **state)
{
    hub_dedupe_t *d = hub_dedupe_new(CAP, TTL);
    struct ref r = {.n = 0};
    uint64_t seed = 0x2545F4914F6CDD1DULL;
    uint64_t now = 1000000;
    char id[HUB_ULID_LEN + 1];

    for (int op = 0; op < 100000; op++) {
        int x = (int)(rng_next(&seed) % POOL);
        unsigned kind = (unsigned)(rng_next(&seed) % 10);
        now += rng_next(&seed) % 40; /* ~ TTL per 250 ops: entries both live and expire */
        id_of(id, x);
        if (kind < 7) {
            /* What the engine does: look up, and on a miss apply and add. */
            int want = ref_seen(&r, x, now);
            int got = hub_dedupe_seen(d, id, now, NULL);
            if (got != want)
                fail_msg("op %d: seen(%d) at %llu = %d, model says %d", op, x,
                         (unsigned long long)now, got, want);
            if (!got) {
                ref_add(&r, x, now);
                hub_dedupe_add(d, id, now, 0);
            }
        } else if (kind < 9) {
            int want = ref_seen(&r, x, now);
            assert_int_equal(hub_dedupe_seen(d, id, now, NULL), want);
        } else {
            int i = ref_find(&r, x);
            if (i >= 0)
                ref_unlink(&r, i);
            hub_dedupe_remove(d, id);
        }
        size_t size = hub_dedupe_size(d);
        /* Expired entries may linger until evicted; live ones are all there. */
        if (size > CAP || size < (size_t)ref_live(&r, now))
            fail_msg("op %d: size %zu, model live %d", op, size, ref_live(&r, now));
    }
    hub_dedupe_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seen_add),
        cmocka_unit_test(test_seq_kept),
        cmocka_unit_test(test_req_ids),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_lookup_does_not_extend_age),
        cmocka_unit_test(test_readd_after_expiry),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_lookup_refreshes_recency),
        cmocka_unit_test(test_expired_evicted_before_lru),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_capacity_one),
        cmocka_unit_test(test_model_100k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
