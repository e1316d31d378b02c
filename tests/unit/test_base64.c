/* tests/unit/test_base64.c - core/base64: RFC 4648 vectors, padding, DMX frames, output size. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/base64.h"

#define GUARD 8

/* Encode n bytes into a buffer of exactly HUB_BASE64_LEN(n) + 1 bytes plus guard bytes, and
 * check the text, the returned length and that nothing past the NUL changed. */
static void expect_enc(const void *in, size_t n, const char *want)
{
    size_t cap = HUB_BASE64_LEN(n) + 1;
    char *out = malloc(cap + GUARD);

    assert_non_null(out);
    memset(out, '#', cap + GUARD);
    size_t got = hub_base64_encode(in, n, out);
    if (got != strlen(want) || memcmp(out, want, got) != 0)
        fail_msg("n %zu: got %zu [%.*s], want [%s]", n, got, (int)got, out, want);
    assert_int_equal(got, HUB_BASE64_LEN(n));
    assert_int_equal(out[got], '\0');
    for (size_t i = cap; i < cap + GUARD; i++)
        if (out[i] != '#')
            fail_msg("n %zu: byte %zu past the output was written", n, i);
    free(out);
}

/* RFC 4648 section 10. */
static void test_rfc4648_vectors(void **state)
{
    expect_enc("", 0, "");
    expect_enc("f", 1, "Zg==");
    expect_enc("fo", 2, "Zm8=");
    expect_enc("foo", 3, "Zm9v");
    expect_enc("foob", 4, "Zm9vYg==");
    expect_enc("fooba", 5, "Zm9vYmE=");
    expect_enc("foobar", 6, "Zm9vYmFy");
}

static void test_len_macro(void **state)
{
    static const size_t want[] = {0, 4, 4, 4, 8, 8, 8, 12};

    for (size_t n = 0; n < sizeof(want) / sizeof(want[0]); n++)
        assert_int_equal(HUB_BASE64_LEN(n), want[n]);
    assert_int_equal(HUB_BASE64_LEN(512), 684);
    assert_int_equal(HUB_BASE64_LEN(513), 684);
    assert_int_equal(HUB_BASE64_LEN(514), 688);
    /* The macro takes expressions. */
    size_t a = 2, b = 3;
    assert_int_equal(HUB_BASE64_LEN(a + b), 8);
}

/* Lengths 0..5 of bytes that exercise every bit: the alphabet's ends and the padding. */
static void test_lengths_0_to_5(void **state)
{
    static const uint8_t ff[5] = {0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t zero[5] = {0};
    static const uint8_t mix[5] = {0xfb, 0xff, 0xbf, 0x00, 0x10};

    expect_enc(ff, 0, "");
    expect_enc(ff, 1, "/w==");
    expect_enc(ff, 2, "//8=");
    expect_enc(ff, 3, "////");
    expect_enc(ff, 4, "/////w==");
    expect_enc(ff, 5, "//////8=");
    expect_enc(zero, 1, "AA==");
    expect_enc(zero, 2, "AAA=");
    expect_enc(zero, 3, "AAAA");
    expect_enc(zero, 4, "AAAAAA==");
    expect_enc(zero, 5, "AAAAAAA=");
    /* 0xfb 0xff 0xbf is "+/+/": both non-alphanumeric characters. */
    expect_enc(mix, 3, "+/+/");
    expect_enc(mix, 4, "+/+/AA==");
    expect_enc(mix, 5, "+/+/ABA=");
}

/* Each 6-bit value maps to its alphabet character. */
static void test_alphabet(void **state)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t in[48];
    char want[65];

    /* 64 sextets 0..63 packed into 48 bytes. */
    for (int i = 0; i < 16; i++) {
        uint32_t v = (uint32_t)(4 * i) << 18 | (uint32_t)(4 * i + 1) << 12 |
                     (uint32_t)(4 * i + 2) << 6 | (uint32_t)(4 * i + 3);
        in[3 * i] = (uint8_t)(v >> 16);
        in[3 * i + 1] = (uint8_t)(v >> 8);
        in[3 * i + 2] = (uint8_t)v;
    }
    memcpy(want, alpha, sizeof(want));
    expect_enc(in, sizeof(in), want);
}

