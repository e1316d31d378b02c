/* tests/unit/test_kv.c - engine/kv: insertion order, replace, in-place text, delete, many keys,
 * and a model check against a plain array. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kv.h"

/* foreach collects "key=text/aux;" so order and contents compare as one string. */
struct dump {
    char buf[4096];
    size_t w;
    size_t calls;
};

static void dump_fn(void *ud, const char *key, const char *text, size_t len, int aux)
{
    struct dump *d = ud;
    assert_int_equal(text[len], '\0'); /* texts are NUL-terminated */
    d->w += (size_t)snprintf(d->buf + d->w, sizeof(d->buf) - d->w, "%s=%.*s/%d;", key, (int)len,
                             text, aux);
    d->calls++;
}

static void expect_dump(const hub_kv_t *kv, const char *want)
{
    struct dump d = {.w = 0, .calls = 0};
    d.buf[0] = '\0';
    hub_kv_foreach(kv, dump_fn, &d);
    assert_string_equal(d.buf, want);
    assert_int_equal(d.calls, hub_kv_count(kv));
}

static void expect_get(const hub_kv_t *kv, const char *key, const char *want)
{
    size_t len = 99999;
    const char *t = hub_kv_get(kv, key, &len);
    if (want == NULL) {
        assert_null(t);
        assert_int_equal(len, 99999); /* untouched on a miss */
        return;
    }
    if (t == NULL)
        fail_msg("get(%s) = NULL, want [%s]", key, want);
    assert_int_equal(len, strlen(want));
    assert_string_equal(t, want);
}

static void set_s(hub_kv_t *kv, const char *key, const char *text, int aux)
{
    hub_kv_set(kv, key, text, strlen(text), aux);
}

static void test_empty(void **state)
{
    hub_kv_t *kv = hub_kv_new();

    assert_int_equal(hub_kv_count(kv), 0);
    expect_get(kv, "x", NULL);
    expect_get(kv, "", NULL);
    hub_kv_del(kv, "x"); /* absent: no-op */
    expect_dump(kv, "");
    hub_kv_free(kv);
    hub_kv_free(NULL);
}

static void test_set_get_order(void **state)
{
    hub_kv_t *kv = hub_kv_new();

    set_s(kv, "rgb", "{\"r\":1}", 0);
    set_s(kv, "a/b/c", "x", 1);
    set_s(kv, "", "empty key", 2);
    set_s(kv, "zz", "", 3);
    assert_int_equal(hub_kv_count(kv), 4);
    expect_get(kv, "rgb", "{\"r\":1}");
    expect_get(kv, "a/b/c", "x");
    expect_get(kv, "", "empty key");
    expect_get(kv, "zz", "");
    expect_get(kv, "RGB", NULL); /* case-sensitive */
    expect_get(kv, "rg", NULL);  /* whole keys only */
    expect_get(kv, "rgbb", NULL);
    /* Insertion order, not key order. */
    expect_dump(kv, "rgb={\"r\":1}/0;a/b/c=x/1;=empty key/2;zz=/3;");
    /* len may be NULL. */
    assert_string_equal(hub_kv_get(kv, "a/b/c", NULL), "x");
    hub_kv_free(kv);
}

/* Set on an existing key replaces text and aux and keeps the key's place. */
static void test_replace_keeps_place(void **state)
{
    hub_kv_t *kv = hub_kv_new();

    set_s(kv, "a", "1", 10);
    set_s(kv, "b", "2", 20);
    set_s(kv, "c", "3", 30);
    set_s(kv, "a", "one", 11);
    set_s(kv, "b", "2", -5);
    assert_int_equal(hub_kv_count(kv), 3);
    expect_dump(kv, "a=one/11;b=2/-5;c=3/30;");
    expect_get(kv, "a", "one");
    hub_kv_free(kv);
}

