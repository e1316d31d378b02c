/* domains/devices/model_time.c - RFC 3339 text <-> ms since the epoch (rules
 * in model.h).
 *
 * Dates go through Howard Hinnant's days-from-civil arithmetic instead of
 * timegm/gmtime_r: no locale, no TZ, no libc state, exact for every year.
 */
#include "domains/devices/model.h"

#include <inttypes.h>
#include <stdio.h>

#define MS_PER_DAY 86400000LL

/* Days since 1970-01-01 of the proleptic Gregorian y-m-d. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse, for z >= 0 (all this module needs). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

size_t dev_time_format(uint64_t ms, int with_ms, char out[DEV_TIME_MAX])
{
    int64_t days = (int64_t)(ms / (uint64_t)MS_PER_DAY);
    int64_t rem = (int64_t)(ms % (uint64_t)MS_PER_DAY);
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int hh = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), ss = (int)(rem / 1000 % 60);
    int n;
    /* Years past 9999 print more digits; even UINT64_MAX ms fits in 32 bytes. */
    if (with_ms)
        n = snprintf(out, DEV_TIME_MAX, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, hh,
                     mi, ss, (int)(rem % 1000));
    else
        n = snprintf(out, DEV_TIME_MAX, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02dZ", y, m, d, hh, mi,
                     ss);
    return n < 0 ? 0 : (size_t)n;
}

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : dim[m - 1];
}

int dev_time_parse(const char *s, size_t len, uint64_t *ms)
{
    if (s == NULL || len < 19)
        return -1;
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    /* digits() is -1 on a non-digit, so each lower bound also catches that. */
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
        return -1;

    size_t i = 19;
    int frac_ms = 0;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            /* Keep the first three digits as ms; the rest is truncated. */
            if (i - start < 3)
                frac_ms = frac_ms * 10 + (s[i] - '0');
            i++;
        }
        size_t nd = i - start;
        if (nd < 1 || nd > 9)
            return -1;
        for (size_t k = nd; k < 3; k++)
            frac_ms *= 10;
    }

    int64_t off_s = 0;
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        if (len - i < 6 || s[i + 3] != ':')
            return -1;
        int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        /* Python's timezone() wants |offset| < 24 h. */
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off_s = (int64_t)oh * 3600 + om * 60;
        if (s[i] == '-')
            off_s = -off_s;
        i += 6;
    }
    if (i != len)
        return -1;

    int64_t t = days_from_civil(y, mo, d) * MS_PER_DAY +
                ((int64_t)h * 3600 + mi * 60 + sec - off_s) * 1000 + frac_ms;
    if (t < 0)
        return -1;
    *ms = (uint64_t)t;
    return 0;
}
