/* tests/unit/test_uuid.c - core/uuid: text form, parsing, version 4 generation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/uuid.h"

/* RFC 9562 appendix A.4's example v4 UUID and its 16 bytes, written by hand. */
#define EX_TEXT "919108f7-52d1-4320-9bac-f847db4148a8"
static const uint8_t ex_bytes[16] = {
    0x91, 0x91, 0x08, 0xf7, 0x52, 0xd1, 0x43, 0x20, 0x9b, 0xac, 0xf8, 0x47, 0xdb, 0x41, 0x48, 0xa8,
};

static int parse_str(const char *s, uint8_t out[16])
{
    return hub_uuid_parse(s, strlen(s), out);
}

static void test_format_known(void **state)
{
    char text[HUB_UUID_LEN + 1];

    memset(text, 'x', sizeof(text));
    hub_uuid_format(ex_bytes, text);
    assert_string_equal(text, EX_TEXT);

    static const uint8_t zero[16] = {0};
    hub_uuid_format(zero, text);
    assert_string_equal(text, "00000000-0000-0000-0000-000000000000");

    uint8_t ones[16];
    memset(ones, 0xff, sizeof(ones));
    hub_uuid_format(ones, text);
    assert_string_equal(text, "ffffffff-ffff-ffff-ffff-ffffffffffff");
}

static void test_parse_known(void **state)
{
    uint8_t id[16];

    assert_int_equal(parse_str(EX_TEXT, id), 0);
    assert_memory_equal(id, ex_bytes, 16);
    /* Upper and mixed case parse to the same bytes. */
    memset(id, 0, sizeof(id));
    assert_int_equal(parse_str("919108F7-52D1-4320-9BAC-F847DB4148A8", id), 0);
    assert_memory_equal(id, ex_bytes, 16);
    memset(id, 0, sizeof(id));
    assert_int_equal(parse_str("919108f7-52D1-4320-9bAc-F847db4148A8", id), 0);
    assert_memory_equal(id, ex_bytes, 16);
    /* Only len characters are read. */
    assert_int_equal(hub_uuid_parse(EX_TEXT "trailing", HUB_UUID_LEN, id), 0);
    assert_memory_equal(id, ex_bytes, 16);
}

static void test_round_trip(void **state)
{
    uint8_t id[16], back[16];
    char text[HUB_UUID_LEN + 1];

    for (int i = 0; i < 200; i++) {
        hub_uuid_v4(id);
        hub_uuid_format(id, text);
        assert_int_equal(strlen(text), HUB_UUID_LEN);
        assert_int_equal(hub_uuid_valid(text, HUB_UUID_LEN), 1);
        memset(back, 0, sizeof(back));
        assert_int_equal(hub_uuid_parse(text, HUB_UUID_LEN, back), 0);
        assert_memory_equal(back, id, 16);
    }
}

static void test_version_variant_bits(void **state)
{
    uint8_t id[16];
    char text[HUB_UUID_LEN + 1];

    for (int i = 0; i < 1000; i++) {
        hub_uuid_v4(id);
        if ((id[6] & 0xF0) != 0x40)
            fail_msg("version nibble 0x%x", id[6] >> 4);
        if ((id[8] & 0xC0) != 0x80)
            fail_msg("variant bits 0x%x", id[8] >> 6);
        /* In text: "xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx". */
        hub_uuid_format(id, text);
        assert_int_equal(text[14], '4');
        assert_non_null(strchr("89ab", text[19]));
    }
}