/* The text buffer is reused while the new text fits, and replaced when it does not. */
static void test_grow_and_shrink_in_place(void **state)
{
    hub_kv_t *kv = hub_kv_new();
    char big[5000];

    set_s(kv, "v", "0123456789", 0);
    const char *p0 = hub_kv_get(kv, "v", NULL);
    set_s(kv, "v", "abc", 1); /* shrink: same memory */
    assert_ptr_equal(hub_kv_get(kv, "v", NULL), p0);
    expect_get(kv, "v", "abc");
    set_s(kv, "v", "", 2);
    expect_get(kv, "v", "");
    set_s(kv, "v", "0123456789", 3); /* back to the first size: still fits */
    assert_ptr_equal(hub_kv_get(kv, "v", NULL), p0);
    expect_get(kv, "v", "0123456789");

    /* One byte more than the buffer held (text + NUL = old size + 1): it must grow (ASan). */
    set_s(kv, "w", "0123456789", 0);
    set_s(kv, "w", "0123456789A", 1);
    expect_get(kv, "w", "0123456789A");
    set_s(kv, "w", "0123456789ABCDEFGHIJ", 2);
    expect_get(kv, "w", "0123456789ABCDEFGHIJ");
    hub_kv_del(kv, "w");

    /* Grow, step by step, then shrink again: every value reads back exactly. */
    for (size_t n = 0; n < sizeof(big); n += 37) {
        memset(big, 'a' + (int)(n % 26), n);
        big[n] = '\0';
        hub_kv_set(kv, "v", big, n, (int)n);
        size_t len = 0;
        const char *t = hub_kv_get(kv, "v", &len);
        assert_int_equal(len, n);
        assert_memory_equal(t, big, n + 1);
    }
    for (size_t n = sizeof(big) - 1;; n -= 53) {
        memset(big, 'A' + (int)(n % 26), n);
        big[n] = '\0';
        hub_kv_set(kv, "v", big, n, 0);
        size_t len = 0;
        const char *t = hub_kv_get(kv, "v", &len);
        assert_int_equal(len, n);
        assert_memory_equal(t, big, n + 1);
        if (n < 53)
            break;
    }
    assert_int_equal(hub_kv_count(kv), 1);
    hub_kv_free(kv);
}

/* Texts are bytes: embedded NULs and only len bytes of the source. */
static void test_text_bytes(void **state)
{
    hub_kv_t *kv = hub_kv_new();
    size_t len = 0;

    hub_kv_set(kv, "bin", "a\0b\0c", 5, 0);
    const char *t = hub_kv_get(kv, "bin", &len);
    assert_int_equal(len, 5);
    assert_memory_equal(t, "a\0b\0c\0", 6);

    hub_kv_set(kv, "cut", "abcdef", 3, 0);
    expect_get(kv, "cut", "abc");
    /* Replace with more bytes than the old text, embedded NUL kept. */
    hub_kv_set(kv, "cut", "x\0yz0123456789", 14, 0);
    t = hub_kv_get(kv, "cut", &len);
    assert_int_equal(len, 14);
    assert_memory_equal(t, "x\0yz0123456789\0", 15);

    /* The text is copied: changing the source later changes nothing. */
    char src[8] = "orig";
    set_s(kv, "copy", src, 0);
    strcpy(src, "CHNG");
    expect_get(kv, "copy", "orig");
    /* And the key too. */
    char key[8] = "k1";
    set_s(kv, key, "v", 0);
    key[1] = '2';
    expect_get(kv, "k1", "v");
    expect_get(kv, "k2", NULL);
    hub_kv_free(kv);
}

static void test_delete_then_readd(void **state)
{
    hub_kv_t *kv = hub_kv_new();

    set_s(kv, "a", "1", 1);
    set_s(kv, "b", "2", 2);
    set_s(kv, "c", "3", 3);
    hub_kv_del(kv, "b");
    assert_int_equal(hub_kv_count(kv), 2);
    expect_get(kv, "b", NULL);
    expect_get(kv, "a", "1");
    expect_get(kv, "c", "3");
    expect_dump(kv, "a=1/1;c=3/3;");
    hub_kv_del(kv, "b"); /* again: no-op */
    assert_int_equal(hub_kv_count(kv), 2);
    /* Re-added: it goes to the end, with its new text. */
    set_s(kv, "b", "two", 22);
    expect_dump(kv, "a=1/1;c=3/3;b=two/22;");
    hub_kv_del(kv, "a");
    hub_kv_del(kv, "c");
    hub_kv_del(kv, "b");
    assert_int_equal(hub_kv_count(kv), 0);
    expect_dump(kv, "");
    set_s(kv, "c", "x", 0);
    expect_dump(kv, "c=x/0;");
    hub_kv_free(kv);
}

/* foreach over the many-keys map: keys in insertion order, the deleted ones (i % 3 == 0) gone. */
struct order {
    int next;
    size_t calls;
};

static void order_fn(void *ud, const char *k, const char *t, size_t len, int aux)
{
    struct order *o = ud;
    char want[32];

    if (o->next % 3 == 0)
        o->next++;
    snprintf(want, sizeof(want), "topic/%d", o->next);
    if (strcmp(k, want) != 0)
        fail_msg("foreach gave %s, want %s", k, want);
    assert_int_equal(aux, o->next);
    o->next++;
    o->calls++;
}

