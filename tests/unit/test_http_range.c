/* tests/unit/test_http_range.c - the Range header of file routes
 * (proto/http_file.c) against RFC 7233: one byte range is served (206), one
 * that starts past the end is unsatisfiable (416), anything not a valid
 * byte-range set is ignored (200, the whole file), and so are several
 * ranges (the documented choice). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proto/proto_int.h"

#define SIZE 10000u

static void expect_one(const char *hdr, uint64_t size, uint64_t start, uint64_t end)
{
    hub_range_t r;
    hub_range_kind_t k = hub__http_range_parse(hdr, size, &r);
    if (k != HUB_RANGE_ONE || r.kind != HUB_RANGE_ONE || r.start != start || r.end != end)
        fail_msg("\"%s\" of %llu: kind %d %llu-%llu, expected %llu-%llu", hdr,
                 (unsigned long long)size, (int)k, (unsigned long long)r.start,
                 (unsigned long long)r.end, (unsigned long long)start, (unsigned long long)end);
}

static void expect_kind(const char *hdr, uint64_t size, hub_range_kind_t want)
{
    hub_range_t r;
    hub_range_kind_t k = hub__http_range_parse(hdr, size, &r);
    if (k != want || r.kind != want)
        fail_msg("\"%s\" of %llu: kind %d, expected %d", hdr ? hdr : "(null)",
                 (unsigned long long)size, (int)k, (int)want);
}

static void test_single_ranges(void **state)
{
    expect_one("bytes=0-499", SIZE, 0, 499);
    expect_one("bytes=500-999", SIZE, 500, 999);
    expect_one("bytes=0-0", SIZE, 0, 0);
    expect_one("bytes=9999-9999", SIZE, 9999, 9999);
    expect_one("bytes=9500-", SIZE, 9500, 9999);
    expect_one("bytes=0-", SIZE, 0, 9999);
    expect_one("bytes=-500", SIZE, 9500, 9999);
    expect_one("bytes=-1", SIZE, 9999, 9999);
    expect_one("bytes=0-0", 1, 0, 0);
}

static void test_clamped_to_the_file(void **state)
{
    /* A last-byte-pos past the end, or a suffix longer than the file, means
     * "to the end" / "the whole file" (2.1). */
    expect_one("bytes=9000-20000", SIZE, 9000, 9999);
    expect_one("bytes=0-99999999999999999999999", SIZE, 0, 9999);
    expect_one("bytes=-10000", SIZE, 0, 9999);
    expect_one("bytes=-20000", SIZE, 0, 9999);
    expect_one("bytes=-99999999999999999999999", SIZE, 0, 9999);
    /* more than 4 GiB */
    expect_one("bytes=5000000000-", 6000000000ull, 5000000000ull, 5999999999ull);
}

static void test_syntax_is_lenient_where_the_rfc_is(void **state)
{
    expect_one("BYTES=0-9", SIZE, 0, 9);  /* units are case-insensitive */
    expect_one("bytes=0-9 ", SIZE, 0, 9); /* OWS around list elements */
    expect_one("bytes= 0-9", SIZE, 0, 9);
    expect_one("bytes=,0-9,", SIZE, 0, 9); /* empty list elements */
    expect_one("bytes=, ,0-9", SIZE, 0, 9);
    expect_one("  bytes=0-9", SIZE, 0, 9);
}

static void test_unsatisfiable(void **state)
{
    expect_kind("bytes=10000-", SIZE, HUB_RANGE_UNSATISFIABLE);
    expect_kind("bytes=10000-20000", SIZE, HUB_RANGE_UNSATISFIABLE);
    expect_kind("bytes=99999999999999999999999-", SIZE, HUB_RANGE_UNSATISFIABLE);
    expect_kind("bytes=-0", SIZE, HUB_RANGE_UNSATISFIABLE);
    expect_kind("bytes=0-", 0, HUB_RANGE_UNSATISFIABLE);
    expect_kind("bytes=0-0", 0, HUB_RANGE_UNSATISFIABLE);
    expect_kind("bytes=-0", 0, HUB_RANGE_UNSATISFIABLE);
}

static void test_invalid_is_ignored(void **state)
{
    static const char *const bad[] = {
        "",           "bytes",       "bytes=",      "bytes= ",    "bytes=,",
        "bytes=-",    "bytes=a-b",   "bytes=1-a",   "bytes=1",    "bytes=--1",
        "bytes=1--2", "bytes=+1-2",  "bytes=-+1",   "bytes=1-2x", "bytes=1 -2",
        "bytes=1- 2", "bytes=5-2", /* last < first: invalid (2.1), not unsatisfiable */
        "bytes =0-1", "bytes:0-1",   "byte=0-1",    "items=0-1",  "none",
        "0-1",        "bytes=0-1;x", "bytes=0x10-",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_kind(bad[i], SIZE, HUB_RANGE_NONE);
    expect_kind(NULL, SIZE, HUB_RANGE_NONE);
    /* an invalid range makes the whole header invalid, even with a valid one */
    expect_kind("bytes=0-1,5-2", SIZE, HUB_RANGE_NONE);
}

static void test_several_ranges_get_the_whole_file(void **state)
{
    expect_kind("bytes=0-1,5-9", SIZE, HUB_RANGE_NONE);
    expect_kind("bytes=0-1, -5", SIZE, HUB_RANGE_NONE);
    expect_kind("bytes=20000-,30000-", SIZE, HUB_RANGE_NONE);
}

static void test_empty_file(void **state)
{
    /* A suffix of a zero-length file: only the (empty) whole can be sent. */
    expect_kind("bytes=-5", 0, HUB_RANGE_NONE);
    expect_kind(NULL, 0, HUB_RANGE_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_ranges),
        cmocka_unit_test(test_clamped_to_the_file),
        cmocka_unit_test(test_syntax_is_lenient_where_the_rfc_is),
        cmocka_unit_test(test_unsatisfiable),
        cmocka_unit_test(test_invalid_is_ignored),
        cmocka_unit_test(test_several_ranges_get_the_whole_file),
        cmocka_unit_test(test_empty_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
