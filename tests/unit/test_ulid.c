/* tests/unit/test_ulid.c - core/ulid: validation, canonical form, decode, encode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/ulid.h"

/* The example from the ULID spec and its decoded timestamp (computed by hand:
 * 1469918176385, sometimes quoted with it, encodes as 01ARYZ6S41). */
#define SPEC_ID "01ARZ3NDEKTSV4RRFFQ69G5FAV"
#define SPEC_MS 1469922850259ULL /* 01ARZ3NDEK in base32 */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int valid_str(const char *s)
{
    return hub_ulid_valid(s, strlen(s));
}

/* Independent reference decoder for the test: digit value or -1. */
static int ref_digit(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    const char *p = c ? strchr(crockford, c) : NULL;
    return p ? (int)(p - crockford) : -1;
}

static void test_valid_canonical(void **state)
{
    assert_int_equal(valid_str(SPEC_ID), 1);
    assert_int_equal(valid_str("01HZX3YJ9YJ3M5QAZ3GZ8K3QFF"), 1);
    assert_int_equal(valid_str("00000000000000000000000000"), 1);
    /* Largest timestamp: 48 bits all ones is 7ZZZZZZZZZ. */
    assert_int_equal(valid_str("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"), 1);
    /* Only len characters are looked at. */
    assert_int_equal(hub_ulid_valid(SPEC_ID "EXTRA", HUB_ULID_LEN), 1);
}

static void test_lowercase_accepted(void **state)
{
    assert_int_equal(valid_str("01arz3ndektsv4rrffq69g5fav"), 1);
    assert_int_equal(valid_str("01aRz3NdEkTsV4rRfFq69G5fAv"), 1);
}

static void test_wrong_length(void **state)
{
    assert_int_equal(hub_ulid_valid(SPEC_ID, 0), 0);
    assert_int_equal(hub_ulid_valid("", 0), 0);
    assert_int_equal(hub_ulid_valid(SPEC_ID, 25), 0);
    assert_int_equal(valid_str("01ARZ3NDEKTSV4RRFFQ69G5FA"), 0);
    assert_int_equal(valid_str(SPEC_ID "A"), 0);
    assert_int_equal(hub_ulid_valid(SPEC_ID "A", 27), 0);
}

static void test_invalid_chars(void **state)
{
    static const char bad[] = "ILOUilou-_ .!@#{}\"\\/\t\n+=~*";
    char s[HUB_ULID_LEN + 1];

    /* Each bad character at each position makes the id invalid. */
    for (size_t b = 0; b < sizeof(bad) - 1; b++) {
        for (int pos = 0; pos < HUB_ULID_LEN; pos++) {
            memcpy(s, SPEC_ID, sizeof(s));
            s[pos] = bad[b];
            if (hub_ulid_valid(s, HUB_ULID_LEN) != 0)
                fail_msg("char 0x%02x at %d accepted", (unsigned char)bad[b], pos);
        }
    }
    /* An embedded NUL inside the length is not a digit either. */
    memcpy(s, SPEC_ID, sizeof(s));
    s[13] = '\0';
    assert_int_equal(hub_ulid_valid(s, HUB_ULID_LEN), 0);
    /* Bytes above ASCII (UTF-8 lead/continuation bytes). */
    memcpy(s, SPEC_ID, sizeof(s));
    s[5] = (char)0xC3;
    assert_int_equal(hub_ulid_valid(s, HUB_ULID_LEN), 0);
}

static void test_timestamp_overflow(void **state)
{
    /* 10 digits hold 50 bits; a first digit above 7 needs more than 48. */
    assert_int_equal(valid_str("8ZZZZZZZZZZZZZZZZZZZZZZZZZ"), 0);
    assert_int_equal(valid_str("80000000000000000000000000"), 0);
    assert_int_equal(valid_str("ZZZZZZZZZZZZZZZZZZZZZZZZZZ"), 0);
    assert_int_equal(valid_str("z0000000000000000000000000"), 0);
    assert_int_equal(valid_str("9"
                               "1ARZ3NDEKTSV4RRFFQ69G5FAV"),
                     0);
    assert_int_equal(valid_str("7"
                               "1ARZ3NDEKTSV4RRFFQ69G5FAV"),
                     1);
}

static void test_null(void **state)
{
    assert_int_equal(hub_ulid_valid(NULL, 0), 0);
    assert_int_equal(hub_ulid_valid(NULL, HUB_ULID_LEN), 0);
}

