/* tests/unit/test_pubtree.c - engine/pubtree: dotted paths, "null" deletes, values becoming
 * objects and back, rendering (byte-exact), get, many siblings, and a model check. */
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
#include "engine/pubtree.h"

static void set_s(hub_pubtree_t *t, const char *path, const char *json)
{
    hub_pubtree_set(t, path, json, strlen(json));
}

static void del(hub_pubtree_t *t, const char *path)
{
    hub_pubtree_set(t, path, "null", 4);
}

/* Render roots and compare byte-exact. */
static void expect_render(const hub_pubtree_t *t, const char *const *roots, size_t n,
                          const char *want)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_pubtree_render(t, &b, roots, n);
    if (strcmp(b.p, want) != 0)
        fail_msg("render:\n got  %s\n want %s", b.p, want);
    assert_int_equal(b.len, strlen(want));
    hub_jbuf_free(&b);
}
#define RENDER(t, want, ...)                                                                       \
    do {                                                                                           \
        static const char *const r_[] = {__VA_ARGS__};                                             \
        expect_render((t), r_, sizeof(r_) / sizeof(r_[0]), (want));                                \
    } while (0)

static void expect_at(const hub_pubtree_t *t, const char *path, const char *want)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_pubtree_render_at(t, &b, path);
    if (strcmp(b.p, want) != 0)
        fail_msg("render_at(%s):\n got  %s\n want %s", path, b.p, want);
    hub_jbuf_free(&b);
}

static void expect_get(const hub_pubtree_t *t, const char *path, const char *want)
{
    size_t len = 4242;
    const char *got = hub_pubtree_get(t, path, &len);
    if (want == NULL) {
        if (got != NULL)
            fail_msg("get(%s) = [%s], want NULL", path, got);
        assert_int_equal(len, 4242);
        return;
    }
    if (got == NULL)
        fail_msg("get(%s) = NULL, want [%s]", path, want);
    assert_int_equal(len, strlen(want));
    assert_string_equal(got, want);
}

static void test_empty_tree(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    RENDER(t, "{\"dmx\":{}}", "dmx");
    RENDER(t, "{\"a\":{},\"b\":{}}", "a", "b");
    expect_render(t, NULL, 0, "{}");
    expect_at(t, "dmx", "null");
    expect_at(t, "dmx.fixtures.par1", "null");
    expect_get(t, "dmx", NULL);
    del(t, "dmx.fixtures.par1"); /* nothing there: nothing created */
    RENDER(t, "{\"dmx\":{}}", "dmx");
    expect_at(t, "dmx", "null");
    hub_pubtree_free(t);
    hub_pubtree_free(NULL);
}

static void test_set_creates_objects(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    set_s(t, "dmx.fixtures.par1", "{\"level\":1}");
    RENDER(t, "{\"dmx\":{\"fixtures\":{\"par1\":{\"level\":1}}}}", "dmx");
    expect_get(t, "dmx.fixtures.par1", "{\"level\":1}");
    expect_get(t, "dmx.fixtures", NULL); /* interior */
    expect_get(t, "dmx", NULL);
    expect_at(t, "dmx.fixtures", "{\"par1\":{\"level\":1}}");
    expect_at(t, "dmx.fixtures.par1", "{\"level\":1}");

    set_s(t, "dmx.fixtures.par2", "2");
    set_s(t, "dmx.universes.u1", "[0,255]");
    set_s(t, "rooms.stage", "\"open\"");
    RENDER(t,
           "{\"dmx\":{\"fixtures\":{\"par1\":{\"level\":1},\"par2\":2},"
           "\"universes\":{\"u1\":[0,255]}},\"rooms\":{\"stage\":\"open\"}}",
           "dmx", "rooms");
    hub_pubtree_free(t);
}

