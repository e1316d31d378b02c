/* tests/unit/test_jbuf.c - core/jbuf: byte-exact JSON text, commas, escapes, numbers, ownership,
 * growth, and a round trip through jansson. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jbuf.h"
#include "core/mem.h"

/* The buffer holds exactly want (len and bytes) and is NUL-terminated. */
static void expect_text(const hub_jbuf_t *b, const char *want, size_t n)
{
    assert_non_null(b->p);
    if (b->len != n || memcmp(b->p, want, n) != 0)
        fail_msg("got (%zu) [%.*s], want (%zu) [%.*s]", b->len, (int)b->len, b->p, n, (int)n, want);
    assert_int_equal(b->p[b->len], '\0');
    assert_true(b->cap > b->len);
}
#define EXPECT(b, lit) expect_text((b), (lit), sizeof(lit) - 1)

static void test_init_free(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    EXPECT(&b, "");
    hub_jbuf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    hub_jbuf_free(&b); /* freeing twice is harmless: it owns nothing now */
    assert_null(b.p);
}

static void test_header_example(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "r");
    hub_jbuf_int(&b, 1);
    hub_jbuf_key(&b, "g");
    hub_jbuf_int(&b, 2);
    hub_jbuf_close(&b, '}');
    EXPECT(&b, "{\"r\":1,\"g\":2}");
    hub_jbuf_free(&b);
}

static void test_nested(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "a");
    hub_jbuf_open(&b, '[');
    hub_jbuf_int(&b, 1);
    hub_jbuf_uint(&b, 2);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "b");
    hub_jbuf_open(&b, '[');
    hub_jbuf_close(&b, ']');
    hub_jbuf_close(&b, '}');
    hub_jbuf_open(&b, '{');
    hub_jbuf_close(&b, '}');
    hub_jbuf_open(&b, '[');
    hub_jbuf_open(&b, '[');
    hub_jbuf_close(&b, ']');
    hub_jbuf_open(&b, '[');
    hub_jbuf_str(&b, "x");
    hub_jbuf_close(&b, ']');
    hub_jbuf_close(&b, ']');
    hub_jbuf_close(&b, ']');
    hub_jbuf_key(&b, "c");
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "d");
    hub_jbuf_null(&b);
    hub_jbuf_key(&b, "e");
    hub_jbuf_bool(&b, 1);
    hub_jbuf_key(&b, "f");
    hub_jbuf_bool(&b, 0);
    hub_jbuf_key(&b, "n");
    hub_jbuf_bool(&b, 42); /* any non-zero is true */
    hub_jbuf_close(&b, '}');
    hub_jbuf_key(&b, "g");
    hub_jbuf_str(&b, "x");
    hub_jbuf_close(&b, '}');
    EXPECT(&b, "{\"a\":[1,2,{\"b\":[]},{},[[],[\"x\"]]],"
               "\"c\":{\"d\":null,\"e\":true,\"f\":false,\"n\":true},\"g\":\"x\"}");
    hub_jbuf_free(&b);
}

/* A comma follows every kind of value, and never an opener, a key or a comma. */
static void test_commas_after_each_kind(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '[');
    hub_jbuf_str(&b, "s");
    hub_jbuf_strn(&b, "tt", 1);
    hub_jbuf_int(&b, -1);
    hub_jbuf_uint(&b, 1);
    hub_jbuf_bool(&b, 1);
    hub_jbuf_bool(&b, 0);
    hub_jbuf_null(&b);
    hub_jbuf_json(&b, "{\"k\":[1,2]}", 11);
    hub_jbuf_open(&b, '{');
    hub_jbuf_close(&b, '}');
    hub_jbuf_open(&b, '[');
    hub_jbuf_close(&b, ']');
    hub_jbuf_str(&b, "");
    hub_jbuf_close(&b, ']');
    EXPECT(&b, "[\"s\",\"t\",-1,1,true,false,null,{\"k\":[1,2]},{},[],\"\"]");

    /* Top level: a sequence of values gets commas too (callers wrap it). */
    hub_jbuf_reset(&b);
    hub_jbuf_int(&b, 1);
    hub_jbuf_int(&b, 2);
    hub_jbuf_open(&b, '[');
    hub_jbuf_close(&b, ']');
    EXPECT(&b, "1,2,[]");

    /* Values after keys: no comma between key and value, one before the next key. */
    hub_jbuf_reset(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "a");
    hub_jbuf_open(&b, '{');
    hub_jbuf_close(&b, '}');
    hub_jbuf_key(&b, "b");
    hub_jbuf_json(&b, "7", 1);
    hub_jbuf_key(&b, "c");
    hub_jbuf_str(&b, "v");
    hub_jbuf_keyn(&b, "dxx", 1);
    hub_jbuf_uint(&b, 3);
    hub_jbuf_close(&b, '}');
    EXPECT(&b, "{\"a\":{},\"b\":7,\"c\":\"v\",\"d\":3}");

    /* A comma written by hand is not doubled. */
    hub_jbuf_reset(&b);
    hub_jbuf_open(&b, '[');
    hub_jbuf_int(&b, 1);
    hub_jbuf_lit(&b, ",");
    hub_jbuf_int(&b, 2);
    hub_jbuf_close(&b, ']');
    EXPECT(&b, "[1,2]");
    hub_jbuf_free(&b);
}

