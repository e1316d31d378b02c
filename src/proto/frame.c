/* proto/frame.c - pre-framed WebSocket text frames (see frame.h). */
#include "proto/frame.h"

#include <string.h>

#include "core/clock.h"
#include "core/mem.h"

#define WS_HDR_MAX 10 /* RFC 6455 5.2: 2, 4 or 10 bytes without a mask */

/* Server-to-client text frame header; returns its length. */
static size_t put_header(unsigned char *h, size_t len)
{
    h[0] = 0x81; /* FIN, text */
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

void hub__frame_append(hub_frame_t **fp, const char *data, size_t len, int broadcast, uint64_t seq)
{
    hub_frame_t *f = *fp;
    size_t need = (f ? f->len : 0) + WS_HDR_MAX + len;

    if (f == NULL || need > f->cap) {
        size_t cap = f ? f->cap * 2 : 256;
        while (cap < need)
            cap *= 2;
        f = hub_realloc(f, sizeof(*f) + LWS_PRE + cap);
        if (*fp == NULL) {
            atomic_init(&f->refs, 0);
            f->broadcast = broadcast;
            f->nframes = 0;
            f->seq0 = seq;
            f->offs = NULL;
            f->len = 0;
            f->t_us = hub_mono_us();
        }
        f->cap = cap;
        *fp = f;
    }
    if (broadcast) {
        /* Seqs of one batch are consecutive; offs grows in powers of two. */
        if ((f->nframes & (f->nframes - 1)) == 0)
            f->offs = hub_realloc(f->offs, (f->nframes ? f->nframes * 2 : 1) * sizeof(*f->offs));
        f->offs[f->nframes] = (uint32_t)f->len;
    }
    unsigned char *h = f->buf + LWS_PRE + f->len;
    size_t n = put_header(h, len);
    memcpy(h + n, data, len);
    f->len += n + len;
    f->nframes++;
}

hub_frame_t *hub__frame_new(const char *data, size_t len)
{
    hub_frame_t *f = NULL;
    hub__frame_append(&f, data, len, 0, 0);
    return f;
}

hub_frame_t *hub__frame_tail(const hub_frame_t *f, uint64_t seq)
{
    hub_frame_t *t;
    size_t i, off;

    if (!f->broadcast || seq >= f->seq0 + f->nframes)
        return NULL;
    i = seq > f->seq0 ? (size_t)(seq - f->seq0) : 0;
    off = f->offs[i];
    t = hub_malloc(sizeof(*t) + LWS_PRE + f->len - off);
    atomic_init(&t->refs, 0);
    t->broadcast = 1;
    t->nframes = f->nframes - (unsigned)i;
    t->seq0 = f->seq0 + i;
    t->offs = hub_malloc(t->nframes * sizeof(*t->offs));
    for (unsigned k = 0; k < t->nframes; k++)
        t->offs[k] = f->offs[i + k] - (uint32_t)off;
    t->len = t->cap = f->len - off;
    t->t_us = f->t_us;
    memcpy(t->buf + LWS_PRE, f->buf + LWS_PRE + off, t->len);
    return t;
}

void hub__frame_ref(hub_frame_t *f, int n)
{
    atomic_fetch_add_explicit(&f->refs, n, memory_order_relaxed);
}

void hub__frame_free(hub_frame_t *f)
{
    hub_free(f->offs);
    hub_free(f);
}

void hub__frame_unref(hub_frame_t *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        hub__frame_free(f);
}
