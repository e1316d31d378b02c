/* tests/unit/test_str.c - core/str: hub_str_join (truncation and bounds), hub_str_set (reuse and
 * growth) and hub_hash (determinism, length, spread). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/str.h"

/* Guard bytes after the n the callee may use: none of them may change. */
#define GUARD 16

static void join_into(char *buf, size_t n, const char *a, const char *b, const char *c,
                      const char *want)
{
    memset(buf, 'Z', n + GUARD);
    size_t got = hub_str_join(buf, n, a, b, c);
    if (got != strlen(want) || strcmp(buf, want) != 0)
        fail_msg("join(%zu, \"%s\", \"%s\", %s%s%s) = %zu [%s], want %zu [%s]", n, a, b,
                 c ? "\"" : "", c ? c : "NULL", c ? "\"" : "", got, buf, strlen(want), want);
    for (size_t i = n; i < n + GUARD; i++)
        if (buf[i] != 'Z')
            fail_msg("n %zu: byte %zu past the end was written", n, i);
}

static void test_join_fits(void **state)
{
    char buf[64 + GUARD];

    join_into(buf, 64, "ab", "cd", "ef", "abcdef");
    join_into(buf, 64, "dmx", ".", "fixtures", "dmx.fixtures");
    join_into(buf, 64, "", "", "", "");
    join_into(buf, 64, "", "b", "", "b");
    join_into(buf, 64, "a", "", "c", "ac");
}

static void test_join_null_third(void **state)
{
    char buf[64 + GUARD];

    join_into(buf, 64, "ab", "cd", NULL, "abcd");
    join_into(buf, 64, "", "", NULL, "");
    join_into(buf, 5, "ab", "cd", NULL, "abcd");
    join_into(buf, 4, "ab", "cd", NULL, "abc");
}

/* Truncated to n - 1 characters, in whichever part the limit falls. */
static void test_join_truncates(void **state)
{
    char buf[64 + GUARD];

    join_into(buf, 7, "ab", "cd", "ef", "abcdef"); /* exact fit: 6 + NUL */
    join_into(buf, 6, "ab", "cd", "ef", "abcde");  /* in c */
    join_into(buf, 5, "ab", "cd", "ef", "abcd");   /* c dropped whole */
    join_into(buf, 4, "ab", "cd", "ef", "abc");    /* in b */
    join_into(buf, 3, "ab", "cd", "ef", "ab");     /* b and c dropped */
    join_into(buf, 2, "ab", "cd", "ef", "a");      /* in a */
    join_into(buf, 2, "", "", "xyz", "x");         /* empty parts take no room */
}

/* n = 1 is room for the NUL only: "" whatever the parts. */
static void test_join_n1(void **state)
{
    char buf[1 + GUARD];

    join_into(buf, 1, "abc", "def", "ghi", "");
    join_into(buf, 1, "", "", NULL, "");
    join_into(buf, 1, "a", "b", NULL, "");
}

/* The join is snprintf("%s%s%s") with the same size: checked on random parts and sizes. */
static void test_join_matches_snprintf(void **state)
{
    uint64_t s = 0x0123456789ABCDEFULL;
    char a[40], b[40], c[40], buf[128 + GUARD], want[128];

    for (int iter = 0; iter < 20000; iter++) {
        char *parts[3] = {a, b, c};
        for (int p = 0; p < 3; p++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t len = (size_t)(s >> 33) % 39;
            for (size_t i = 0; i < len; i++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                parts[p][i] = (char)(1 + (s >> 33) % 255); /* any byte but NUL */
            }
            parts[p][len] = '\0';
        }
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t n = 1 + (size_t)(s >> 33) % 128;
        const char *third = (s >> 20) % 4 == 0 ? NULL : c;
        snprintf(want, n, "%s%s%s", a, b, third ? third : "");
        join_into(buf, n, a, b, third, want);
    }
}

/* A long part is cut at the limit; the bytes past it are not copied. */
static void test_join_long_parts(void **state)
{
    enum { L = 100000 };
    char *a = malloc(L + 1), buf[256 + GUARD], want[256];

    assert_non_null(a);
    memset(a, 'a', L);
    a[L] = '\0';
    memset(want, 'a', 255);
    want[255] = '\0';
    join_into(buf, 256, a, "b", "c", want);
    join_into(buf, 256, "", a, NULL, want);
    join_into(buf, 256, "", "", a, want);
    free(a);
}