/* Children keep insertion order; a replaced value keeps its place. */
static void test_order_and_replace(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    set_s(t, "r.c", "3");
    set_s(t, "r.a", "1");
    set_s(t, "r.b", "2");
    RENDER(t, "{\"r\":{\"c\":3,\"a\":1,\"b\":2}}", "r");
    set_s(t, "r.a", "\"one\"");
    RENDER(t, "{\"r\":{\"c\":3,\"a\":\"one\",\"b\":2}}", "r");
    expect_get(t, "r.a", "\"one\"");

    /* The text changes in place, shorter and longer. */
    set_s(t, "r.a", "1");
    expect_get(t, "r.a", "1");
    set_s(t, "r.a", "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]");
    expect_get(t, "r.a", "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]");
    set_s(t, "r.a", "0");
    expect_get(t, "r.a", "0");
    RENDER(t, "{\"r\":{\"c\":3,\"a\":0,\"b\":2}}", "r");

    /* Only len bytes of the text are taken. */
    hub_pubtree_set(t, "r.b", "123456", 3);
    expect_get(t, "r.b", "123");
    hub_pubtree_free(t);
}

static void test_null_deletes(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    set_s(t, "dmx.f.a", "1");
    set_s(t, "dmx.f.b", "2");
    set_s(t, "dmx.f.c", "3");
    del(t, "dmx.f.b");
    RENDER(t, "{\"dmx\":{\"f\":{\"a\":1,\"c\":3}}}", "dmx");
    expect_get(t, "dmx.f.b", NULL);
    expect_at(t, "dmx.f.b", "null");
    del(t, "dmx.f.b"); /* again: no-op */
    del(t, "dmx.f.zz");
    del(t, "dmx.g.zz"); /* absent parent: nothing created */
    RENDER(t, "{\"dmx\":{\"f\":{\"a\":1,\"c\":3}}}", "dmx");

    /* Re-added: it goes last. */
    set_s(t, "dmx.f.b", "22");
    RENDER(t, "{\"dmx\":{\"f\":{\"a\":1,\"c\":3,\"b\":22}}}", "dmx");

    /* The entity's last child gone: the object stays, empty. */
    del(t, "dmx.f.a");
    del(t, "dmx.f.c");
    del(t, "dmx.f.b");
    RENDER(t, "{\"dmx\":{\"f\":{}}}", "dmx");

    /* Deleting an interior node drops its whole subtree. */
    set_s(t, "dmx.f.x.y.z", "1");
    set_s(t, "dmx.g", "2");
    del(t, "dmx.f");
    RENDER(t, "{\"dmx\":{\"g\":2}}", "dmx");
    expect_get(t, "dmx.f.x.y.z", NULL);

    /* Deleting a root: it reads {} as one that never had anything. */
    del(t, "dmx");
    RENDER(t, "{\"dmx\":{}}", "dmx");
    expect_at(t, "dmx", "null");

    /* Only the exact text "null" deletes. */
    set_s(t, "k.a", "null ");
    set_s(t, "k.b", "\"null\"");
    hub_pubtree_set(t, "k.c", "nullx", 5);
    hub_pubtree_set(t, "k.d", "nul", 3);
    RENDER(t, "{\"k\":{\"a\":null ,\"b\":\"null\",\"c\":nullx,\"d\":nul}}", "k");
    hub_pubtree_set(t, "k.c", "nullx", 4); /* the first 4 bytes: "null" */
    RENDER(t, "{\"k\":{\"a\":null ,\"b\":\"null\",\"d\":nul}}", "k");
    hub_pubtree_free(t);
}