/* Values that end in bytes looking like structure still get their comma. */
static void test_structural_bytes_inside_strings(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '[');
    hub_jbuf_str(&b, "{");
    hub_jbuf_str(&b, "[");
    hub_jbuf_str(&b, ":");
    hub_jbuf_str(&b, ",");
    hub_jbuf_str(&b, "}]");
    hub_jbuf_close(&b, ']');
    EXPECT(&b, "[\"{\",\"[\",\":\",\",\",\"}]\"]");

    hub_jbuf_reset(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "{");
    hub_jbuf_str(&b, ":");
    hub_jbuf_key(&b, ",");
    hub_jbuf_str(&b, "[");
    hub_jbuf_close(&b, '}');
    EXPECT(&b, "{\"{\":\":\",\",\":\"[\"}");
    hub_jbuf_free(&b);
}

static void test_escapes_short_forms(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_str(&b, "q\"b\\s/n\nr\rt\t.");
    /* '/' needs no escape; the five short forms are used. */
    EXPECT(&b, "\"q\\\"b\\\\s/n\\nr\\rt\\t.\"");

    hub_jbuf_reset(&b);
    hub_jbuf_str(&b, "\"\"\\\\");
    EXPECT(&b, "\"\\\"\\\"\\\\\\\\\"");

    hub_jbuf_reset(&b);
    hub_jbuf_str(&b, "\n");
    EXPECT(&b, "\"\\n\"");
    hub_jbuf_free(&b);
}

/* Every control character: \n \r \t short, the rest \u00XX (lowercase hex). */
static void test_escapes_all_controls(void **state)
{
    hub_jbuf_t b;
    char in[32];
    char want[32 * 6 + 3];
    size_t w = 0;

    for (int c = 0; c < 32; c++)
        in[c] = (char)c;
    want[w++] = '"';
    for (int c = 0; c < 32; c++) {
        if (c == '\n') {
            memcpy(want + w, "\\n", 2);
            w += 2;
        } else if (c == '\r') {
            memcpy(want + w, "\\r", 2);
            w += 2;
        } else if (c == '\t') {
            memcpy(want + w, "\\t", 2);
            w += 2;
        } else {
            w += (size_t)snprintf(want + w, sizeof(want) - w, "\\u%04x", c);
        }
    }
    want[w++] = '"';

    hub_jbuf_init(&b);
    hub_jbuf_strn(&b, in, sizeof(in)); /* includes a NUL: strn takes it by length */
    expect_text(&b, want, w);

    /* Spot checks written by hand. */
    hub_jbuf_reset(&b);
    hub_jbuf_strn(&b, "a\0b\x01\x08\x0c\x1f", 7);
    EXPECT(&b, "\"a\\u0000b\\u0001\\u0008\\u000c\\u001f\"");
    hub_jbuf_free(&b);
}

