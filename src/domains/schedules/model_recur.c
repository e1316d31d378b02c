/* domains/schedules/model_recur.c - RRULE checking and expansion with
 * libical, all in UTC (rules in model.h).
 *
 * libical 3.0 parses leniently, so the rule is first read part by part
 * here: ";;" makes it drop the rest silently, COUNT wraps past int, UNTIL
 * may name Feb 30, a numbered BYDAY in WEEKLY yields a wrong weekday.
 *
 * Expansion must not stall the loop thread, and a single
 * icalrecur_iterator_next() can scan for a long time (SECONDLY;BYMONTH=1
 * steps through a month of seconds inside one call). Two bounds make the
 * work proportional to the window: the rule's UNTIL is clamped to the
 * window's end (libical stops scanning there), and for the fixed-period
 * frequencies (SECONDLY..WEEKLY) DTSTART is moved forward by whole
 * intervals to just before the window, capped at SCH_EXPAND_EXAMINE_MAX
 * steps. icalrecur_iterator_set_start is not used: in 3.0.16 it loses the
 * INTERVAL phase of HOURLY/MINUTELY rules and cannot take COUNT. MONTHLY and
 * YEARLY run from DTSTART (a dozen steps a year); COUNT rules too, since
 * COUNT counts from DTSTART.
 */
#include "domains/schedules/model.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- reading the rule part by part ------------------------------------------------ */

typedef struct part {
    const char *p; /* the whole part, n bytes */
    size_t n;
    size_t eq; /* offset of '=' */
} part_t;

static int is_name(const part_t *pt, const char *name)
{
    return strlen(name) == pt->eq && strncasecmp(pt->p, name, pt->eq) == 0;
}

#define PART_FMT  "'%.*s'"
#define PART(pt)  (int)((pt)->n > 40 ? 40 : (pt)->n), (pt)->p
#define VAL(pt)   (pt)->p + (pt)->eq + 1
#define VALN(pt)  ((pt)->n - (pt)->eq - 1)
#define FREQ_HINT "SECONDLY, MINUTELY, HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY"

static int check_until(const part_t *pt, char *err, size_t errlen)
{
    char buf[20];
    size_t n = VALN(pt);
    int64_t ms;
    if (n == 8) { /* a DATE: check it as that day's midnight */
        snprintf(buf, sizeof(buf), "%.8sT000000Z", VAL(pt));
        n = 16;
    } else if (n == 15 || n == 16) {
        memcpy(buf, VAL(pt), n);
        if (n == 15 || buf[15] != 'Z') {
            fail(err, errlen,
                 "rrule UNTIL must be UTC (ending in Z) or a DATE (yyyyMMdd), not %.*s", (int)n,
                 VAL(pt));
            return -1;
        }
    } else {
        fail(err, errlen, "rrule UNTIL %.*s is not yyyyMMddTHHmmssZ or yyyyMMdd",
             (int)(n > 40 ? 40 : n), VAL(pt));
        return -1;
    }
    int rc = sch_exdate_parse(buf, n, &ms);
    if (rc != 0) {
        fail(err, errlen, "rrule UNTIL %.*s: %s", (int)VALN(pt), VAL(pt),
             rc == SCH_TIME_ESYNTAX ? "not yyyyMMddTHHmmssZ or yyyyMMdd" : sch_time_error(rc));
        return -1;
    }
    return 0;
}