/* A value replaced by an object of entities, and back again. */
static void test_value_to_object_and_back(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    set_s(t, "dmx.f.par1", "5");
    set_s(t, "dmx.f.par2", "6");
    set_s(t, "dmx.f.par1.level", "7");
    RENDER(t, "{\"dmx\":{\"f\":{\"par1\":{\"level\":7},\"par2\":6}}}", "dmx");
    expect_get(t, "dmx.f.par1", NULL);
    expect_get(t, "dmx.f.par1.level", "7");
    set_s(t, "dmx.f.par1.color.r", "255");
    expect_at(t, "dmx.f.par1", "{\"level\":7,\"color\":{\"r\":255}}");

    /* Back to one value: the subtree is gone (ASan: and freed), the place kept. */
    set_s(t, "dmx.f.par1", "\"off\"");
    RENDER(t, "{\"dmx\":{\"f\":{\"par1\":\"off\",\"par2\":6}}}", "dmx");
    expect_get(t, "dmx.f.par1", "\"off\"");
    expect_get(t, "dmx.f.par1.level", NULL);
    expect_at(t, "dmx.f.par1.color", "null");

    /* And to an object once more, with fresh children only. */
    set_s(t, "dmx.f.par1.b", "1");
    expect_at(t, "dmx.f.par1", "{\"b\":1}");

    /* A whole root as one value, then as entities. */
    set_s(t, "cfg", "{\"x\":1}");
    RENDER(t, "{\"cfg\":{\"x\":1},\"dmx\":{\"f\":{\"par1\":{\"b\":1},\"par2\":6}}}", "cfg", "dmx");
    set_s(t, "cfg.y", "2");
    RENDER(t, "{\"cfg\":{\"y\":2}}", "cfg");
    set_s(t, "cfg", "[]");
    RENDER(t, "{\"cfg\":[]}", "cfg");
    hub_pubtree_free(t);
}

/* Regression, fixed (engine/pubtree.c:164-169, hub_pubtree_set): deleting a path *under* a leaf
 * destroys the leaf. Setting "a.x" = "5" and then "a.x.y" = "null" (there is no a.x.y: nothing to
 * remove) frees a.x's text on the way down and leaves an empty object. Expected: a.x still reads 5
 * ({"a":{"x":5}}). Actual: {"a":{"x":{}}}, and get("a.x") is NULL. */
static void test_delete_under_leaf_keeps_leaf(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    set_s(t, "a.x", "5");
    del(t, "a.x.y");
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    static const char *const roots[] = {"a"};
    hub_pubtree_render(t, &b, roots, 1);
    size_t len = 0;
    const char *got = hub_pubtree_get(t, "a.x", &len);
    int ok = strcmp(b.p, "{\"a\":{\"x\":5}}") == 0 && got != NULL && len == 1 && *got == '5';
    if (!ok) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", b.p);
        hub_jbuf_free(&b);
        hub_pubtree_free(t);
        fail_msg("regression: delete of absent a.x.y changed leaf a.x: render %s, get(a.x) %s", msg,
                 got ? "non-NULL" : "NULL");
    }
    hub_jbuf_free(&b);
    hub_pubtree_free(t);
}

static void test_render_roots(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    set_s(t, "a.x", "1");
    set_s(t, "b.y", "2");
    set_s(t, "c.z", "3");
    /* In the order given, not the order created; unknown roots read {}. */
    RENDER(t, "{\"c\":{\"z\":3},\"none\":{},\"a\":{\"x\":1}}", "c", "none", "a");
    RENDER(t, "{\"b\":{\"y\":2}}", "b");
    /* A root's name is matched whole. */
    RENDER(t, "{\"a.x\":{},\"\":{}}", "a.x", "");

    /* Render appends, and its object is a value (comma logic with what came before). */
    hub_jbuf_t b;
    static const char *const roots[] = {"b"};
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "seq");
    hub_jbuf_int(&b, 9);
    hub_jbuf_key(&b, "state");
    hub_pubtree_render(t, &b, roots, 1);
    hub_jbuf_key(&b, "n");
    hub_jbuf_int(&b, 1);
    hub_jbuf_close(&b, '}');
    assert_string_equal(b.p, "{\"seq\":9,\"state\":{\"b\":{\"y\":2}},\"n\":1}");
    hub_jbuf_reset(&b);
    hub_jbuf_open(&b, '[');
    hub_pubtree_render(t, &b, roots, 1);
    hub_pubtree_render(t, &b, roots, 1);
    hub_pubtree_render_at(t, &b, "a");
    hub_pubtree_render_at(t, &b, "nope");
    hub_jbuf_close(&b, ']');
    assert_string_equal(b.p, "[{\"b\":{\"y\":2}},{\"b\":{\"y\":2}},{\"x\":1},null]");
    hub_jbuf_free(&b);
    hub_pubtree_free(t);
}