/* hub_str_set: from NULL, then reusing the memory while the text fits, growing when not. */
static void test_set_reuse_and_grow(void **state)
{
    char *text = NULL;
    size_t cap = 0;

    hub_str_set(&text, &cap, "hello", 5);
    assert_non_null(text);
    assert_memory_equal(text, "hello", 6);
    assert_true(cap >= 6);
    char *p0 = text;
    size_t cap0 = cap;

    hub_str_set(&text, &cap, "hi", 2); /* shorter: same memory */
    assert_ptr_equal(text, p0);
    assert_int_equal(cap, cap0);
    assert_memory_equal(text, "hi", 3);

    hub_str_set(&text, &cap, "", 0);
    assert_ptr_equal(text, p0);
    assert_string_equal(text, "");

    /* Exactly as long as fits (cap - 1 bytes and the NUL): same memory. */
    char fill[256];
    memset(fill, 'f', sizeof(fill));
    hub_str_set(&text, &cap, fill, cap0 - 1);
    assert_ptr_equal(text, p0);
    assert_memory_equal(text, fill, cap0 - 1);
    assert_int_equal(text[cap0 - 1], '\0');

    /* One byte more: it must grow (ASan reports the write if it does not). */
    hub_str_set(&text, &cap, fill, cap0);
    assert_true(cap >= cap0 + 1);
    assert_memory_equal(text, fill, cap0);
    assert_int_equal(text[cap0], '\0');

    /* Bytes, not C strings: NULs inside are copied, only n bytes are read. */
    hub_str_set(&text, &cap, "a\0b\0cXYZ", 5);
    assert_memory_equal(text, "a\0b\0c\0", 6);

    /* Many sizes up and down: always the exact bytes and a NUL. */
    for (size_t n = 0; n < sizeof(fill); n = n * 3 + 1) {
        memset(fill, (int)('a' + n % 26), n);
        hub_str_set(&text, &cap, fill, n);
        assert_true(cap > n);
        assert_memory_equal(text, fill, n);
        assert_int_equal(text[n], '\0');
        hub_str_set(&text, &cap, "z", 1);
        assert_string_equal(text, "z");
    }
    hub_free(text);
}

/* hub_hash: a pure function of n bytes (length included); hub_hash_str is hub_hash(s, strlen). */
static void test_hash_basics(void **state)
{
    char buf[32];

    assert_true(hub_hash("abc", 3) == hub_hash("abc", 3));
    memcpy(buf, "abcXYZ", 6);
    assert_true(hub_hash(buf, 3) == hub_hash("abc", 3)); /* bytes past n do not count */
    assert_true(hub_hash_str("dmx.fixtures") == hub_hash("dmx.fixtures", 12));
    assert_true(hub_hash_str("") == hub_hash("", 0));
    /* Length matters, NUL bytes included. */
    assert_true(hub_hash("a", 1) != hub_hash("a\0", 2));
    assert_true(hub_hash("", 0) != hub_hash("\0", 1));
    assert_true(hub_hash("\0", 1) != hub_hash("\0\0", 2));
    /* Every single-bit change of a 17-byte key (two words and a tail) changes the hash. */
    char key[17];
    memcpy(key, "fixture:par-0017x", 17);
    uint64_t h0 = hub_hash(key, 17);
    for (int i = 0; i < 17 * 8; i++) {
        key[i / 8] ^= (char)(1 << (i % 8));
        if (hub_hash(key, 17) == h0)
            fail_msg("flipping bit %d does not change the hash", i);
        key[i / 8] ^= (char)(1 << (i % 8));
    }
    /* Only n bytes are read: exact-size heap blocks for ASan. */
    for (size_t n = 0; n <= 17; n++) {
        unsigned char *p = malloc(n ? n : 1);
        assert_non_null(p);
        memset(p, 0xa5, n);
        (void)hub_hash(p, n);
        free(p);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The tables index with the low bits: 100,000 similar keys spread over 1024 buckets with no full
 * 64-bit collision and no bucket far from the mean of ~98. */
static void test_hash_spread(void **state)
{
    enum { N = 100000, B = 1024 };
    uint64_t *h = malloc(N * sizeof(*h));
    static unsigned count[B];
    char key[32];

    assert_non_null(h);
    memset(count, 0, sizeof(count));
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof(key), "dmx.fixtures.f%d", i);
        h[i] = hub_hash(key, (size_t)n);
        count[h[i] & (B - 1)]++;
    }
    unsigned max = 0, min = N;
    for (int b = 0; b < B; b++) {
        max = count[b] > max ? count[b] : max;
        min = count[b] < min ? count[b] : min;
    }
    if (max > 160 || min < 45)
        fail_msg("bucket counts from %u to %u (mean %d)", min, max, N / B);
    qsort(h, N, sizeof(*h), cmp_u64);
    for (int i = 1; i < N; i++)
        if (h[i] == h[i - 1])
            fail_msg("64-bit collision among %d keys", N);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_fits),
        cmocka_unit_test(test_join_null_third),
        cmocka_unit_test(test_join_truncates),
        cmocka_unit_test(test_join_n1),
        cmocka_unit_test(test_join_matches_snprintf),
        cmocka_unit_test(test_join_long_parts),
        cmocka_unit_test(test_set_reuse_and_grow),
        cmocka_unit_test(test_hash_basics),
        cmocka_unit_test(test_hash_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