static void test_rejects(void **state)
{
    static const char *bad[] = {
        "",
        "919108f7-52d1-4320-9bac-f847db4148a",    /* 35 */
        "919108f7-52d1-4320-9bac-f847db4148a80",  /* 37 */
        "919108f752d143209bacf847db4148a8",       /* no dashes, 32 */
        "919108f7052d1-4320-9bac-f847db4148a8",   /* dash replaced by digit */
        "919108f7-52d1-4320-9bac0f847db4148a8",   /* last dash replaced */
        "919108f7-52d14-320-9bac-f847db4148a8",   /* dash moved */
        "919108g7-52d1-4320-9bac-f847db4148a8",   /* non-hex g */
        "919108f7-52d1-4320-9bac-f847db4148aZ",   /* non-hex Z */
        " 919108f7-52d1-4320-9bac-f847db4148a",   /* leading space */
        "919108f7-52d1-4320-9bac-f847db4148a ",   /* trailing space */
        "919108f7-52d1-4320-9bac-f847db\t148a8",  /* tab */
        "{919108f7-52d1-4320-9bac-f847db4148}",   /* braces */
        "919108f7+52d1-4320-9bac-f847db4148a8",   /* wrong separator */
        "919108f7-52d1-4320-9bac-f847db4148a8\n", /* 37 with newline */
    };
    uint8_t id[16], keep[16];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(id, 0x5a, sizeof(id));
        memcpy(keep, id, sizeof(id));
        if (parse_str(bad[i], id) != HUB_EINVAL)
            fail_msg("accepted [%s]", bad[i]);
        /* Out-parameters are written only on success. */
        assert_memory_equal(id, keep, 16);
        if (hub_uuid_valid(bad[i], strlen(bad[i])) != 0)
            fail_msg("valid [%s]", bad[i]);
    }
    /* A NUL inside the length, a length shorter than the text, NULL. */
    char s[HUB_UUID_LEN + 1];
    memcpy(s, EX_TEXT, sizeof(s));
    s[20] = '\0';
    assert_int_equal(hub_uuid_parse(s, HUB_UUID_LEN, id), HUB_EINVAL);
    assert_int_equal(hub_uuid_parse(EX_TEXT, HUB_UUID_LEN - 1, id), HUB_EINVAL);
    assert_int_equal(hub_uuid_parse(NULL, HUB_UUID_LEN, id), HUB_EINVAL);
    assert_int_equal(hub_uuid_valid(NULL, 0), 0);
    /* High bytes (UTF-8) are not digits. */
    memcpy(s, EX_TEXT, sizeof(s));
    s[3] = (char)0xC3;
    assert_int_equal(hub_uuid_valid(s, HUB_UUID_LEN), 0);
}

static void test_each_position_checked(void **state)
{
    char s[HUB_UUID_LEN + 1];

    /* Every digit position rejects a non-digit, every dash position a digit. */
    for (int pos = 0; pos < HUB_UUID_LEN; pos++) {
        memcpy(s, EX_TEXT, sizeof(s));
        s[pos] = (s[pos] == '-') ? 'a' : '-';
        if (hub_uuid_valid(s, HUB_UUID_LEN) != 0)
            fail_msg("accepted change at %d: %s", pos, s);
    }
}

static void test_any_version_valid(void **state)
{
    uint8_t id[16];

    /* Syntax only: a v1, a v7 and the nil UUID are all valid. */
    assert_int_equal(parse_str("c232ab00-9414-11ec-b3c8-9f6bdeced846", id), 0);
    assert_int_equal(parse_str("017f22e2-79b0-7cc3-98c4-dc0c0c07398f", id), 0);
    assert_int_equal(parse_str("00000000-0000-0000-0000-000000000000", id), 0);
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static void test_unique(void **state)
{
    enum { N = 1000 };
    uint8_t(*ids)[16] = malloc(N * sizeof(*ids));

    assert_non_null(ids);
    for (int i = 0; i < N; i++)
        hub_uuid_v4(ids[i]);
    qsort(ids, N, sizeof(*ids), cmp_id);
    for (int i = 1; i < N; i++)
        if (memcmp(ids[i - 1], ids[i], 16) == 0)
            fail_msg("duplicate UUID at sorted index %d", i);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known),      cmocka_unit_test(test_parse_known),
        cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_version_variant_bits),
        cmocka_unit_test(test_rejects),           cmocka_unit_test(test_each_position_checked),
        cmocka_unit_test(test_any_version_valid), cmocka_unit_test(test_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