static void test_render_at_and_get(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    set_s(t, "dmx.f.p.level", "10");
    set_s(t, "dmx.f.q", "\"s\"");
    expect_at(t, "dmx", "{\"f\":{\"p\":{\"level\":10},\"q\":\"s\"}}");
    expect_at(t, "dmx.f", "{\"p\":{\"level\":10},\"q\":\"s\"}");
    expect_at(t, "dmx.f.p", "{\"level\":10}");
    expect_at(t, "dmx.f.p.level", "10");
    expect_at(t, "dmx.f.q", "\"s\"");
    expect_at(t, "dmx.f.q.deeper", "null"); /* under a leaf */
    expect_at(t, "dmx.f.p.level.x", "null");
    expect_at(t, "dmx.g", "null");
    expect_at(t, "dm", "null");
    expect_at(t, "dmx.", "null");
    expect_at(t, "", "null");

    expect_get(t, "dmx.f.p.level", "10");
    expect_get(t, "dmx.f.q", "\"s\"");
    expect_get(t, "dmx.f.q.deeper", NULL);
    expect_get(t, "dmx.f.p", NULL);
    expect_get(t, "dmx.f.pp", NULL);
    expect_get(t, "dmx.f.", NULL);
    /* len may be NULL. */
    assert_string_equal(hub_pubtree_get(t, "dmx.f.q", NULL), "\"s\"");
    /* A leaf's text is NUL-terminated after its len bytes. */
    size_t len = 0;
    const char *s = hub_pubtree_get(t, "dmx.f.p.level", &len);
    assert_int_equal(s[len], '\0');
    hub_pubtree_free(t);
}

/* Names that need escaping in JSON are escaped as keys; the texts are joined as they are. */
static void test_escaped_names(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    set_s(t, "r.q\"uote", "1");
    set_s(t, "r.back\\slash", "2");
    set_s(t, "r.t\tab", "3");
    set_s(t, "r.caf\xc3\xa9", "4");
    RENDER(t, "{\"r\":{\"q\\\"uote\":1,\"back\\\\slash\":2,\"t\\tab\":3,\"caf\xc3\xa9\":4}}", "r");
    expect_get(t, "r.q\"uote", "1");
    expect_get(t, "r.caf\xc3\xa9", "4");
    hub_pubtree_free(t);
}

/* Whatever a path looks like, a value set there is read back there. */
static void test_odd_paths(void **state)
{
    static const char *const paths[] = {"", ".", "a.", ".a", "a..b", "a...", "x.y.z.w.v.u.t"};
    char v[16];

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        hub_pubtree_t *one = hub_pubtree_new();
        snprintf(v, sizeof(v), "%zu", i);
        set_s(one, paths[i], v);
        expect_get(one, paths[i], v);
        expect_at(one, paths[i], v);
        del(one, paths[i]);
        expect_get(one, paths[i], NULL);
        hub_pubtree_free(one);
    }
}