/* DEL and bytes >= 0x80 are copied as they are (valid or not as UTF-8). */
static void test_high_bytes_copied(void **state)
{
    hub_jbuf_t b;
    char in[129];
    char want[131];

    for (int i = 0; i < 128; i++)
        in[i] = (char)(0x80 + i);
    in[128] = 0x7f;
    want[0] = '"';
    memcpy(want + 1, in, sizeof(in));
    want[130] = '"';

    hub_jbuf_init(&b);
    hub_jbuf_strn(&b, in, sizeof(in));
    expect_text(&b, want, sizeof(want));

    hub_jbuf_reset(&b);
    hub_jbuf_str(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    EXPECT(&b, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");

    /* High bytes next to escapes. */
    hub_jbuf_reset(&b);
    hub_jbuf_str(&b, "\xff\"\xfe\n\xc3\xa9");
    EXPECT(&b, "\"\xff\\\"\xfe\\n\xc3\xa9\"");
    hub_jbuf_free(&b);
}

/* hub_jbuf_escape: the escaped text only: no quotes, no comma. */
static void test_escape_raw(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_escape(&b, "a.b", 3);
    EXPECT(&b, "a.b");
    hub_jbuf_int(&b, 1);
    hub_jbuf_escape(&b, "\"x\"\x02", 4);
    EXPECT(&b, "a.b,1\\\"x\\\"\\u0002");
    hub_jbuf_escape(&b, "ignored", 0);
    EXPECT(&b, "a.b,1\\\"x\\\"\\u0002");
    /* Only n bytes are read. */
    hub_jbuf_escape(&b, "\\zz", 1);
    EXPECT(&b, "a.b,1\\\"x\\\"\\u0002\\\\");
    hub_jbuf_free(&b);
}

static void test_integers(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '[');
    hub_jbuf_int(&b, INT64_MIN);
    hub_jbuf_int(&b, INT64_MIN + 1);
    hub_jbuf_int(&b, INT64_MAX);
    hub_jbuf_int(&b, 0);
    hub_jbuf_int(&b, -1);
    hub_jbuf_int(&b, 9);
    hub_jbuf_int(&b, 10);
    hub_jbuf_int(&b, -10);
    hub_jbuf_int(&b, 1000000007);
    hub_jbuf_uint(&b, UINT64_MAX);
    hub_jbuf_uint(&b, 0);
    hub_jbuf_uint(&b, (uint64_t)INT64_MAX + 1);
    hub_jbuf_uint(&b, 100);
    hub_jbuf_close(&b, ']');
    EXPECT(&b, "[-9223372036854775808,-9223372036854775807,9223372036854775807,0,-1,9,10,-10,"
               "1000000007,18446744073709551615,0,9223372036854775808,100]");
    hub_jbuf_free(&b);

    /* Every power of ten and its neighbours, against printf. */
    char want[64];
    uint64_t p = 1;
    for (int k = 0; k < 20; k++, p *= 10) {
        uint64_t vals[3] = {p - 1, p, p + 1};
        for (int j = 0; j < 3; j++) {
            hub_jbuf_init(&b);
            hub_jbuf_uint(&b, vals[j]);
            expect_text(&b, want,
                        (size_t)snprintf(want, sizeof(want), "%llu", (unsigned long long)vals[j]));
            hub_jbuf_free(&b);
            if (vals[j] <= (uint64_t)INT64_MAX) {
                hub_jbuf_init(&b);
                hub_jbuf_int(&b, -(int64_t)vals[j]);
                expect_text(&b, want,
                            (size_t)snprintf(want, sizeof(want), "%lld", -(long long)vals[j]));
                hub_jbuf_free(&b);
            }
        }
    }
}

static void test_keys(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "plain_key-1.2");
    hub_jbuf_int(&b, 1);
    hub_jbuf_key(&b, "q\"uote");
    hub_jbuf_int(&b, 2);
    hub_jbuf_key(&b, "back\\slash");
    hub_jbuf_int(&b, 3);
    hub_jbuf_key(&b, "ctl\x01\n");
    hub_jbuf_int(&b, 4);
    hub_jbuf_key(&b, "");
    hub_jbuf_int(&b, 5);
    hub_jbuf_keyn(&b, "n\0ul", 4);
    hub_jbuf_int(&b, 6);
    hub_jbuf_key(&b, "\xc3\xa9t\xc3\xa9");
    hub_jbuf_int(&b, 7);
    hub_jbuf_keyn(&b, "\"", 0);
    hub_jbuf_int(&b, 8);
    hub_jbuf_close(&b, '}');
    EXPECT(&b, "{\"plain_key-1.2\":1,\"q\\\"uote\":2,\"back\\\\slash\":3,\"ctl\\u0001\\n\":4,"
               "\"\":5,\"n\\u0000ul\":6,\"\xc3\xa9t\xc3\xa9\":7,\"\":8}");
    hub_jbuf_free(&b);
}