/* Decoder used only to check the encoder on frames. */
static int dec_char(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static size_t decode(const char *s, size_t len, uint8_t *out)
{
    size_t o = 0;
    assert_int_equal(len % 4, 0);
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=') {
                assert_true(i + 4 == len && k >= 2); /* padding only at the very end */
                v[k] = 0;
                pad++;
            } else {
                assert_int_equal(pad, 0);
                v[k] = dec_char(s[i + k]);
                assert_true(v[k] >= 0);
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    return o;
}

/* A 512-slot DMX frame: 684 characters, one padding '=' (512 = 3 * 170 + 2). */
static void test_dmx_frame(void **state)
{
    uint8_t frame[512], back[512];
    char out[HUB_BASE64_LEN(512) + 1 + GUARD];

    /* All zero: "AAAA" x 170, then "AAA=". */
    memset(frame, 0, sizeof(frame));
    memset(out, '#', sizeof(out));
    assert_int_equal(hub_base64_encode(frame, 512, out), 684);
    for (int i = 0; i < 680; i++)
        assert_int_equal(out[i], 'A');
    assert_memory_equal(out + 680, "AAA=\0########", 4 + 1 + GUARD);

    /* Full: "////" x 170, then "//8=". */
    memset(frame, 0xff, sizeof(frame));
    assert_int_equal(hub_base64_encode(frame, 512, out), 684);
    for (int i = 0; i < 680; i++)
        assert_int_equal(out[i], '/');
    assert_memory_equal(out + 680, "//8=", 5);

    /* A ramp, and many pseudo-random frames: decode gives the frame back. */
    for (int i = 0; i < 512; i++)
        frame[i] = (uint8_t)i;
    assert_int_equal(hub_base64_encode(frame, 512, out), 684);
    assert_memory_equal(out, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 44);
    assert_memory_equal(out + 680, "/v8=", 5);
    assert_int_equal(decode(out, 684, back), 512);
    assert_memory_equal(back, frame, 512);

    uint64_t s = 88172645463325252ULL;
    for (int f = 0; f < 500; f++) {
        for (int i = 0; i < 512; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            frame[i] = (uint8_t)(s >> 24);
        }
        memset(out, '#', sizeof(out));
        assert_int_equal(hub_base64_encode(frame, 512, out), 684);
        assert_int_equal(out[684], '\0');
        assert_int_equal(out[685], '#');
        assert_int_equal(decode(out, 684, back), 512);
        assert_memory_equal(back, frame, 512);
    }
}

/* Every length 0..600 round-trips and writes exactly HUB_BASE64_LEN(n) + 1 bytes. */
static void test_all_lengths(void **state)
{
    uint8_t in[600], back[600];

    for (int i = 0; i < 600; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= 600; n++) {
        size_t cap = HUB_BASE64_LEN(n) + 1;
        char *out = malloc(cap); /* exact: ASan catches a byte too many */
        assert_non_null(out);
        size_t got = hub_base64_encode(in, n, out);
        assert_int_equal(got, cap - 1);
        assert_int_equal(strlen(out), got);
        assert_int_equal(decode(out, got, back), n);
        assert_memory_equal(back, in, n);
        free(out);
    }
}

/* Only n bytes of input are read (ASan: an exact-size heap input). */
static void test_reads_only_n(void **state)
{
    for (size_t n = 0; n <= 5; n++) {
        uint8_t *in = malloc(n ? n : 1);
        char out[16];
        assert_non_null(in);
        memset(in, 'a', n);
        hub_base64_encode(in, n, out);
        free(in);
    }
    expect_enc("aaaaa", 5, "YWFhYWE=");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors), cmocka_unit_test(test_len_macro),
        cmocka_unit_test(test_lengths_0_to_5),  cmocka_unit_test(test_alphabet),
        cmocka_unit_test(test_dmx_frame),       cmocka_unit_test(test_all_lengths),
        cmocka_unit_test(test_reads_only_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