/* More siblings than the index threshold: all findable, after deletes, in order. */
static void test_many_siblings(void **state)
{
    enum { N = 2000 };
    hub_pubtree_t *t = hub_pubtree_new();
    char path[64], v[32];
    hub_jbuf_t want, got;

    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "dmx.fixtures.f%d", i);
        snprintf(v, sizeof(v), "%d", i);
        set_s(t, path, v);
        expect_get(t, "dmx.fixtures.f0", "0");
        expect_get(t, path, v);
    }
    /* Delete all but every seventh: the even ones first, then the odd ones. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = pass; i < N; i += 2) {
            if (i % 7 == 0)
                continue;
            snprintf(path, sizeof(path), "dmx.fixtures.f%d", i);
            del(t, path);
            if (i % 97 == 0) {
                /* Spot check all while deleting. */
                for (int k = 0; k < N; k += 13) {
                    snprintf(path, sizeof(path), "dmx.fixtures.f%d", k);
                    snprintf(v, sizeof(v), "%d", k);
                    int gone = k % 7 != 0 && (k % 2 < pass || (k % 2 == pass && k <= i));
                    expect_get(t, path, gone ? NULL : v);
                }
            }
        }
    hub_jbuf_init(&want);
    hub_jbuf_open(&want, '{');
    for (int i = 0; i < N; i += 7) {
        snprintf(path, sizeof(path), "f%d", i);
        hub_jbuf_key(&want, path);
        hub_jbuf_int(&want, i);
    }
    hub_jbuf_close(&want, '}');
    hub_jbuf_init(&got);
    hub_pubtree_render_at(t, &got, "dmx.fixtures");
    assert_string_equal(got.p, want.p);

    /* Down below the threshold and up again. */
    for (int i = 0; i < N; i += 7)
        if (i >= 7 * 4) {
            snprintf(path, sizeof(path), "dmx.fixtures.f%d", i);
            del(t, path);
        }
    expect_at(t, "dmx.fixtures", "{\"f0\":0,\"f7\":7,\"f14\":14,\"f21\":21}");
    for (int i = 0; i < 30; i++) {
        snprintf(path, sizeof(path), "dmx.fixtures.n%d", i);
        snprintf(v, sizeof(v), "%d", -i);
        set_s(t, path, v);
    }
    for (int i = 0; i < 30; i++) {
        snprintf(path, sizeof(path), "dmx.fixtures.n%d", i);
        snprintf(v, sizeof(v), "%d", -i);
        expect_get(t, path, v);
    }
    expect_get(t, "dmx.fixtures.f21", "21");
    expect_get(t, "dmx.fixtures.f28", NULL);
    hub_jbuf_free(&want);
    hub_jbuf_free(&got);
    hub_pubtree_free(t);
}

/* ---- model check: random sets and deletes mirrored in a jansson tree ---------------------------
 * jansson keeps object keys in insertion order and replaces in place, as the tree does, so the
 * compact dump of the model is the byte-exact expected rendering. Leaves are scalars. */

static const char *const names[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "q\"x"};
#define NNAMES (sizeof(names) / sizeof(names[0]))
static const char *const roots_all[] = {"a", "b", "c"};

static uint64_t rng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Apply to the model; returns 0 to skip the op (a delete through a leaf: see
 * test_delete_under_leaf_keeps_leaf). */
static int model_set(json_t *root, const char **seg, int nseg, json_t *v)
{
    json_t *n = root;
    for (int i = 0; i < nseg - 1; i++) {
        json_t *k = json_object_get(n, seg[i]);
        if (v == NULL) {
            if (k == NULL)
                return 1;
            if (!json_is_object(k))
                return 0;
        } else if (k == NULL || !json_is_object(k)) {
            k = json_object();
            json_object_set_new(n, seg[i], k); /* a value becomes an object: same place */
        }
        n = k;
    }
    if (v == NULL)
        json_object_del(n, seg[nseg - 1]);
    else
        json_object_set_new(n, seg[nseg - 1], v);
    return 1;
}