static void test_raw_no_separator(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_jbuf_int(&b, 2);
    hub_jbuf_raw(&b, "1", 1);
    hub_jbuf_lit(&b, "\"a\\\"");
    hub_jbuf_raw(&b, "xyz", 0);
    EXPECT(&b, "21\"a\\\"");
    /* Raw bytes may include a NUL; len counts it. */
    hub_jbuf_raw(&b, "\0z", 2);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.p + 6, "\0z\0", 3);
    hub_jbuf_free(&b);
}

static void test_reset_keeps_memory(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    for (int i = 0; i < 1000; i++)
        hub_jbuf_int(&b, i);
    char *p = b.p;
    size_t cap = b.cap;
    assert_true(cap >= b.len + 1);
    hub_jbuf_reset(&b);
    EXPECT(&b, "");
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.cap, cap);
    /* Nothing of the old text leaks into the next value: no leading comma. */
    hub_jbuf_int(&b, 7);
    EXPECT(&b, "7");
    assert_ptr_equal(b.p, p);
    hub_jbuf_free(&b);
}

static void test_take(void **state)
{
    hub_jbuf_t b;
    size_t len = 12345;

    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '[');
    hub_jbuf_str(&b, "x");
    hub_jbuf_close(&b, ']');
    char *t = hub_jbuf_take(&b, &len);
    assert_non_null(t);
    assert_int_equal(len, 5);
    assert_memory_equal(t, "[\"x\"]", 6); /* NUL-terminated */
    /* Empty and owning nothing. */
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);

    /* It may be written again: a fresh document, no comma from the old one. */
    hub_jbuf_int(&b, 1);
    EXPECT(&b, "1");
    assert_true(b.p != t);
    hub_free(t);

    /* len may be NULL. */
    t = hub_jbuf_take(&b, NULL);
    assert_string_equal(t, "1");
    hub_free(t);

    /* A taken buffer may be dropped, freed or reset; none frees anything twice. */
    hub_jbuf_free(&b);
    hub_jbuf_reset(&b);
    assert_int_equal(b.len, 0);
    hub_jbuf_free(&b);

    /* Taking a buffer that was only initialised gives "". */
    hub_jbuf_init(&b);
    t = hub_jbuf_take(&b, &len);
    assert_int_equal(len, 0);
    assert_non_null(t);
    assert_string_equal(t, "");
    hub_free(t);
    /* Every kind of call writes into a taken buffer. */
    hub_jbuf_open(&b, '{');
    hub_jbuf_close(&b, '}');
    EXPECT(&b, "{}");
    hub_free(hub_jbuf_take(&b, NULL));
    hub_jbuf_key(&b, "k");
    EXPECT(&b, "\"k\":");
    hub_free(hub_jbuf_take(&b, NULL));
    hub_jbuf_key(&b, "k\"");
    EXPECT(&b, "\"k\\\"\":");
    hub_free(hub_jbuf_take(&b, NULL));
    hub_jbuf_raw(&b, "r", 1);
    EXPECT(&b, "r");
    hub_free(hub_jbuf_take(&b, NULL));
    hub_jbuf_escape(&b, "\n", 1);
    EXPECT(&b, "\\n");
    hub_free(hub_jbuf_take(&b, NULL));
    hub_jbuf_null(&b);
    EXPECT(&b, "null");
    hub_free(hub_jbuf_take(&b, NULL));
    hub_jbuf_uint(&b, 5);
    EXPECT(&b, "5");
    hub_free(hub_jbuf_take(&b, NULL));
    hub_jbuf_str(&b, "s");
    EXPECT(&b, "\"s\"");
    hub_jbuf_free(&b);
}

/* NUL-terminated after every call, however the text grew. */
static void test_nul_after_every_call(void **state)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    for (int i = 0; i < 300; i++) {
        switch (i % 9) {
        case 0: hub_jbuf_open(&b, '['); break;
        case 1: hub_jbuf_str(&b, "ab\"c"); break;
        case 2: hub_jbuf_int(&b, -i); break;
        case 3: hub_jbuf_uint(&b, (uint64_t)i); break;
        case 4: hub_jbuf_bool(&b, i & 1); break;
        case 5: hub_jbuf_null(&b); break;
        case 6: hub_jbuf_json(&b, "{}", 2); break;
        case 7: hub_jbuf_escape(&b, "\t", 1); break;
        default: hub_jbuf_close(&b, ']'); break;
        }
        assert_true(b.cap > b.len);
        assert_int_equal(b.p[b.len], '\0');
        assert_int_equal(strlen(b.p), b.len);
    }
    hub_jbuf_free(&b);
}