/* 10,000 keys: every one found after each reindex, order kept, deletes in the middle. */
static void test_many_keys(void **state)
{
    enum { N = 10000 };
    hub_kv_t *kv = hub_kv_new();
    char key[32], text[32];

    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "topic/%d", i);
        snprintf(text, sizeof(text), "v%d", i * 3);
        set_s(kv, key, text, i);
        assert_int_equal(hub_kv_count(kv), (size_t)i + 1);
        /* The first key and the newest stay findable across every reindex. */
        expect_get(kv, "topic/0", "v0");
        expect_get(kv, key, text);
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "topic/%d", i);
        snprintf(text, sizeof(text), "v%d", i * 3);
        expect_get(kv, key, text);
    }
    expect_get(kv, "topic/10000", NULL);
    expect_get(kv, "topic/", NULL);

    /* Delete every third key (3,334 deletes, each compacts and reindexes), then check all. */
    for (int i = 0; i < N; i += 3) {
        snprintf(key, sizeof(key), "topic/%d", i);
        hub_kv_del(kv, key);
    }
    size_t want = N - (N + 2) / 3;
    assert_int_equal(hub_kv_count(kv), want);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "topic/%d", i);
        snprintf(text, sizeof(text), "v%d", i * 3);
        expect_get(kv, key, i % 3 == 0 ? NULL : text);
    }

    /* foreach still walks in insertion order. */
    struct order o = {0, 0};
    hub_kv_foreach(kv, order_fn, &o);
    assert_int_equal(o.calls, want);

    /* Re-add the deleted ones: they come last, and all 10,000 are found again. */
    for (int i = 0; i < N; i += 3) {
        snprintf(key, sizeof(key), "topic/%d", i);
        set_s(kv, key, "back", -i);
    }
    assert_int_equal(hub_kv_count(kv), N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "topic/%d", i);
        snprintf(text, sizeof(text), "v%d", i * 3);
        expect_get(kv, key, i % 3 == 0 ? "back" : text);
    }
    hub_kv_free(kv);
}

/* ---- model check: random set/del/get against an array kept in insertion order --------------- */

#define POOL 300

struct ref_ent {
    int key;
    char text[64];
    size_t len;
    int aux;
};

struct ref {
    struct ref_ent e[POOL];
    int n;
};

static int ref_find(const struct ref *r, int key)
{
    for (int i = 0; i < r->n; i++)
        if (r->e[i].key == key)
            return i;
    return -1;
}

struct walk {
    const struct ref *r;
    int i;
};

static void walk_fn(void *ud, const char *key, const char *text, size_t len, int aux)
{
    struct walk *w = ud;
    char want[16];

    assert_true(w->i < w->r->n);
    const struct ref_ent *e = &w->r->e[w->i++];
    snprintf(want, sizeof(want), "k%d", e->key);
    assert_string_equal(key, want);
    assert_int_equal(len, e->len);
    assert_memory_equal(text, e->text, len);
    assert_int_equal(aux, e->aux);
}

static void test_model(void **state)
{
    hub_kv_t *kv = hub_kv_new();
    static struct ref r;
    uint64_t s = 0x853C49E6748FEA9BULL;
    char key[16];

    r.n = 0;
    for (int op = 0; op < 50000; op++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int k = (int)((s >> 33) % POOL);
        unsigned kind = (unsigned)((s >> 20) % 10);
        snprintf(key, sizeof(key), "k%d", k);
        int i = ref_find(&r, k);
        if (kind < 5) {
            struct ref_ent *e;
            if (i < 0) {
                e = &r.e[r.n++];
                e->key = k;
            } else {
                e = &r.e[i];
            }
            e->len = (size_t)((s >> 40) % 60);
            for (size_t j = 0; j < e->len; j++)
                e->text[j] = (char)((s >> (j % 50)) & 0xff);
            e->aux = (int)(s >> 45);
            hub_kv_set(kv, key, e->text, e->len, e->aux);
        } else if (kind < 7) {
            if (i >= 0) {
                memmove(&r.e[i], &r.e[i + 1], (size_t)(r.n - i - 1) * sizeof(r.e[0]));
                r.n--;
            }
            hub_kv_del(kv, key);
        } else {
            size_t len = 0;
            const char *t = hub_kv_get(kv, key, &len);
            if (i < 0) {
                if (t != NULL)
                    fail_msg("op %d: %s present, model says absent", op, key);
            } else {
                if (t == NULL)
                    fail_msg("op %d: %s absent, model says present", op, key);
                assert_int_equal(len, r.e[i].len);
                assert_memory_equal(t, r.e[i].text, len);
            }
        }
        assert_int_equal(hub_kv_count(kv), (size_t)r.n);
        if (op % 500 == 0) {
            struct walk w = {&r, 0};
            hub_kv_foreach(kv, walk_fn, &w);
            assert_int_equal(w.i, r.n);
        }
    }
    hub_kv_free(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_set_get_order),
        cmocka_unit_test(test_replace_keeps_place),
        cmocka_unit_test(test_grow_and_shrink_in_place),
        cmocka_unit_test(test_text_bytes),
        cmocka_unit_test(test_delete_then_readd),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