static void test_model(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();
    json_t *model = json_object();
    uint64_t s = 0xC0FFEE123456789ULL;
    char path[128], text[64];

    for (int op = 0; op < 20000; op++) {
        const char *seg[4];
        int nseg = 1 + (int)(rng(&s) % 4);
        size_t w = 0;
        seg[0] = roots_all[rng(&s) % 3];
        for (int i = 1; i < nseg; i++)
            seg[i] = names[rng(&s) % (i == nseg - 1 ? NNAMES : 4)];
        for (int i = 0; i < nseg; i++)
            w += (size_t)snprintf(path + w, sizeof(path) - w, "%s%s", i ? "." : "", seg[i]);
        unsigned kind = (unsigned)(rng(&s) % 10);
        json_t *v = NULL;
        if (kind < 7) {
            if (rng(&s) % 2) {
                int64_t x = (int64_t)(rng(&s) % 2001) - 1000;
                snprintf(text, sizeof(text), "%lld", (long long)x);
                v = json_integer(x);
            } else {
                snprintf(text, sizeof(text), "\"s%llu\"", (unsigned long long)(rng(&s) % 100));
                v = json_stringn(text + 1, strlen(text) - 2);
            }
        }
        if (!model_set(model, seg, nseg, v))
            continue;
        if (v == NULL)
            del(t, path);
        else
            set_s(t, path, text);

        /* get of the path just written agrees with the model. */
        size_t len = 0;
        const char *got = hub_pubtree_get(t, path, &len);
        if (v != NULL) {
            if (got == NULL || len != strlen(text) || strcmp(got, text) != 0)
                fail_msg("op %d: get(%s) = %s, want %s", op, path, got ? got : "NULL", text);
        } else if (got != NULL) {
            fail_msg("op %d: get(%s) = %s after delete", op, path, got);
        }

        if (op % 97 == 0 || op > 19900) {
            json_t *want = json_object();
            for (int r = 0; r < 3; r++) {
                json_t *x = json_object_get(model, roots_all[r]);
                json_object_set_new(want, roots_all[r], x ? json_incref(x) : json_object());
            }
            char *ws = json_dumps(want, JSON_COMPACT);
            hub_jbuf_t b;
            hub_jbuf_init(&b);
            hub_pubtree_render(t, &b, roots_all, 3);
            if (strcmp(b.p, ws) != 0)
                fail_msg("op %d (%s):\n got  %s\n want %s", op, path, b.p, ws);
            /* render_at of each root is the same text as its part of render. */
            for (int r = 0; r < 3; r++) {
                json_t *x = json_object_get(model, roots_all[r]);
                char *xs = x ? json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
                hub_jbuf_reset(&b);
                hub_pubtree_render_at(t, &b, roots_all[r]);
                assert_string_equal(b.p, xs ? xs : "null");
                free(xs);
            }
            hub_jbuf_free(&b);
            free(ws);
            json_decref(want);
        }
    }
    json_decref(model);
    hub_pubtree_free(t);
}

/* ---- render_without: a root whose sub-rooms were not asked for ------------------ */

static void expect_without(const hub_pubtree_t *t, const char *path, const char *const *skip,
                           size_t nskip, const char *want)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    hub_pubtree_render_without(t, &b, path, skip, nskip);
    if (strcmp(b.p, want) != 0)
        fail_msg("render_without(%s, %zu skipped):\n got  %s\n want %s", path, nskip, b.p, want);
    assert_int_equal(b.len, strlen(want));
    hub_jbuf_free(&b);
}
#define WITHOUT(t, path, want, ...)                                                                \
    do {                                                                                           \
        static const char *const s_[] = {__VA_ARGS__};                                             \
        expect_without((t), (path), s_, sizeof(s_) / sizeof(s_[0]), (want));                       \
    } while (0)

/* The children named in skip are left out, whatever their place; the others
 * keep their order; names are matched whole (a prefix skips nothing). */