static void test_canon_uppercases(void **state)
{
    char out[HUB_ULID_LEN + 1];

    memset(out, 'x', sizeof(out));
    hub_ulid_canon(out, "01arz3ndektsv4rrffq69g5fav");
    assert_string_equal(out, SPEC_ID);
    assert_int_equal(out[HUB_ULID_LEN], '\0');

    hub_ulid_canon(out, SPEC_ID);
    assert_string_equal(out, SPEC_ID);

    /* Input need not be NUL-terminated after 26 characters. */
    hub_ulid_canon(out, "7zzzzzzzzzzzzzzzzzzzzzzzzzTRAILING");
    assert_string_equal(out, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
}

static void test_time_ms(void **state)
{
    assert_true(hub_ulid_time_ms(SPEC_ID) == SPEC_MS);
    assert_true(hub_ulid_time_ms("01arz3ndektsv4rrffq69g5fav") == SPEC_MS);
    assert_true(hub_ulid_time_ms("00000000000000000000000000") == 0);
    assert_true(hub_ulid_time_ms("0000000001ZZZZZZZZZZZZZZZZ") == 1);
    assert_true(hub_ulid_time_ms("7ZZZZZZZZZ0000000000000000") == (1ULL << 48) - 1);
}

static void test_encode_known(void **state)
{
    static const uint8_t zero[10] = {0};
    static const uint8_t ones[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    /* 0x08 0x42 0x10 0x84 0x21 repeated: every 5-bit group is 00001. */
    static const uint8_t step[10] = {0x08, 0x42, 0x10, 0x84, 0x21, 0x08, 0x42, 0x10, 0x84, 0x21};
    char out[HUB_ULID_LEN + 1];

    hub_ulid_encode(out, SPEC_MS, zero);
    assert_string_equal(out, "01ARZ3NDEK0000000000000000");
    hub_ulid_encode(out, (1ULL << 48) - 1, ones);
    assert_string_equal(out, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    hub_ulid_encode(out, 0, step);
    assert_string_equal(out, "00000000001111111111111111");
}

/* xorshift64*: deterministic, seeded, good enough for test inputs. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void test_round_trip_random(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    char out[HUB_ULID_LEN + 1];
    char canon[HUB_ULID_LEN + 1];

    for (int n = 0; n < 200000; n++) {
        uint64_t ms = rng_next(&seed) & ((1ULL << 48) - 1);
        uint8_t rnd[10];
        for (int i = 0; i < 10; i++)
            rnd[i] = (uint8_t)rng_next(&seed);

        hub_ulid_encode(out, ms, rnd);
        assert_int_equal(strlen(out), HUB_ULID_LEN);
        assert_int_equal(hub_ulid_valid(out, HUB_ULID_LEN), 1);
        assert_true(hub_ulid_time_ms(out) == ms);
        hub_ulid_canon(canon, out);
        assert_string_equal(canon, out);

        /* Decode the 80 random bits independently and compare. */
        uint8_t back[10] = {0};
        int bit = 0;
        for (int i = 10; i < HUB_ULID_LEN; i++) {
            int v = ref_digit(out[i]);
            assert_true(v >= 0);
            for (int b = 4; b >= 0; b--, bit++)
                if ((v >> b) & 1)
                    back[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
        }
        assert_memory_equal(back, rnd, 10);

        /* Lower-cased, it is still valid and decodes the same. */
        char low[HUB_ULID_LEN + 1];
        for (int i = 0; i <= HUB_ULID_LEN; i++)
            low[i] = (out[i] >= 'A' && out[i] <= 'Z') ? (char)(out[i] - 'A' + 'a') : out[i];
        assert_int_equal(hub_ulid_valid(low, HUB_ULID_LEN), 1);
        assert_true(hub_ulid_time_ms(low) == ms);
        hub_ulid_canon(canon, low);
        assert_string_equal(canon, out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_canonical),    cmocka_unit_test(test_lowercase_accepted),
        cmocka_unit_test(test_wrong_length),       cmocka_unit_test(test_invalid_chars),
        cmocka_unit_test(test_timestamp_overflow), cmocka_unit_test(test_null),
        cmocka_unit_test(test_canon_uppercases),   cmocka_unit_test(test_time_ms),
        cmocka_unit_test(test_encode_known),       cmocka_unit_test(test_round_trip_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
