/* bench/lg_hist.c - log-linear latency histogram (see lg_hist.h). */
#include "lg_hist.h"

#include <string.h>

static unsigned bucket_of(uint64_t v)
{
    if (v < LG_HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
    unsigned m = (unsigned)(v >> (e - 6)) & (LG_HIST_SUB - 1);
    unsigned b = LG_HIST_SUB + (e - 6) * LG_HIST_SUB + m;
    return b < LG_HIST_BUCKETS ? b : LG_HIST_BUCKETS - 1;
}

/* Midpoint of bucket b: the value reported for samples in it. */
static uint64_t bucket_mid(unsigned b)
{
    if (b < LG_HIST_SUB)
        return b;
    unsigned e = (b - LG_HIST_SUB) / LG_HIST_SUB + 6;
    uint64_t m = (b - LG_HIST_SUB) % LG_HIST_SUB;
    uint64_t lo = (LG_HIST_SUB + m) << (e - 6);
    uint64_t width = 1ull << (e - 6);
    return lo + width / 2;
}

void lg_hist_init(lg_hist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min_ns = UINT64_MAX;
}

void lg_hist_add(lg_hist_t *h, uint64_t ns)
{
    h->counts[bucket_of(ns)]++;
    h->n++;
    h->sum_ns += (double)ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void lg_hist_merge(lg_hist_t *dst, const lg_hist_t *src)
{
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->n += src->n;
    dst->sum_ns += src->sum_ns;
    if (src->min_ns < dst->min_ns)
        dst->min_ns = src->min_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
}

uint64_t lg_hist_pct(const lg_hist_t *h, double p)
{
    if (h->n == 0)
        return 0;
    /* Rank of the sample at p, 1-based, rounded up (nearest-rank method). */
    uint64_t rank = (uint64_t)((p / 100.0) * (double)h->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = bucket_mid(i);
            if (v > h->max_ns)
                v = h->max_ns;
            if (v < h->min_ns)
                v = h->min_ns;
            return v;
        }
    }
    return h->max_ns;
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

json_t *lg_hist_json(const lg_hist_t *h)
{
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)h->n, "p50_us",
                     us(lg_hist_pct(h, 50)), "p99_us", us(lg_hist_pct(h, 99)), "p999_us",
                     us(lg_hist_pct(h, 99.9)), "max_us", us(h->n ? h->max_ns : 0), "mean_us",
                     h->n ? h->sum_ns / (double)h->n / 1000.0 : 0.0);
}
