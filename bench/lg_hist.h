/* bench/lg_hist.h - latency histogram with ~1.6 % resolution.
 *
 * Log-linear buckets (64 per power of two) over nanoseconds, so millions of
 * samples cost a fixed 18 KiB and percentiles stay within 1.6 % of the exact
 * value. min and max are exact. Not thread-safe: one owner per histogram.
 */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

#include <jansson.h>

#define LG_HIST_SUB     64
#define LG_HIST_BUCKETS (LG_HIST_SUB + 58 * LG_HIST_SUB)

typedef struct lg_hist {
    uint64_t counts[LG_HIST_BUCKETS];
    uint64_t n;
    uint64_t min_ns, max_ns;
    double sum_ns;
} lg_hist_t;

void lg_hist_init(lg_hist_t *h);
void lg_hist_add(lg_hist_t *h, uint64_t ns);
void lg_hist_merge(lg_hist_t *dst, const lg_hist_t *src);
/* Value at percentile p (0..100), in ns; 0 when empty. */
uint64_t lg_hist_pct(const lg_hist_t *h, double p);
/* {"n","p50_us","p99_us","p999_us","max_us","mean_us"}; new reference. */
json_t *lg_hist_json(const lg_hist_t *h);

#endif
