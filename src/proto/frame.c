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

static hub_frame_t *grow(hub_frame_t *f, size_t need)
{
    size_t cap = f ? f->cap * 2 : 256;
    int fresh = f == NULL;

    while (cap < need)
        cap *= 2;
    f = hub_realloc(f, sizeof(*f) + LWS_PRE + cap);
    if (fresh) {
        atomic_init(&f->refs, 0);
        f->broadcast = 0;
        f->nframes = 0;
        f->meta = NULL;
        f->len = 0;
        f->max_seq = 0;
        f->t_us = hub_mono_us();
    }
    f->cap = cap;
    return f;
}

void hub__frame_append(hub_frame_t **fp, const char *data, size_t len, const hub_frame_meta_t *m)
{
    hub_frame_t *f = *fp;
    size_t need = (f ? f->len : 0) + WS_HDR_MAX + len;

    if (f == NULL || need > f->cap)
        *fp = f = grow(f, need);
    /* Metadata grows in powers of two. */
    if ((f->nframes & (f->nframes - 1)) == 0)
        f->meta = hub_realloc(f->meta, (f->nframes ? f->nframes * 2 : 1) * sizeof(*f->meta));
    hub_frame_meta_t *fm = &f->meta[f->nframes];
    if (m != NULL)
        *fm = *m;
    else
        memset(fm, 0, sizeof(*fm));
    unsigned char *h = f->buf + LWS_PRE + f->len;
    size_t n = put_header(h, len);
    memcpy(h + n, data, len);
    fm->off = (uint32_t)f->len;
    fm->len = (uint32_t)(n + len);
    if ((fm->flags & HUB_FRAME_SEQ) && fm->seq > f->max_seq)
        f->max_seq = fm->seq;
    if (!(fm->flags & HUB_FRAME_PRIVATE) && m != NULL)
        f->broadcast = 1;
    f->len += n + len;
    f->nframes++;
}

hub_frame_t *hub__frame_new(const char *data, size_t len)
{
    hub_frame_t *f = NULL;
    hub__frame_append(&f, data, len, NULL);
    return f;
}

hub_frame_t *hub__frame_select(hub_frame_t *f, int (*keep)(const hub_frame_meta_t *m, void *ud),
                               void *ud)
{
    unsigned kept = 0;
    size_t bytes = 0;
    hub_frame_t *t;

    for (unsigned i = 0; i < f->nframes; i++)
        if (keep(&f->meta[i], ud)) {
            kept++;
            bytes += f->meta[i].len;
        }
    if (kept == f->nframes)
        return f;
    if (kept == 0)
        return NULL;
    t = hub_malloc(sizeof(*t) + LWS_PRE + bytes);
    atomic_init(&t->refs, 0);
    t->broadcast = f->broadcast;
    t->nframes = 0;
    t->meta = hub_malloc(kept * sizeof(*t->meta));
    t->len = 0;
    t->cap = bytes;
    t->t_us = f->t_us;
    t->max_seq = 0;
    for (unsigned i = 0; i < f->nframes; i++) {
        const hub_frame_meta_t *m = &f->meta[i];
        if (!keep(m, ud))
            continue;
        memcpy(t->buf + LWS_PRE + t->len, f->buf + LWS_PRE + m->off, m->len);
        t->meta[t->nframes] = *m;
        t->meta[t->nframes].off = (uint32_t)t->len;
        if ((m->flags & HUB_FRAME_SEQ) && m->seq > t->max_seq)
            t->max_seq = m->seq;
        t->len += m->len;
        t->nframes++;
    }
    return t;
}

void hub__frame_ref(hub_frame_t *f, int n)
{
    atomic_fetch_add_explicit(&f->refs, n, memory_order_relaxed);
}

void hub__frame_free(hub_frame_t *f)
{
    hub_free(f->meta);
    hub_free(f);
}

void hub__frame_unref(hub_frame_t *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        hub__frame_free(f);
}