static int check_count(const part_t *pt, char *err, size_t errlen)
{
    long long v = 0;
    size_t n = VALN(pt);
    const char *s = VAL(pt);
    for (size_t i = 0; i < n && v <= INT_MAX; i++) {
        if (s[i] < '0' || s[i] > '9') {
            v = -1;
            break;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (n == 0 || v < 1 || v > INT_MAX) {
        fail(err, errlen, "rrule " PART_FMT ": COUNT must be 1 to %d", PART(pt), INT_MAX);
        return -1;
    }
    return 0;
}

/* One NAME=VALUE part: what libical would get wrong, and whether it is FREQ. */
static int check_part(const part_t *pt, int *has_freq, char *err, size_t errlen)
{
    if (pt->eq == 0 || pt->eq >= pt->n - 1) {
        fail(err, errlen, "rrule part " PART_FMT " is not NAME=VALUE", PART(pt));
        return -1;
    }
    /* libical reads an empty list item ("BYSECOND=2,") as 0: a value the
     * rule never had, and occurrences out of order. */
    const char *v = VAL(pt);
    size_t vn = VALN(pt);
    for (size_t k = 0; k < vn; k++)
        if (v[k] == ',' && (k == 0 || k + 1 == vn || v[k + 1] == ',')) {
            fail(err, errlen, "rrule part " PART_FMT " has an empty list item", PART(pt));
            return -1;
        }
    if (is_name(pt, "FREQ"))
        *has_freq = 1;
    else if (is_name(pt, "UNTIL"))
        return check_until(pt, err, errlen);
    else if (is_name(pt, "COUNT"))
        return check_count(pt, err, errlen);
    else if (is_name(pt, "RSCALE") || is_name(pt, "SKIP")) {
        fail(err, errlen,
             "rrule " PART_FMT
             ": RSCALE/SKIP (RFC 7529) are not supported; the calendar is Gregorian",
             PART(pt));
        return -1;
    }
    return 0;
}

static int check_parts(const char *rr, size_t len, char *err, size_t errlen)
{
    int has_freq = 0;
    size_t i = 0;
    while (i < len) {
        const char *semi = memchr(rr + i, ';', len - i);
        part_t pt = {rr + i, semi ? (size_t)(semi - rr) - i : len - i, 0};
        const char *eq = memchr(pt.p, '=', pt.n);
        pt.eq = eq ? (size_t)(eq - pt.p) : 0;
        /* One trailing ';' is harmless; an empty part elsewhere makes
         * libical drop every part after it without an error. */
        if (pt.n == 0) {
            fail(err, errlen, "rrule has an empty part (\";;\" or a leading ';')");
            return -1;
        }
        if (check_part(&pt, &has_freq, err, errlen) != 0)
            return -1;
        i += pt.n + 1;
    }
    if (!has_freq) {
        fail(err, errlen, "rrule needs FREQ (" FREQ_HINT "), e.g. FREQ=WEEKLY;BYDAY=MO");
        return -1;
    }
    return 0;
}

static int parses(const char *s)
{
    icalerror_clear_errno();
    struct icalrecurrencetype r = icalrecurrencetype_from_string(s);
    free(r.rscale);
    return icalerrno == ICAL_NO_ERROR && r.freq != ICAL_NO_RECURRENCE;
}

/* libical refused the whole rule without saying why: try each part alone
 * (with a FREQ to lean on) to name the one it refuses. */
static void diagnose(const char *rr, size_t len, char *err, size_t errlen)
{
    char buf[SCH_RRULE_MAX + 16];
    size_t i = 0;
    while (i < len) {
        const char *semi = memchr(rr + i, ';', len - i);
        part_t pt = {rr + i, semi ? (size_t)(semi - rr) - i : len - i, 0};
        pt.eq = (size_t)((const char *)memchr(pt.p, '=', pt.n) - pt.p);
        int is_freq = is_name(&pt, "FREQ");
        snprintf(buf, sizeof(buf), "%s%.*s", is_freq ? "" : "FREQ=DAILY;", (int)pt.n, pt.p);
        if (!parses(buf)) {
            fail(err, errlen, "rrule part " PART_FMT " is not valid RFC 5545%s", PART(&pt),
                 is_freq ? " (FREQ is " FREQ_HINT ")" : "");
            return;
        }
        i += pt.n + 1;
    }
    fail(err, errlen, "rrule parts conflict: a part given twice, or COUNT with UNTIL");
}

/* ---- the parsed rule ---------------------------------------------------------------- */

static int listed(const short *a, size_t n)
{
    return n > 0 && a[0] != ICAL_RECURRENCE_ARRAY_MAX;
}

/* RFC 5545 3.3.10's table of what goes with which FREQ, and what libical
 * accepts but cannot do in UTC ms. */
static int check_struct(const struct icalrecurrencetype *r, char *err, size_t errlen)
{
    const char *f = icalrecur_freq_to_string(r->freq);
    int mon_year = r->freq == ICAL_MONTHLY_RECURRENCE || r->freq == ICAL_YEARLY_RECURRENCE;
    for (size_t i = 0; i < ICAL_BY_DAY_SIZE && r->by_day[i] != ICAL_RECURRENCE_ARRAY_MAX; i++) {
        if (!mon_year && icalrecurrencetype_day_position(r->by_day[i]) != 0) {
            fail(err, errlen,
                 "rrule BYDAY with a number (like 1MO) needs FREQ=MONTHLY or YEARLY, not %s", f);
            return -1;
        }
    }
    if (listed(r->by_week_no, ICAL_BY_WEEKNO_SIZE) && r->freq != ICAL_YEARLY_RECURRENCE) {
        fail(err, errlen, "rrule BYWEEKNO needs FREQ=YEARLY, not %s", f);
        return -1;
    }
    if (listed(r->by_year_day, ICAL_BY_YEARDAY_SIZE) && r->freq >= ICAL_DAILY_RECURRENCE &&
        r->freq <= ICAL_MONTHLY_RECURRENCE) {
        fail(err, errlen, "rrule BYYEARDAY does not go with FREQ=%s", f);
        return -1;
    }
    if (listed(r->by_month_day, ICAL_BY_MONTHDAY_SIZE) && r->freq == ICAL_WEEKLY_RECURRENCE) {
        fail(err, errlen, "rrule BYMONTHDAY does not go with FREQ=WEEKLY");
        return -1;
    }
    for (size_t i = 0; i < ICAL_BY_MONTH_SIZE && r->by_month[i] != ICAL_RECURRENCE_ARRAY_MAX; i++) {
        if (icalrecurrencetype_month_is_leap(r->by_month[i])) {
            fail(err, errlen, "rrule BYMONTH leap months (5L) need RSCALE, which is not supported");
            return -1;
        }
    }
    for (size_t i = 0; i < ICAL_BY_SECOND_SIZE && r->by_second[i] != ICAL_RECURRENCE_ARRAY_MAX;
         i++) {
        if (r->by_second[i] > 59) {
            fail(err, errlen, "rrule BYSECOND=60 (a leap second) cannot occur in UTC ms");
            return -1;
        }
    }
    return 0;
}

/* Parse and check rr into *r (r->rscale is always NULL after). */
static int parse_rule(const char *rr, struct icalrecurrencetype *r, char *err, size_t errlen)
{
    size_t len = rr ? strlen(rr) : 0;
    if (len == 0) {
        fail(err, errlen, "rrule is empty; expected e.g. FREQ=WEEKLY;BYDAY=MO,WE");
        return -1;
    }
    if (len > SCH_RRULE_MAX) {
        fail(err, errlen, "rrule is %zu bytes, more than %d", len, SCH_RRULE_MAX);
        return -1;
    }
    if (check_parts(rr, len, err, errlen) != 0)
        return -1;
    icalerror_clear_errno();
    *r = icalrecurrencetype_from_string(rr);
    free(r->rscale); /* refused above; libical strdup()s it */
    r->rscale = NULL;
    if (icalerrno != ICAL_NO_ERROR || r->freq == ICAL_NO_RECURRENCE) {
        icalerror_clear_errno();
        diagnose(rr, len, err, errlen);
        return -1;
    }
    return check_struct(r, err, errlen);
}

int sch_rrule_check(const char *rrule, char *err, size_t errlen)
{
    struct icalrecurrencetype r;
    if (parse_rule(rrule, &r, err, errlen) != 0)
        return -1;
    /* libical refuses some combinations only when iterating (BYMONTH=2;
     * BYMONTHDAY=30); try from a fixed Monday 10:00Z. */
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    icalrecur_iterator *it =
        icalrecur_iterator_new(r, icaltime_from_timet_with_zone(1767607200, 0, utc));
    if (it == NULL) {
        icalerror_clear_errno();
        fail(err, errlen,
             "rrule never occurs: its parts select no date (like BYMONTH=2;BYMONTHDAY=30)");
        return -1;
    }
    icalrecur_iterator_free(it);
    return 0;
}

/* ---- expansion ------------------------------------------------------------------------ */

/* Seconds per step of a fixed-period FREQ, or 0 (MONTHLY, YEARLY). */
static int64_t period_s(icalrecurrencetype_frequency f)
{
    switch (f) {
    case ICAL_SECONDLY_RECURRENCE: return 1;
    case ICAL_MINUTELY_RECURRENCE: return 60;
    case ICAL_HOURLY_RECURRENCE: return 3600;
    case ICAL_DAILY_RECURRENCE: return 86400;
    case ICAL_WEEKLY_RECURRENCE: return 7 * 86400;
    default: return 0;
    }
}

static int excluded(const sch_series_t *ev, int64_t s)
{
    for (size_t i = 0; i < ev->nexdates; i++)
        if (floor_div(ev->exdates[i], 1000) == floor_div(s, 1000))
            return 1;
    return 0;
}

static int overlaps(int64_t s, int64_t e, int64_t from, int64_t to)
{
    return s < to && (e > from || s >= from);
}

typedef struct walk {
    const sch_series_t *ev;
    int64_t from, to, dur, frac;
    long max;
    void (*emit)(void *ud, int64_t s, int64_t e);
    void *ud;
} walk_t;

/* Iterate it; returns the count emitted, or -1 past the examine cap. Sets
 * *ended when libical ran out (rather than the window or max ending it). */
static long iterate(const walk_t *w, icalrecur_iterator *it, long *examined, int *ended)
{
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    long n = 0;
    *ended = 0;
    while (n < w->max) {
        struct icaltimetype t = icalrecur_iterator_next(it);
        if (icaltime_is_null_time(t)) {
            *ended = 1;
            break;
        }
        if (++*examined > SCH_EXPAND_EXAMINE_MAX)
            return -1;
        int64_t s = (int64_t)icaltime_as_timet_with_zone(t, utc) * 1000 + w->frac;
        if (s >= w->to)
            break;
        if (!overlaps(s, s + w->dur, w->from, w->to) || excluded(w->ev, s))
            continue;
        if (w->emit != NULL)
            w->emit(w->ud, s, s + w->dur);
        n++;
    }
    return n;
}

static long too_many(const struct icalrecurrencetype *r, char *err, size_t errlen)
{
    fail(err, errlen,
         "rrule FREQ=%s needs more than %ld steps to cover the window; "
         "use a shorter window or a coarser FREQ",
         icalrecur_freq_to_string(r->freq), SCH_EXPAND_EXAMINE_MAX);
    return -1;
}

long sch_expand(const sch_series_t *ev, int64_t from, int64_t to, long max,
                void (*emit)(void *ud, int64_t s, int64_t e), void *ud, char *err, size_t errlen)
{
    if (ev->start < SCH_TIME_MIN_MS || ev->end > SCH_TIME_MAX_MS || ev->end < ev->start) {
        fail(err, errlen, "start/end out of order or out of range");
        return -1;
    }
    /* Bounded, so the arithmetic below cannot overflow; nothing lies outside. */
    from = from < -1 ? -1 : from;
    to = to > SCH_TIME_MAX_MS + 1 ? SCH_TIME_MAX_MS + 1 : to;
    walk_t w = {ev, from, to, ev->end - ev->start, 0, max, emit, ud};
    if (ev->rrule == NULL) {
        if (max <= 0 || !overlaps(ev->start, ev->end, from, to) || excluded(ev, ev->start))
            return 0;
        if (emit != NULL)
            emit(ud, ev->start, ev->end);
        return 1;
    }
    struct icalrecurrencetype r;
    if (parse_rule(ev->rrule, &r, err, errlen) != 0)
        return -1;
    if (max <= 0 || from >= to)
        return 0;

    icaltimezone *utc = icaltimezone_get_utc_timezone();
    int64_t dt_s = floor_div(ev->start, 1000), step = period_s(r.freq) * r.interval;
    w.frac = ev->start - dt_s * 1000;
    /* Skip whole intervals that end before the window: the same phase, so
     * the same occurrences from there on. */
    int64_t it_s = dt_s, gap = from - w.dur - ev->start;
    if (step > 0 && r.count == 0 && gap > 0)
        it_s += gap / (step * 1000) * step;
    /* The last second an occurrence may start at, then the real UNTIL, then
     * the step cap: libical scans no further than that. */
    int64_t lim = floor_div(to - 1 - w.frac, 1000);
    int capped = 0;
    if (lim > SCH_TIME_MAX_MS / 1000)
        lim = SCH_TIME_MAX_MS / 1000;
    if (!icaltime_is_null_time(r.until)) {
        int64_t u = (int64_t)icaltime_as_timet_with_zone(r.until, utc);
        lim = u < lim ? u : lim;
    }
    if (step > 0 && it_s + SCH_EXPAND_EXAMINE_MAX * step < lim) {
        lim = it_s + SCH_EXPAND_EXAMINE_MAX * step;
        capped = 1;
    }
    if (lim < it_s)
        return 0;
    r.until = icaltime_from_timet_with_zone((time_t)lim, 0, utc);
    icalrecur_iterator *it =
        icalrecur_iterator_new(r, icaltime_from_timet_with_zone((time_t)it_s, 0, utc));
    if (it == NULL) {
        icalerror_clear_errno();
        char t[32];
        sch_time_format(ev->start, 0, t);
        fail(err, errlen,
             "rrule never occurs from %s (like BYMONTHDAY=31 with INTERVAL=12 from a 30-day month)",
             t);
        return -1;
    }
    long examined = 0;
    int ended;
    long n = iterate(&w, it, &examined, &ended);
    icalrecur_iterator_free(it);
    /* Ran out at the step cap, not at COUNT: the window was not covered. */
    if (n < 0 || (ended && capped && !(r.count > 0 && examined >= r.count)))
        return too_many(&r, err, errlen);
    return n;
}
