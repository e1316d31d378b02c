/* core/jbuf.c - hand-written JSON text (see jbuf.h). */
#include "core/jbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

static void reserve(hub_jbuf_t *b, size_t more)
{
    size_t need = b->len + more + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < need)
        cap *= 2;
    b->p = hub_realloc(b->p, cap);
    b->cap = cap;
}

void hub_jbuf_init(hub_jbuf_t *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
    reserve(b, 0);
    b->p[0] = '\0';
}

void hub_jbuf_free(hub_jbuf_t *b)
{
    hub_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void hub_jbuf_reset(hub_jbuf_t *b)
{
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

char *hub_jbuf_take(hub_jbuf_t *b, size_t *len)
{
    char *p = b->p;
    if (len != NULL)
        *len = b->len;
    b->p = NULL; /* empty, owning nothing: writing again allocates anew */
    b->len = b->cap = 0;
    return p;
}

void hub_jbuf_raw(hub_jbuf_t *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* A comma is due after a value: anything but an opening bracket, a colon or
 * nothing at all. Callers have reserved room for it. */
static inline void sep_reserved(hub_jbuf_t *b)
{
    if (b->len == 0)
        return;
    char c = b->p[b->len - 1];
    if (c != '{' && c != '[' && c != ':' && c != ',')
        b->p[b->len++] = ',';
}

static void sep(hub_jbuf_t *b)
{
    reserve(b, 1);
    sep_reserved(b);
    b->p[b->len] = '\0';
}

/* 1 if s[0..n) needs no escaping (the common case: names and keys). */
static int plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* sep, then "s" and the suffix (":" for a key), in one reservation when s
 * needs no escaping. */
static void quoted(hub_jbuf_t *b, const char *s, size_t n, const char *suffix, size_t slen)
{
    if (plain(s, n)) {
        reserve(b, n + 3 + slen);
        sep_reserved(b);
        char *w = b->p + b->len;
        *w++ = '"';
        memcpy(w, s, n);
        w += n;
        *w++ = '"';
        memcpy(w, suffix, slen);
        b->len = (size_t)(w - b->p) + slen;
        b->p[b->len] = '\0';
        return;
    }
    sep(b);
    hub_jbuf_raw(b, "\"", 1);
    hub_jbuf_escape(b, s, n);
    hub_jbuf_raw(b, "\"", 1);
    hub_jbuf_raw(b, suffix, slen);
}

void hub_jbuf_escape(hub_jbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    reserve(b, n + 2);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        hub_jbuf_raw(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': hub_jbuf_lit(b, "\\\""); break;
        case '\\': hub_jbuf_lit(b, "\\\\"); break;
        case '\n': hub_jbuf_lit(b, "\\n"); break;
        case '\r': hub_jbuf_lit(b, "\\r"); break;
        case '\t': hub_jbuf_lit(b, "\\t"); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            hub_jbuf_raw(b, u, sizeof(u));
        }
        }
    }
    hub_jbuf_raw(b, s + run, n - run);
}

void hub_jbuf_strn(hub_jbuf_t *b, const char *s, size_t n)
{
    quoted(b, s, n, "", 0);
}

void hub_jbuf_str(hub_jbuf_t *b, const char *s)
{
    hub_jbuf_strn(b, s, strlen(s));
}

/* Digits of v, right-aligned in tmp[24], with a '-' when neg; returns the
 * index of the first character. Hand-rolled: snprintf was the hottest part
 * of rendering a fixture. */
static int digits(char tmp[24], uint64_t v, int neg)
{
    int i = 24;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (neg)
        tmp[--i] = '-';
    return i;
}

static void put_number(hub_jbuf_t *b, const char tmp[24], int i)
{
    size_t n = 24 - (size_t)i;
    reserve(b, n + 1);
    sep_reserved(b);
    memcpy(b->p + b->len, tmp + i, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void hub_jbuf_int(hub_jbuf_t *b, int64_t v)
{
    char tmp[24];
    /* -(v + 1) + 1 avoids negating INT64_MIN. */
    uint64_t mag = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    put_number(b, tmp, digits(tmp, mag, v < 0));
}

void hub_jbuf_uint(hub_jbuf_t *b, uint64_t v)
{
    char tmp[24];
    put_number(b, tmp, digits(tmp, v, 0));
}

void hub_jbuf_bool(hub_jbuf_t *b, int v)
{
    sep(b);
    if (v)
        hub_jbuf_lit(b, "true");
    else
        hub_jbuf_lit(b, "false");
}

void hub_jbuf_null(hub_jbuf_t *b)
{
    sep(b);
    hub_jbuf_lit(b, "null");
}

void hub_jbuf_json(hub_jbuf_t *b, const char *json, size_t n)
{
    sep(b);
    hub_jbuf_raw(b, json, n);
}

void hub_jbuf_keyn(hub_jbuf_t *b, const char *key, size_t n)
{
    quoted(b, key, n, ":", 1);
}

void hub_jbuf_key(hub_jbuf_t *b, const char *key)
{
    hub_jbuf_keyn(b, key, strlen(key));
}

void hub_jbuf_open(hub_jbuf_t *b, char c)
{
    reserve(b, 2);
    sep_reserved(b);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

void hub_jbuf_close(hub_jbuf_t *b, char c)
{
    reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}
