/* engine/pubtree.c - the published state tree (see pubtree.h).
 *
 * Each interior node keeps its children in an array (insertion order, for
 * rendering) and, once it has more than a few, an open-addressing index by
 * name, so a fleet of thousands of entities under one node stays O(1) per
 * change.
 */
#include "engine/pubtree.h"

#include <string.h>

#include "core/mem.h"
#include "core/str.h"

#define INDEX_FROM 8

typedef struct node {
    char *name;
    size_t namelen;
    char *text;      /* leaf: JSON text; NULL for an interior node */
    size_t len, cap; /* cap: bytes text can hold (a value changes in place) */
    struct node **kids;
    size_t nkids, capkids;
    size_t *idx; /* kid index + 1, 0 empty; NULL until nkids > INDEX_FROM */
    size_t idxcap;
} node_t;

struct hub_pubtree {
    node_t root;
};

static void node_free(node_t *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(n->kids[i]);
        hub_free(n->kids[i]);
    }
    hub_free(n->kids);
    hub_free(n->idx);
    hub_free(n->text);
    hub_free(n->name);
    n->kids = NULL;
    n->idx = NULL;
    n->text = NULL;
    n->name = NULL;
    n->nkids = n->capkids = n->idxcap = 0;
}

static void reindex(node_t *n)
{
    hub_free(n->idx);
    n->idx = NULL;
    n->idxcap = 0;
    if (n->nkids <= INDEX_FROM)
        return;
    n->idxcap = 32;
    while (n->idxcap < n->nkids * 2)
        n->idxcap *= 2;
    n->idx = hub_calloc(n->idxcap, sizeof(*n->idx));
    for (size_t i = 0; i < n->nkids; i++) {
        size_t j = hub_hash(n->kids[i]->name, n->kids[i]->namelen) & (n->idxcap - 1);
        while (n->idx[j] != 0)
            j = (j + 1) & (n->idxcap - 1);
        n->idx[j] = i + 1;
    }
}

/* Index of the child named s[0..len), or -1. */
static long find(const node_t *n, const char *s, size_t len)
{
    if (n->idx != NULL) {
        size_t j = hub_hash(s, len) & (n->idxcap - 1);
        while (n->idx[j] != 0) {
            const node_t *k = n->kids[n->idx[j] - 1];
            if (k->namelen == len && memcmp(k->name, s, len) == 0)
                return (long)(n->idx[j] - 1);
            j = (j + 1) & (n->idxcap - 1);
        }
        return -1;
    }
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->namelen == len && memcmp(n->kids[i]->name, s, len) == 0)
            return (long)i;
    return -1;
}

static node_t *add_kid(node_t *n, const char *s, size_t len)
{
    node_t *k = hub_calloc(1, sizeof(*k));
    k->name = hub_strndup(s, len);
    k->namelen = len;
    if (n->nkids == n->capkids) {
        n->capkids = n->capkids ? n->capkids * 2 : 4;
        n->kids = hub_realloc(n->kids, n->capkids * sizeof(*n->kids));
    }
    n->kids[n->nkids++] = k;
    if (n->idx != NULL && n->nkids * 2 <= n->idxcap) {
        size_t j = hub_hash(s, len) & (n->idxcap - 1);
        while (n->idx[j] != 0)
            j = (j + 1) & (n->idxcap - 1);
        n->idx[j] = n->nkids;
    } else if (n->nkids > INDEX_FROM) {
        reindex(n);
    }
    return k;
}

static void remove_kid(node_t *n, size_t i)
{
    node_free(n->kids[i]);
    hub_free(n->kids[i]);
    memmove(&n->kids[i], &n->kids[i + 1], (n->nkids - i - 1) * sizeof(*n->kids));
    n->nkids--;
    reindex(n);
}

hub_pubtree_t *hub_pubtree_new(void)
{
    return hub_calloc(1, sizeof(hub_pubtree_t));
}

void hub_pubtree_free(hub_pubtree_t *t)
{
    if (t == NULL)
        return;
    node_free(&t->root);
    hub_free(t);
}

