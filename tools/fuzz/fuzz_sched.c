/* tools/fuzz/fuzz_sched.c - libFuzzer target: what schedule editors send
 * (RFC 3339 times, EXDATE tokens, RFC 5545 RRULEs through libical). The
 * first byte picks the parser. Whatever the bytes: no crash, leak or hang;
 * a parsed time formats back and parses to the same instant; an accepted
 * rule expands over a week within its bounds, occurrences in order, each
 * overlapping the window. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "domains/schedules/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WEEK_MS (7LL * 86400000LL)

static void times(const char *text, size_t len, int exdate)
{
    int64_t ms, again;
    int has_ms = 0;
    char out[32];

    if (exdate) {
        if (sch_exdate_parse(text, len, &ms) != 0)
            return;
        sch_time_format(ms, 1, out);
    } else {
        if (sch_time_parse(text, len, &ms, &has_ms) != 0)
            return;
        sch_time_format(ms, has_ms, out);
    }
    assert(sch_time_parse(out, strlen(out), &again, &has_ms) == 0);
    assert(again == ms || (!has_ms && again == ms / 1000 * 1000));
}

typedef struct seen {
    int64_t last, from, to;
    long n;
} seen_t;

static void on_occ(void *ud, int64_t s, int64_t e)
{
    seen_t *v = ud;
    assert(s >= v->last && e > s);
    assert(e > v->from && s < v->to);
    v->last = s;
    v->n++;
}

static void rule(const char *text, size_t len)
{
    char rrule[SCH_RRULE_MAX + 1], err[256];
    if (len > SCH_RRULE_MAX)
        len = SCH_RRULE_MAX;
    memcpy(rrule, text, len);
    rrule[len] = '\0';
    if (strlen(rrule) != len || sch_rrule_check(rrule, err, sizeof(err)) != 0)
        return;
    /* 2026-03-30T09:00:00Z, one hour long, a week from the start */
    int64_t start = 1774861200000LL;
    int64_t exd[1] = {start + 86400000LL};
    sch_series_t ev = {
        .start = start, .end = start + 3600000LL, .rrule = rrule, .exdates = exd, .nexdates = 1};
    seen_t v = {0, start, start + WEEK_MS, 0};
    long n = sch_expand(&ev, v.from, v.to, 500, on_occ, &v, err, sizeof(err));
    assert(n < 0 || (n == v.n && n <= 500));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: times(text, len, 0); break;
    case 1: times(text, len, 1); break;
    default: rule(text, len); break;
    }
    return 0;
}