static void test_render_without_skips_children(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    set_s(t, "devices.registry.d1", "{\"id\":\"d1\"}");
    set_s(t, "devices.commands.c1", "{\"status\":\"queued\"}");
    set_s(t, "devices.alerts.a1", "{\"kind\":\"x\"}");
    set_s(t, "devices.commandsx", "7");
    set_s(t, "devices.com", "8");

    expect_without(t, "devices", NULL, 0,
                   "{\"registry\":{\"d1\":{\"id\":\"d1\"}},\"commands\":{\"c1\":{\"status\":"
                   "\"queued\"}},\"alerts\":{\"a1\":{\"kind\":\"x\"}},\"commandsx\":7,\"com\":8}");
    WITHOUT(t, "devices",
            "{\"registry\":{\"d1\":{\"id\":\"d1\"}},\"alerts\":{\"a1\":{\"kind\":\"x\"}},"
            "\"commandsx\":7,\"com\":8}",
            "commands");
    /* first, last and several at once */
    WITHOUT(t, "devices",
            "{\"commands\":{\"c1\":{\"status\":\"queued\"}},\"alerts\":{\"a1\":{\"kind\":\"x\"}},"
            "\"commandsx\":7}",
            "com", "registry");
    WITHOUT(t, "devices", "{}", "registry", "commands", "alerts", "commandsx", "com");
    /* names not there, a prefix of a child, a child's name with more after it: nothing skipped */
    WITHOUT(t, "devices",
            "{\"registry\":{\"d1\":{\"id\":\"d1\"}},\"commands\":{\"c1\":{\"status\":"
            "\"queued\"}},\"alerts\":{\"a1\":{\"kind\":\"x\"}},\"commandsx\":7,\"com\":8}",
            "nope", "co", "commandsxx", "", "devices");
    /* only direct children are skipped, never grandchildren of the same name */
    set_s(t, "devices.registry.commands", "1");
    WITHOUT(t, "devices", "{\"registry\":{\"d1\":{\"id\":\"d1\"},\"commands\":1},\"com\":8}",
            "commands", "alerts", "commandsx");
    /* a deeper path works the same */
    WITHOUT(t, "devices.registry", "{\"d1\":{\"id\":\"d1\"}}", "commands");
    /* the same as render_at when nothing is skipped */
    hub_jbuf_t a, w;
    hub_jbuf_init(&a);
    hub_jbuf_init(&w);
    hub_pubtree_render_at(t, &a, "devices");
    hub_pubtree_render_without(t, &w, "devices", NULL, 0);
    assert_string_equal(a.p, w.p);
    hub_jbuf_free(&a);
    hub_jbuf_free(&w);
    hub_pubtree_free(t);
}

/* An absent path reads {} (a root with nothing under it), a leaf its text
 * (skip does not apply), an emptied object {}; escaped names stay escaped;
 * the output is a value (comma logic with what came before). */
static void test_render_without_absent_leaf_and_escapes(void **state)
{
    hub_pubtree_t *t = hub_pubtree_new();

    WITHOUT(t, "devices", "{}", "commands");
    expect_without(t, "", NULL, 0, "{}");
    set_s(t, "r.leaf", "[1,2]");
    set_s(t, "r.s", "\"commands\"");
    WITHOUT(t, "r.leaf", "[1,2]", "leaf", "1");
    WITHOUT(t, "r.s", "\"commands\"", "commands");
    WITHOUT(t, "r.leaf.under", "{}", "x"); /* under a leaf: absent */
    WITHOUT(t, "r.nope", "{}", "x");
    set_s(t, "e.x", "1");
    del(t, "e.x");
    WITHOUT(t, "e", "{}", "x");
    set_s(t, "q.a\"b", "1");
    set_s(t, "q.t\tab", "2");
    WITHOUT(t, "q", "{\"t\\tab\":2}", "a\"b");
    WITHOUT(t, "q", "{\"a\\\"b\":1}", "t\tab");

    hub_jbuf_t b;
    static const char *const skip[] = {"leaf"};
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "r");
    hub_pubtree_render_without(t, &b, "r", skip, 1);
    hub_jbuf_key(&b, "none");
    hub_pubtree_render_without(t, &b, "none", skip, 1);
    hub_jbuf_key(&b, "n");
    hub_jbuf_int(&b, 1);
    hub_jbuf_close(&b, '}');
    assert_string_equal(b.p, "{\"r\":{\"s\":\"commands\"},\"none\":{},\"n\":1}");
    hub_jbuf_free(&b);
    hub_pubtree_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_tree),
        cmocka_unit_test(test_set_creates_objects),
        cmocka_unit_test(test_order_and_replace),
        cmocka_unit_test(test_null_deletes),
        cmocka_unit_test(test_value_to_object_and_back),
        cmocka_unit_test(test_delete_under_leaf_keeps_leaf),
        cmocka_unit_test(test_render_roots),
        cmocka_unit_test(test_render_at_and_get),
        cmocka_unit_test(test_escaped_names),
        cmocka_unit_test(test_odd_paths),
        cmocka_unit_test(test_many_siblings),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_render_without_skips_children),
        cmocka_unit_test(test_render_without_absent_leaf_and_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