static void test_growth_1mb(void **state)
{
    enum { N = 1 << 20 };
    hub_jbuf_t b;
    char *s = malloc(N + 1);

    assert_non_null(s);
    memset(s, 'x', N);
    s[N] = '\0';
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '[');
    hub_jbuf_str(&b, s);
    hub_jbuf_str(&b, "y");
    hub_jbuf_close(&b, ']');
    assert_int_equal(b.len, (size_t)N + 8);
    assert_memory_equal(b.p, "[\"xx", 4);
    for (size_t i = 2; i < (size_t)N + 2; i++)
        if (b.p[i] != 'x')
            fail_msg("byte %zu is 0x%02x", i, (unsigned char)b.p[i]);
    assert_memory_equal(b.p + N + 2, "\",\"y\"]", 7);
    hub_jbuf_free(&b);

    /* A megabyte of control bytes grows six-fold while escaping. */
    memset(s, 0x01, N);
    hub_jbuf_init(&b);
    hub_jbuf_strn(&b, s, N);
    assert_int_equal(b.len, (size_t)N * 6 + 2);
    assert_int_equal(b.p[0], '"');
    assert_int_equal(b.p[b.len - 1], '"');
    for (size_t i = 0; i < (size_t)N; i++)
        if (memcmp(b.p + 1 + i * 6, "\\u0001", 6) != 0)
            fail_msg("escape %zu wrong", i);
    assert_int_equal(b.p[b.len], '\0');
    hub_jbuf_free(&b);

    /* A megabyte key, mixing plain and escaped bytes. */
    for (size_t i = 0; i < (size_t)N; i++)
        s[i] = (i % 1000 == 999) ? '"' : 'k';
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_keyn(&b, s, N);
    hub_jbuf_int(&b, 1);
    hub_jbuf_close(&b, '}');
    json_error_t err;
    json_t *j = json_loadb(b.p, b.len, 0, &err);
    if (j == NULL)
        fail_msg("jansson: %s at %d", err.text, err.position);
    assert_int_equal(json_object_size(j), 1);
    json_t *v = json_object_getn(j, s, N);
    assert_non_null(v);
    assert_int_equal(json_integer_value(v), 1);
    json_decref(j);
    hub_jbuf_free(&b);
    free(s);

    /* Many small values: 100,000 integers, against printf. */
    size_t cap = 100000 * 8 + 3, w = 0;
    char *want = malloc(cap);
    assert_non_null(want);
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '[');
    want[w++] = '[';
    for (int i = 0; i < 100000; i++) {
        hub_jbuf_int(&b, i - 50000);
        w += (size_t)snprintf(want + w, cap - w, "%s%d", i ? "," : "", i - 50000);
    }
    hub_jbuf_close(&b, ']');
    want[w++] = ']';
    expect_text(&b, want, w);
    hub_jbuf_free(&b);
    free(want);
}

/* ---- round trip: random documents built twice, by jbuf and by jansson ------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Random UTF-8 text with quotes, backslashes and control bytes; NULs when allow_nul. */
static size_t rand_text(uint64_t *rng, char *out, size_t max, int allow_nul)
{
    static const char *const pieces[] = {
        "\"",
        "\\",
        "/",
        "\n",
        "\r",
        "\t",
        "\b",
        "\f",
        "\x01",
        "\x1f",
        "\x7f",
        "\xc3\xa9",
        "\xe2\x82\xac",
        "\xf0\x9f\x98\x80",
        "\\u0041",
        ":",
        ",",
        "{",
        "}",
        "[",
        "]",
    };
    size_t n = 0;
    size_t want = rng_next(rng) % 24;
    while (n < want && n + 4 < max) {
        unsigned k = (unsigned)(rng_next(rng) % 40);
        if (k < 16) {
            out[n++] = (char)(' ' + rng_next(rng) % 95);
        } else if (k < 37) {
            const char *p = pieces[k - 16];
            size_t l = strlen(p);
            memcpy(out + n, p, l);
            n += l;
        } else if (k < 39) {
            out[n++] = (char)(1 + rng_next(rng) % 31);
        } else if (allow_nul) {
            out[n++] = '\0';
        }
    }
    return n;
}

