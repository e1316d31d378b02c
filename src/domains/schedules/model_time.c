/* domains/schedules/model_time.c - UTC RFC 3339 and iCalendar compact times
 * <-> ms since the epoch (rules in model.h).
 *
 * Parsing counts days itself (no timegm: no TZ, no libc state); formatting
 * uses gmtime_r, which is exact for UTC over the accepted range.
 */
#include "domains/schedules/model.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_PER_DAY 86400000LL

const char *sch_time_error(int rc)
{
    switch (rc) {
    case 0: return "ok";
    case SCH_TIME_EZONE: return "must be UTC ending in Z; offsets such as +02:00 are refused";
    case SCH_TIME_EDATE: return "no such date or time of day";
    case SCH_TIME_ERANGE: return "out of range: 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z";
    default: return "expected YYYY-MM-DDTHH:MM:SSZ (a fraction .fff is allowed)";
    }
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

/* Leap years in 1..y-1 (y >= 1). */
static int64_t leaps_before(int64_t y)
{
    y -= 1;
    return y / 4 - y / 100 + y / 400;
}

/* Days from 1970-01-01 to y-m-d; y >= 1, the date valid. */
static int64_t epoch_days(int y, int m, int d)
{
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t days = 365 * ((int64_t)y - 1970) + leaps_before(y) - leaps_before(1970);
    return days + before[m - 1] + (m > 2 && is_leap(y)) + d - 1;
}

/* n decimal digits at s, or -1. */
static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* The checked fields to ms; the caller has the digits. */
static int to_ms(int y, int mo, int d, int h, int mi, int sec, int frac, int64_t *ms)
{
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0)
        return SCH_TIME_ESYNTAX;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y == 0 ? 2000 : y, mo) || h > 23 || mi > 59 ||
        sec > 59)
        return SCH_TIME_EDATE;
    if (y < 1970)
        return SCH_TIME_ERANGE;
    *ms = (epoch_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000 + frac;
    return 0;
}

/* What follows the seconds when it is not the Z we want. */
static int bad_tail(const char *s, size_t i, size_t n)
{
    if (i == n || s[i] == '+' || s[i] == '-' || s[i] == 'z')
        return SCH_TIME_EZONE;
    return SCH_TIME_ESYNTAX;
}

int sch_time_parse(const char *s, size_t n, int64_t *ms, int *has_ms)
{
    if (s == NULL || n < 19)
        return SCH_TIME_ESYNTAX;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return SCH_TIME_ESYNTAX;
    size_t i = 19;
    int frac = 0, got_frac = 0;
    if (i < n && s[i] == '.') {
        size_t first = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (i - first < 3)
                frac = frac * 10 + (s[i] - '0');
            i++;
        }
        if (i == first || i - first > 9)
            return SCH_TIME_ESYNTAX;
        for (size_t k = i - first; k < 3; k++)
            frac *= 10;
        got_frac = 1;
    }
    if (i >= n || s[i] != 'Z')
        return bad_tail(s, i, n);
    if (i + 1 != n)
        return SCH_TIME_ESYNTAX;
    int64_t t;
    int rc = to_ms(num(s, 4), num(s + 5, 2), num(s + 8, 2), num(s + 11, 2), num(s + 14, 2),
                   num(s + 17, 2), frac, &t);
    if (rc != 0)
        return rc;
    *ms = t;
    if (has_ms != NULL)
        *has_ms = got_frac;
    return 0;
}

/* n decimal digits of v (0 <= v < 10^n), zero-padded. */
static char *put_digits(char *o, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        o[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return o + n;
}

void sch_time_format(int64_t ms, int with_ms, char out[32])
{
    /* Clamp rather than print a year gmtime_r cannot: callers pass parsed times. */
    if (ms < SCH_TIME_MIN_MS)
        ms = SCH_TIME_MIN_MS;
    if (ms > SCH_TIME_MAX_MS)
        ms = SCH_TIME_MAX_MS;
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    /* Fields are in range after the clamp. Digits by hand, not snprintf:
     * every power intent has two of these, a thousand groups every poll. */
    char *o = out;
    o = put_digits(o, tm.tm_year + 1900, 4);
    *o++ = '-';
    o = put_digits(o, tm.tm_mon + 1, 2);
    *o++ = '-';
    o = put_digits(o, tm.tm_mday, 2);
    *o++ = 'T';
    o = put_digits(o, tm.tm_hour, 2);
    *o++ = ':';
    o = put_digits(o, tm.tm_min, 2);
    *o++ = ':';
    o = put_digits(o, tm.tm_sec, 2);
    if (with_ms) {
        *o++ = '.';
        o = put_digits(o, (int)(ms % 1000), 3);
    }
    *o++ = 'Z';
    *o = '\0';
}

int sch_exdate_parse(const char *s, size_t n, int64_t *ms)
{
    if (s == NULL)
        return SCH_TIME_ESYNTAX;
    if (n >= 11 && s[4] == '-')
        return sch_time_parse(s, n, ms, NULL);
    /* Compact: 20260401T060000Z. */
    if (n < 15 || s[8] != 'T')
        return SCH_TIME_ESYNTAX;
    if (n == 15 || s[15] != 'Z')
        return bad_tail(s, 15, n);
    if (n != 16)
        return SCH_TIME_ESYNTAX;
    return to_ms(num(s, 4), num(s + 4, 2), num(s + 6, 2), num(s + 9, 2), num(s + 11, 2),
                 num(s + 13, 2), 0, ms);
}

void sch_exdate_format(int64_t ms, char out[20])
{
    char t[32];
    sch_time_format(ms, 0, t);
    /* "2026-04-01T06:00:00Z" -> "20260401T060000Z" */
    snprintf(out, 20, "%.4s%.2s%.2sT%.2s%.2s%.2sZ", t, t + 5, t + 8, t + 11, t + 14, t + 17);
}