void hub_pubtree_set(hub_pubtree_t *t, const char *path, const char *json, size_t len)
{
    int del = len == 4 && memcmp(json, "null", 4) == 0;
    node_t *n = &t->root;

    for (;;) {
        const char *dot = strchr(path, '.');
        size_t seg = dot ? (size_t)(dot - path) : strlen(path);
        long i = find(n, path, seg);
        if (dot == NULL) {
            if (del) {
                if (i >= 0)
                    remove_kid(n, (size_t)i);
                return;
            }
            node_t *k = i >= 0 ? n->kids[i] : add_kid(n, path, seg);
            if (k->nkids > 0) { /* was an object of entities: now one value */
                char *name = k->name;
                size_t nl = k->namelen;
                k->name = NULL;
                node_free(k);
                k->name = name;
                k->namelen = nl;
            }
            if (k->text == NULL)
                k->cap = 0;
            hub_str_set(&k->text, &k->cap, json, len);
            k->len = len;
            return;
        }
        if (i < 0) {
            if (del)
                return; /* nothing there to remove */
            n = add_kid(n, path, seg);
        } else {
            n = n->kids[i];
            if (n->text != NULL && del)
                return;            /* nothing under a value to remove: the value stays */
            if (n->text != NULL) { /* a value becomes an object of entities */
                hub_free(n->text);
                n->text = NULL;
            }
        }
        path = dot + 1;
    }
}

static const node_t *lookup(const hub_pubtree_t *t, const char *path)
{
    const node_t *n = &t->root;
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t seg = dot ? (size_t)(dot - path) : strlen(path);
        long i = find(n, path, seg);
        if (i < 0)
            return NULL;
        n = n->kids[i];
        if (dot == NULL)
            return n;
        path = dot + 1;
    }
}

const char *hub_pubtree_get(const hub_pubtree_t *t, const char *path, size_t *len)
{
    const node_t *n = lookup(t, path);
    if (n == NULL || n->text == NULL)
        return NULL;
    if (len != NULL)
        *len = n->len;
    return n->text;
}

static void render(const node_t *n, hub_jbuf_t *out)
{
    if (n->text != NULL) {
        hub_jbuf_json(out, n->text, n->len);
        return;
    }
    hub_jbuf_open(out, '{');
    for (size_t i = 0; i < n->nkids; i++) {
        hub_jbuf_keyn(out, n->kids[i]->name, n->kids[i]->namelen);
        render(n->kids[i], out);
    }
    hub_jbuf_close(out, '}');
}

void hub_pubtree_render(const hub_pubtree_t *t, hub_jbuf_t *out, const char *const *roots,
                        size_t nroots)
{
    hub_jbuf_open(out, '{');
    for (size_t r = 0; r < nroots; r++) {
        long i = find(&t->root, roots[r], strlen(roots[r]));
        hub_jbuf_key(out, roots[r]);
        if (i < 0) /* a root with no entities yet reads {}, as it does once they are gone */
            hub_jbuf_lit(out, "{}");
        else
            render(t->root.kids[i], out);
    }
    hub_jbuf_close(out, '}');
}

void hub_pubtree_render_at(const hub_pubtree_t *t, hub_jbuf_t *out, const char *path)
{
    const node_t *n = lookup(t, path);
    if (n == NULL)
        hub_jbuf_null(out);
    else
        render(n, out);
}

void hub_pubtree_render_without(const hub_pubtree_t *t, hub_jbuf_t *out, const char *path,
                                const char *const *skip, size_t nskip)
{
    const node_t *n = lookup(t, path);

    if (n == NULL) {
        hub_jbuf_lit(out, "{}");
        return;
    }
    if (n->text != NULL) {
        hub_jbuf_json(out, n->text, n->len);
        return;
    }
    hub_jbuf_open(out, '{');
    for (size_t i = 0; i < n->nkids; i++) {
        size_t k = 0;
        while (k < nskip && !(strlen(skip[k]) == n->kids[i]->namelen &&
                              memcmp(skip[k], n->kids[i]->name, n->kids[i]->namelen) == 0))
            k++;
        if (k < nskip)
            continue;
        hub_jbuf_keyn(out, n->kids[i]->name, n->kids[i]->namelen);
        render(n->kids[i], out);
    }
    hub_jbuf_close(out, '}');
}