static json_t *build(uint64_t *rng, hub_jbuf_t *b, int depth)
{
    unsigned kind = (unsigned)(rng_next(rng) % (depth < 5 ? 10 : 8));
    char text[128];
    size_t n;

    switch (kind) {
    case 0: {
        n = rand_text(rng, text, sizeof(text), 1);
        hub_jbuf_strn(b, text, n);
        return json_stringn(text, n);
    }
    case 1: {
        int64_t v;
        switch (rng_next(rng) % 4) {
        case 0: v = INT64_MIN; break;
        case 1: v = INT64_MAX; break;
        default: v = (int64_t)rng_next(rng) >> (rng_next(rng) % 63);
        }
        hub_jbuf_int(b, v);
        return json_integer(v);
    }
    case 2: {
        /* jansson reads integers as signed 64 bits: stay within them. */
        uint64_t v = rng_next(rng) >> (1 + rng_next(rng) % 63);
        hub_jbuf_uint(b, v);
        return json_integer((json_int_t)v);
    }
    case 3: {
        int v = (int)(rng_next(rng) % 3);
        hub_jbuf_bool(b, v);
        return json_boolean(v);
    }
    case 4: hub_jbuf_null(b); return json_null();
    case 5: {
        static const char frag[] = "{\"z\":[1,\"q\\n\",null],\"w\":{}}";
        hub_jbuf_json(b, frag, sizeof(frag) - 1);
        return json_pack("{s:[i,s,n],s:{}}", "z", 1, "q\n", "w");
    }
    case 6:
    case 7: {
        /* Short strings without escapes: the plain fast path. */
        n = rng_next(rng) % 12;
        for (size_t i = 0; i < n; i++)
            text[i] = (char)('a' + rng_next(rng) % 26);
        hub_jbuf_strn(b, text, n);
        return json_stringn(text, n);
    }
    case 8: {
        json_t *arr = json_array();
        size_t k = rng_next(rng) % 6;
        hub_jbuf_open(b, '[');
        for (size_t i = 0; i < k; i++)
            json_array_append_new(arr, build(rng, b, depth + 1));
        hub_jbuf_close(b, ']');
        return arr;
    }
    default: {
        json_t *obj = json_object();
        size_t k = rng_next(rng) % 6;
        hub_jbuf_open(b, '{');
        for (size_t i = 0; i < k; i++) {
            char key[160];
            n = rand_text(rng, key, 120, 0);
            /* A unique suffix: duplicate keys would collapse in jansson. */
            n += (size_t)snprintf(key + n, sizeof(key) - n, "#%zu", i);
            hub_jbuf_keyn(b, key, n);
            json_object_setn_new(obj, key, n, build(rng, b, depth + 1));
        }
        hub_jbuf_close(b, '}');
        return obj;
    }
    }
}

static void test_round_trip_jansson(void **state)
{
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    for (int doc = 0; doc < 2000; doc++) {
        hub_jbuf_reset(&b);
        json_t *want = build(&rng, &b, 0);
        json_error_t err;
        assert_int_equal(b.p[b.len], '\0');
        json_t *got = json_loadb(b.p, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (got == NULL)
            fail_msg("doc %d: jansson rejected [%.*s]: %s at %d", doc, (int)b.len, b.p, err.text,
                     err.position);
        if (!json_equal(got, want)) {
            char *w = json_dumps(want, JSON_ENCODE_ANY);
            fail_msg("doc %d: [%.*s] reads back differently from %s", doc, (int)b.len, b.p, w);
        }
        json_decref(got);
        json_decref(want);
    }
    hub_jbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_free),
        cmocka_unit_test(test_header_example),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_commas_after_each_kind),
        cmocka_unit_test(test_structural_bytes_inside_strings),
        cmocka_unit_test(test_escapes_short_forms),
        cmocka_unit_test(test_escapes_all_controls),
        cmocka_unit_test(test_high_bytes_copied),
        cmocka_unit_test(test_escape_raw),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_raw_no_separator),
        cmocka_unit_test(test_reset_keeps_memory),
        cmocka_unit_test(test_take),
        cmocka_unit_test(test_nul_after_every_call),
        cmocka_unit_test(test_growth_1mb),
        cmocka_unit_test(test_round_trip_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
