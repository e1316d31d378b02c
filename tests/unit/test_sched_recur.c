/* tests/unit/test_sched_recur.c - domains/schedules model: UTC times and
 * RFC 5545 recurrence through libical, against hand-checked cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "domains/schedules/model.h"

#define SEC  1000LL
#define HOUR 3600000LL
#define DAY  86400000LL
/* Hand-checked: 2026-01-01 is 20454 days after 1970-01-01 (56 * 365 + 14
 * leap days), 1767225600 s. */
#define JAN1  1767225600000LL /* 2026-01-01T00:00:00Z */
#define MAR30 1774864800000LL /* 2026-03-30T10:00:00Z, a Monday (JAN1 + 88 d + 10 h) */
#define MAR31 1774951200000LL /* 2026-03-31T10:00:00Z, a Tuesday */
#define JAN31 1769850000000LL /* 2026-01-31T09:00:00Z = JAN1 + 30 d + 9 h */

/* ---- helpers ---------------------------------------------------------------------- */

typedef struct got {
    int64_t s[64], e[64];
    int n;
} got_t;

static void collect(void *ud, int64_t s, int64_t e)
{
    got_t *g = ud;
    if (g->n < 64) {
        g->s[g->n] = s;
        g->e[g->n] = e;
    }
    g->n++;
}

static char err[256];

static long expand(const char *rrule, int64_t start, int64_t dur, const int64_t *ex, size_t nex,
                   int64_t from, int64_t to, long max, got_t *g)
{
    sch_series_t ev = {start, start + dur, rrule, ex, nex};
    memset(g, 0, sizeof(*g));
    err[0] = '\0';
    return sch_expand(&ev, from, to, max, collect, g, err, sizeof(err));
}

static void assert_starts(const got_t *g, const int64_t *want, int n)
{
    assert_int_equal(g->n, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(g->s[i], want[i]);
}

/* ---- times ------------------------------------------------------------------------- */

static int parse(const char *s, int64_t *ms, int *has_ms)
{
    return sch_time_parse(s, strlen(s), ms, has_ms);
}

static void test_time_parse(void **state)
{
    int64_t ms = 0;
    int has = -1;
    assert_int_equal(parse("2026-03-31T10:15:30Z", &ms, &has), 0);
    assert_int_equal(ms, 1774952130000LL); /* JAN1 + 89 d + 36930 s */
    assert_int_equal(has, 0);
    assert_int_equal(parse("2026-04-01T06:00:03.496Z", &ms, &has), 0);
    assert_int_equal(ms, 1775023203496LL); /* JAN1 + 90 d + 21603 s + 496 ms */
    assert_int_equal(has, 1);
    assert_int_equal(parse("2026-04-01T06:00:03.5Z", &ms, NULL), 0);
    assert_int_equal(ms, 1775023203500LL);
    assert_int_equal(parse("2026-04-01T06:00:03.123456789Z", &ms, NULL), 0);
    assert_int_equal(ms, 1775023203123LL); /* cut, not rounded */
    assert_int_equal(parse("1970-01-01T00:00:00Z", &ms, NULL), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(parse("2024-02-29T00:00:00Z", &ms, NULL), 0);
    assert_int_equal(ms, 1709164800000LL);
    assert_int_equal(parse("2000-02-29T00:00:00Z", &ms, NULL), 0);
    assert_int_equal(ms, 951782400000LL);
    assert_int_equal(parse("9999-12-31T23:59:59.999Z", &ms, NULL), 0);
    assert_int_equal(ms, SCH_TIME_MAX_MS);
}

static void test_time_parse_refuses(void **state)
{
    int64_t ms = 42;
    int has = 7;
    /* UTC only, and the code says so. */
    assert_int_equal(parse("2026-03-31T10:15:30", &ms, &has), SCH_TIME_EZONE);
    assert_int_equal(parse("2026-03-31T10:15:30+02:00", &ms, &has), SCH_TIME_EZONE);
    assert_int_equal(parse("2026-03-31T10:15:30+00:00", &ms, &has), SCH_TIME_EZONE);
    assert_int_equal(parse("2026-03-31T10:15:30.5-01:00", &ms, &has), SCH_TIME_EZONE);
    assert_int_equal(parse("2026-03-31T10:15:30z", &ms, &has), SCH_TIME_EZONE);
    assert_non_null(strstr(sch_time_error(SCH_TIME_EZONE), "Z"));
    /* No such date or time. */
    assert_int_equal(parse("2026-02-30T00:00:00Z", &ms, &has), SCH_TIME_EDATE);
    assert_int_equal(parse("2026-02-29T00:00:00Z", &ms, &has), SCH_TIME_EDATE);
    assert_int_equal(parse("2100-02-29T00:00:00Z", &ms, &has), SCH_TIME_EDATE);
    assert_int_equal(parse("2026-04-31T00:00:00Z", &ms, &has), SCH_TIME_EDATE);
    assert_int_equal(parse("2026-13-01T00:00:00Z", &ms, &has), SCH_TIME_EDATE);
    assert_int_equal(parse("2026-03-31T24:00:00Z", &ms, &has), SCH_TIME_EDATE);
    assert_int_equal(parse("2026-03-31T10:60:00Z", &ms, &has), SCH_TIME_EDATE);
    assert_int_equal(parse("2026-03-31T10:15:60Z", &ms, &has), SCH_TIME_EDATE);
    /* Out of range. */
    assert_int_equal(parse("1969-12-31T23:59:59Z", &ms, &has), SCH_TIME_ERANGE);
    assert_int_equal(parse("0000-01-01T00:00:00Z", &ms, &has), SCH_TIME_ERANGE);
    assert_non_null(strstr(sch_time_error(SCH_TIME_ERANGE), "1970"));
    /* Syntax. */
    assert_int_equal(parse("2026-03-31 10:15:30Z", &ms, &has), SCH_TIME_ESYNTAX);
    assert_int_equal(parse("2026-03-31t10:15:30Z", &ms, &has), SCH_TIME_ESYNTAX);
    assert_int_equal(parse("2026-3-31T10:15:30Z", &ms, &has), SCH_TIME_ESYNTAX);
    assert_int_equal(parse("2026-03-31T10:15Z", &ms, &has), SCH_TIME_ESYNTAX);
    assert_int_equal(parse("2026-03-31T10:15:30.Z", &ms, &has), SCH_TIME_ESYNTAX);
    assert_int_equal(parse("2026-03-31T10:15:30.1234567890Z", &ms, &has), SCH_TIME_ESYNTAX);
    assert_int_equal(parse("2026-03-31T10:15:30Zx", &ms, &has), SCH_TIME_ESYNTAX);
    assert_int_equal(parse("2026-03-31T1a:15:30Z", &ms, &has), SCH_TIME_ESYNTAX);
    assert_int_equal(parse("", &ms, &has), SCH_TIME_ESYNTAX);
    assert_int_equal(sch_time_parse(NULL, 0, &ms, &has), SCH_TIME_ESYNTAX);
    /* Length is honoured: the Z past n is not seen. */
    assert_int_equal(sch_time_parse("2026-03-31T10:15:30Z", 19, &ms, &has), SCH_TIME_EZONE);
    /* Nothing written on failure. */
    assert_int_equal(ms, 42);
    assert_int_equal(has, 7);
}

static void test_time_format(void **state)
{
    char t[32];
    sch_time_format(1774952130000LL, 0, t);
    assert_string_equal(t, "2026-03-31T10:15:30Z");
    sch_time_format(1775023203496LL, 1, t);
    assert_string_equal(t, "2026-04-01T06:00:03.496Z");
    sch_time_format(1775023203496LL, 0, t); /* dropped, not rounded */
    assert_string_equal(t, "2026-04-01T06:00:03Z");
    sch_time_format(0, 1, t);
    assert_string_equal(t, "1970-01-01T00:00:00.000Z");
    sch_time_format(SCH_TIME_MAX_MS, 1, t);
    assert_string_equal(t, "9999-12-31T23:59:59.999Z");
    sch_time_format(951868799999LL, 0, t); /* 2000-02-29T23:59:59.999Z */
    assert_string_equal(t, "2000-02-29T23:59:59Z");
}

/* Parse and format agree with each other and with gmtime_r, a day at a time
 * through leap years. */
static void test_time_round_trip(void **state)
{
    for (int64_t ms = 0; ms < 40LL * 366 * DAY; ms += DAY + 3723001) {
        char t[32];
        int64_t back;
        int has;
        sch_time_format(ms, 1, t);
        assert_int_equal(parse(t, &back, &has), 0);
        assert_int_equal(back, ms);
        assert_int_equal(has, 1);
        time_t sec = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&sec, &tm);
        char want[32];
        strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
        assert_memory_equal(t, want, 19);
    }
}

static void test_exdate_forms(void **state)
{
    int64_t ms = 0;
    assert_int_equal(sch_exdate_parse("20260402T100000Z", 16, &ms), 0);
    assert_int_equal(ms, MAR31 + 2 * DAY);
    assert_int_equal(sch_exdate_parse("2026-04-02T10:00:00Z", 20, &ms), 0);
    assert_int_equal(ms, MAR31 + 2 * DAY);
    assert_int_equal(sch_exdate_parse("2026-04-01T06:00:03.496Z", 24, &ms), 0);
    assert_int_equal(ms, 1775023203496LL);
    assert_int_equal(sch_exdate_parse("20260402T100000", 15, &ms), SCH_TIME_EZONE);
    assert_int_equal(sch_exdate_parse("20260402T100000+0100", 20, &ms), SCH_TIME_EZONE);
    assert_int_equal(sch_exdate_parse("20260230T100000Z", 16, &ms), SCH_TIME_EDATE);
    assert_int_equal(sch_exdate_parse("19691231T235959Z", 16, &ms), SCH_TIME_ERANGE);
    assert_int_equal(sch_exdate_parse("20260402", 8, &ms), SCH_TIME_ESYNTAX);
    assert_int_equal(sch_exdate_parse("2026040xT100000Z", 16, &ms), SCH_TIME_ESYNTAX);
    assert_int_equal(sch_exdate_parse("20260402T100000ZZ", 17, &ms), SCH_TIME_ESYNTAX);
    char t[20];
    sch_exdate_format(MAR31 + 2 * DAY, t);
    assert_string_equal(t, "20260402T100000Z");
    sch_exdate_format(1775023203496LL, t);
    assert_string_equal(t, "20260401T060003Z");
}

/* ---- recurrence -------------------------------------------------------------------- */

static void test_daily_count(void **state)
{
    got_t g;
    static const int64_t want[] = {MAR31, MAR31 + DAY, MAR31 + 2 * DAY, MAR31 + 3 * DAY,
                                   MAR31 + 4 * DAY};
    assert_int_equal(
        expand("FREQ=DAILY;COUNT=5", MAR31, HOUR, NULL, 0, JAN1, JAN1 + 365 * DAY, 100, &g), 5);
    assert_starts(&g, want, 5);
    assert_int_equal(g.e[4], MAR31 + 4 * DAY + HOUR);
    /* COUNT counts from the start even when the window begins later. */
    assert_int_equal(expand("FREQ=DAILY;COUNT=5", MAR31, HOUR, NULL, 0, MAR31 + 3 * DAY,
                            JAN1 + 365 * DAY, 100, &g),
                     2);
    assert_starts(&g, want + 3, 2);
}

static void test_weekly_byday_until(void **state)
{
    got_t g;
    /* Mon 03-30, Wed 04-01, Fri 04-03, Mon 04-06, Wed 04-08, Fri 04-10 10:00 = UNTIL. */
    static const int64_t want[] = {MAR30,           MAR30 + 2 * DAY, MAR30 + 4 * DAY,
                                   MAR30 + 7 * DAY, MAR30 + 9 * DAY, MAR30 + 11 * DAY};
    assert_int_equal(expand("FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20260410T100000Z", MAR30, HOUR, NULL,
                            0, JAN1, JAN1 + 365 * DAY, 100, &g),
                     6);
    assert_starts(&g, want, 6);
    /* One second earlier the last one is gone. */
    assert_int_equal(expand("FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20260410T095959Z", MAR30, HOUR, NULL,
                            0, JAN1, JAN1 + 365 * DAY, 100, &g),
                     5);
    assert_starts(&g, want, 5);
    /* A start off the rule (a Tuesday) is not an occurrence (libical, dateutil). */
    assert_int_equal(expand("FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20260410T100000Z", MAR31, HOUR, NULL,
                            0, JAN1, JAN1 + 365 * DAY, 100, &g),
                     5);
    assert_starts(&g, want + 1, 5);
}

static void test_until_date(void **state)
{
    got_t g;
    /* A DATE UNTIL is 00:00:00Z of that day, inclusive: 10:00 on 04-05 is out. */
    assert_int_equal(expand("FREQ=DAILY;UNTIL=20260405", MAR31 + DAY, HOUR, NULL, 0, JAN1,
                            JAN1 + 365 * DAY, 100, &g),
                     4);
    assert_int_equal(g.s[3], MAR31 + 4 * DAY);
    int64_t midnight = JAN1 + 90 * DAY; /* 2026-04-01T00:00:00Z */
    assert_int_equal(expand("FREQ=DAILY;UNTIL=20260405", midnight, HOUR, NULL, 0, JAN1,
                            JAN1 + 365 * DAY, 100, &g),
                     5);
    assert_int_equal(g.s[4], midnight + 4 * DAY);
}

static void test_interval(void **state)
{
    got_t g;
    static const int64_t daily[] = {MAR31, MAR31 + 2 * DAY, MAR31 + 4 * DAY, MAR31 + 6 * DAY};
    assert_int_equal(expand("FREQ=DAILY;INTERVAL=2;COUNT=4", MAR31, HOUR, NULL, 0, JAN1,
                            JAN1 + 365 * DAY, 100, &g),
                     4);
    assert_starts(&g, daily, 4);
    /* Every other week on Tue/Thu from Tue 03-31: weeks of 03-30, 04-13, 04-27. */
    static const int64_t weekly[] = {
        MAR31,           MAR31 + 2 * DAY, MAR31 + 14 * DAY, MAR31 + 16 * DAY, MAR31 + 28 * DAY,
        MAR31 + 30 * DAY};
    assert_int_equal(expand("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH", MAR31, HOUR, NULL, 0, JAN1,
                            MAR31 + 31 * DAY, 100, &g),
                     6);
    assert_starts(&g, weekly, 6);
    /* Far from the start the phase holds: weeks of 05-25 and 06-08 are on, so
     * [06-01, 06-15) has Tue 06-09 and Thu 06-11 only. */
    int64_t jun1 = JAN1 + 151 * DAY;
    static const int64_t june[] = {MAR31 + 70 * DAY, MAR31 + 72 * DAY};
    assert_int_equal(expand("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH", MAR31, HOUR, NULL, 0, jun1,
                            jun1 + 14 * DAY, 100, &g),
                     2);
    assert_starts(&g, june, 2);
}

static void test_monthly_31(void **state)
{
    got_t g;
    /* Months without a 31st are skipped, not moved. */
    static const int64_t want[] = {JAN31,
                                   JAN31 + 59 * DAY,
                                   JAN31 + 120 * DAY,
                                   JAN31 + 181 * DAY,
                                   JAN31 + 212 * DAY,
                                   JAN31 + 273 * DAY,
                                   JAN31 + 334 * DAY};
    assert_int_equal(
        expand("FREQ=MONTHLY;BYMONTHDAY=31", JAN31, HOUR, NULL, 0, JAN1, JAN1 + 365 * DAY, 100, &g),
        7);
    assert_starts(&g, want, 7);
    char t[32];
    sch_time_format(g.s[1], 0, t);
    assert_string_equal(t, "2026-03-31T09:00:00Z");
    sch_time_format(g.s[6], 0, t);
    assert_string_equal(t, "2026-12-31T09:00:00Z");
}

static void test_exdate(void **state)
{
    got_t g;
    static const int64_t want[] = {MAR31, MAR31 + DAY, MAR31 + 3 * DAY, MAR31 + 4 * DAY};
    int64_t ex = MAR31 + 2 * DAY;
    assert_int_equal(
        expand("FREQ=DAILY;COUNT=5", MAR31, HOUR, &ex, 1, JAN1, JAN1 + 365 * DAY, 100, &g), 4);
    assert_starts(&g, want, 4);
    /* The compact form, as EXDATE lists carry it. */
    assert_int_equal(sch_exdate_parse("20260402T100000Z", 16, &ex), 0);
    assert_int_equal(
        expand("FREQ=DAILY;COUNT=5", MAR31, HOUR, &ex, 1, JAN1, JAN1 + 365 * DAY, 100, &g), 4);
    assert_starts(&g, want, 4);
    /* An exdate that matches nothing removes nothing. */
    ex = MAR31 + 2 * DAY + HOUR;
    assert_int_equal(
        expand("FREQ=DAILY;COUNT=5", MAR31, HOUR, &ex, 1, JAN1, JAN1 + 365 * DAY, 100, &g), 5);
    /* Starts with ms: matched to the second (the compact form has no ms). */
    int64_t s0 = 1775023203496LL; /* 2026-04-01T06:00:03.496Z */
    assert_int_equal(sch_exdate_parse("20260402T060003Z", 16, &ex), 0);
    assert_int_equal(
        expand("FREQ=DAILY;COUNT=3", s0, HOUR, &ex, 1, JAN1, JAN1 + 365 * DAY, 100, &g), 2);
    assert_int_equal(g.s[0], s0);
    assert_int_equal(g.s[1], s0 + 2 * DAY);
}

/* The domain's detach: an EXDATE on the series plus a standalone event. */
static void test_detached_occurrence(void **state)
{
    got_t series, single;
    int64_t ex = MAR31 + 2 * DAY;               /* 04-02 10:00 moved ... */
    int64_t moved = MAR31 + 2 * DAY + 4 * HOUR; /* ... to 14:00-15:30 */
    assert_int_equal(
        expand("FREQ=DAILY;COUNT=5", MAR31, HOUR, &ex, 1, JAN1, JAN1 + 365 * DAY, 100, &series), 4);
    assert_int_equal(
        expand(NULL, moved, HOUR + HOUR / 2, NULL, 0, JAN1, JAN1 + 365 * DAY, 100, &single), 1);
    assert_int_equal(single.s[0], moved);
    assert_int_equal(single.e[0], moved + HOUR + HOUR / 2);
    /* Together: five occurrences, one at its new time. */
    static const int64_t want[] = {MAR31, MAR31 + DAY, MAR31 + 2 * DAY + 4 * HOUR, MAR31 + 3 * DAY,
                                   MAR31 + 4 * DAY};
    int64_t all[5];
    int n = 0;
    for (int i = 0, j = 0; i < series.n || j < single.n;) {
        if (j >= single.n || (i < series.n && series.s[i] < single.s[j]))
            all[n++] = series.s[i++];
        else
            all[n++] = single.s[j++];
    }
    assert_int_equal(n, 5);
    assert_memory_equal(all, want, sizeof(want));
}

static void test_window_edges(void **state)
{
    got_t g;
    /* 2 h occurrences at 10:00. From 04-02 11:00: the 04-02 one has begun and
     * is included; to 04-03 11:00: the 04-03 one starts before to. */
    int64_t from = MAR31 + 2 * DAY + HOUR, to = MAR31 + 3 * DAY + HOUR;
    static const int64_t want[] = {MAR31 + 2 * DAY, MAR31 + 3 * DAY};
    assert_int_equal(expand("FREQ=DAILY", MAR31, 2 * HOUR, NULL, 0, from, to, 100, &g), 2);
    assert_starts(&g, want, 2);
    /* Ending exactly at from is out; starting exactly at to is out. */
    assert_int_equal(expand("FREQ=DAILY", MAR31, 2 * HOUR, NULL, 0, MAR31 + 2 * DAY + 2 * HOUR,
                            MAR31 + 3 * DAY, 100, &g),
                     0);
    assert_int_equal(expand("FREQ=DAILY", MAR31, 2 * HOUR, NULL, 0, MAR31 + 2 * DAY + 2 * HOUR,
                            MAR31 + 3 * DAY + 1, 100, &g),
                     1);
    assert_int_equal(g.s[0], MAR31 + 3 * DAY);
    /* An empty window. */
    assert_int_equal(expand("FREQ=DAILY", MAR31, HOUR, NULL, 0, MAR31, MAR31, 100, &g), 0);
    /* A long occurrence (3 days, weekly) still running at from, far from start. */
    int64_t far = MAR31 + 7 * 52 * DAY + DAY; /* Wed, a year on */
    assert_int_equal(expand("FREQ=WEEKLY", MAR31, 3 * DAY, NULL, 0, far, far + HOUR, 100, &g), 1);
    assert_int_equal(g.s[0], MAR31 + 7 * 52 * DAY);
}

static void test_single_event(void **state)
{
    got_t g;
    assert_int_equal(expand(NULL, MAR31, HOUR, NULL, 0, JAN1, JAN1 + 365 * DAY, 100, &g), 1);
    assert_int_equal(g.s[0], MAR31);
    assert_int_equal(g.e[0], MAR31 + HOUR);
    assert_int_equal(expand(NULL, MAR31, HOUR, NULL, 0, MAR31 + HOUR, JAN1 + 365 * DAY, 100, &g),
                     0);
    assert_int_equal(expand(NULL, MAR31, HOUR, NULL, 0, JAN1, MAR31, 100, &g), 0);
    assert_int_equal(expand(NULL, MAR31, HOUR, NULL, 0, MAR31 + HOUR - 1, MAR31 + HOUR, 100, &g),
                     1);
    assert_int_equal(expand(NULL, MAR31, HOUR, NULL, 0, JAN1, JAN1 + 365 * DAY, 0, &g), 0);
    int64_t ex = MAR31;
    assert_int_equal(expand(NULL, MAR31, HOUR, &ex, 1, JAN1, JAN1 + 365 * DAY, 100, &g), 0);
    /* End before start is refused. */
    assert_int_equal(expand(NULL, MAR31, -1, NULL, 0, JAN1, JAN1 + 365 * DAY, 100, &g), -1);
    assert_non_null(strstr(err, "start"));
}

static void test_max_cap(void **state)
{
    got_t g;
    static const int64_t want[] = {MAR31, MAR31 + DAY, MAR31 + 2 * DAY};
    assert_int_equal(expand("FREQ=DAILY", MAR31, HOUR, NULL, 0, JAN1, JAN1 + 365 * DAY, 3, &g), 3);
    assert_starts(&g, want, 3);
    assert_int_equal(expand("FREQ=DAILY", MAR31, HOUR, NULL, 0, JAN1, JAN1 + 365 * DAY, 1, &g), 1);
    assert_int_equal(g.s[0], MAR31);
    /* No emit: just the count. */
    sch_series_t ev = {MAR31, MAR31 + HOUR, "FREQ=DAILY", NULL, 0};
    assert_int_equal(sch_expand(&ev, MAR31, MAR31 + 10 * DAY, 100, NULL, NULL, NULL, 0), 10);
}

/* Refused with a message naming the problem. */
static void refused(const char *rrule, const char *needle)
{
    char msg[256] = "";
    if (sch_rrule_check(rrule, msg, sizeof(msg)) != -1)
        fail_msg("accepted: %s", rrule);
    if (strstr(msg, needle) == NULL)
        fail_msg("%s: message \"%s\" lacks \"%s\"", rrule, msg, needle);
    if (rrule == NULL)
        return; /* NULL is a single event to sch_expand */
    got_t g;
    assert_int_equal(expand(rrule, MAR31, HOUR, NULL, 0, JAN1, JAN1 + 365 * DAY, 100, &g), -1);
    if (strstr(err, needle) == NULL)
        fail_msg("expand %s: message \"%s\" lacks \"%s\"", rrule, err, needle);
    assert_int_equal(g.n, 0);
}

static void test_bad_rrules(void **state)
{
    refused("FREQ=FOO", "'FREQ=FOO'");
    /* found by fuzz_sched: an empty list item reads as 0, out of order */
    refused("FREQ=HOURLY;BYSECOND=2,", "empty list item");
    refused("FREQ=WEEKLY;BYDAY=,MO", "empty list item");
    refused("FREQ=WEEKLY;BYDAY=MO,,WE", "empty list item");
    refused("", "empty");
    refused(NULL, "empty");
    refused("BYDAY=MO", "needs FREQ");
    refused("garbage", "'garbage' is not NAME=VALUE");
    refused("FREQ=DAILY;BYDAY=XX", "'BYDAY=XX'");
    refused("FREQ=DAILY;FOO=1", "'FOO=1'");
    refused("RRULE:FREQ=DAILY", "needs FREQ");
    refused("FREQ=DAILY;COUNT=5;COUNT=6", "twice");
    refused("FREQ=DAILY;COUNT=3;UNTIL=20260410T100000Z", "COUNT with UNTIL");
    /* What libical itself would take and get wrong. */
    refused("FREQ=DAILY;;COUNT=2", "empty part");
    refused(";FREQ=DAILY", "empty part");
    refused("FREQ=DAILY;COUNT=99999999999", "COUNT must be 1 to");
    refused("FREQ=DAILY;COUNT=0", "COUNT must be 1 to");
    refused("FREQ=DAILY;UNTIL=20260410T100000", "UNTIL must be UTC");
    refused("FREQ=DAILY;UNTIL=20260230T100000Z", "no such date");
    refused("FREQ=DAILY;UNTIL=2026-04-10", "UNTIL");
    refused("FREQ=WEEKLY;BYDAY=1MO", "BYDAY with a number");
    refused("FREQ=WEEKLY;BYMONTHDAY=3", "BYMONTHDAY");
    refused("FREQ=MONTHLY;BYWEEKNO=3", "BYWEEKNO");
    refused("FREQ=DAILY;BYYEARDAY=3", "BYYEARDAY");
    refused("FREQ=DAILY;RSCALE=GREGORIAN", "RSCALE");
    refused("FREQ=MINUTELY;BYSECOND=60", "BYSECOND=60");
    refused("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never occurs");
    refused("FREQ=DAILY;INTERVAL=0", "'INTERVAL=0'");
    refused("FREQ=DAILY;COUNT", "'COUNT' is not NAME=VALUE");
    char big[SCH_RRULE_MAX + 32];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "FREQ=DAILY;X=", 13);
    refused(big, "more than");
}

static void test_good_rrules(void **state)
{
    static const char *ok[] = {
        "FREQ=DAILY",
        "FREQ=DAILY;", /* a trailing ';' as some editors write it */
        "freq=weekly;byday=mo",
        "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20260410T100000Z",
        "FREQ=DAILY;UNTIL=20260410",
        "FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=2",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=SECONDLY",
        "FREQ=DAILY;COUNT=2147483647",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char msg[256] = "";
        if (sch_rrule_check(ok[i], msg, sizeof(msg)) != 0)
            fail_msg("refused %s: %s", ok[i], msg);
    }
    /* err may be NULL. */
    assert_int_equal(sch_rrule_check("FREQ=FOO", NULL, 0), -1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Rules that would keep libical busy for a long time end in bounded work. */
static void test_dense_rules_bounded(void **state)
{
    got_t g;
    double t0 = now_s();
    /* 604,800 seconds in a week: more than SCH_EXPAND_EXAMINE_MAX. */
    assert_int_equal(
        expand("FREQ=SECONDLY", MAR31, SEC, NULL, 0, MAR31, MAR31 + 7 * DAY, 1000000, &g), -1);
    assert_non_null(strstr(err, "more than 100000 steps"));
    assert_non_null(strstr(err, "SECONDLY"));
    /* With a small max it is fine: the first ten. */
    assert_int_equal(expand("FREQ=SECONDLY", MAR31, SEC, NULL, 0, MAR31, MAR31 + 7 * DAY, 10, &g),
                     10);
    assert_int_equal(g.s[9], MAR31 + 9 * SEC);
    /* Far from start it skips ahead instead of counting from there. */
    assert_int_equal(expand("FREQ=SECONDLY", MAR31, SEC, NULL, 0, MAR31 + 300 * DAY,
                            MAR31 + 300 * DAY + 60 * SEC, 1000, &g),
                     60);
    assert_int_equal(g.s[0], MAR31 + 300 * DAY);
    /* libical would scan ~2.6M seconds inside one call for the next January;
     * the clamp to the window stops it. */
    int64_t feb1 = JAN1 + 31 * DAY;
    assert_int_equal(
        expand("FREQ=SECONDLY;BYMONTH=1", feb1, SEC, NULL, 0, feb1, feb1 + 7 * DAY, 1000, &g), -1);
    assert_non_null(strstr(err, "more than 100000 steps"));
    /* A rule that never occurs in the window ends at the window. */
    assert_int_equal(expand("FREQ=HOURLY;BYMONTH=4;BYMONTHDAY=31", MAR31, HOUR, NULL, 0, MAR31,
                            MAR31 + 7 * DAY, 1000, &g),
                     0);
    /* COUNT rules run from the start; a huge one is bounded too. */
    assert_int_equal(expand("FREQ=SECONDLY;COUNT=1000000", MAR31, SEC, NULL, 0, MAR31 + 2 * DAY,
                            MAR31 + 3 * DAY, 10, &g),
                     -1);
    assert_non_null(strstr(err, "more than 100000 steps"));
    /* Bounded means fast, even under ASan. */
    assert_true(now_s() - t0 < 5.0);
}

/* INTERVAL=12 with BYMONTHDAY=31 from a 30-day month never occurs: libical
 * refuses to iterate, and so does expansion. */
static void test_never_from_start(void **state)
{
    got_t g;
    int64_t apr1 = JAN1 + 90 * DAY;
    assert_int_equal(sch_rrule_check("FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=31", NULL, 0), 0);
    assert_int_equal(expand("FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=31", apr1, HOUR, NULL, 0, JAN1,
                            JAN1 + 3650 * DAY, 100, &g),
                     -1);
    assert_non_null(strstr(err, "never occurs from 2026-04-01T00:00:00Z"));
}

/* Skipping ahead (SECONDLY..WEEKLY) must give what iterating from the start
 * gives. A COUNT forces the latter, so the same rule with a COUNT too large
 * to matter is the reference. */
static void test_skip_ahead_agrees(void **state)
{
    static const char *rules[] = {
        "FREQ=DAILY",
        "FREQ=DAILY;INTERVAL=3",
        "FREQ=DAILY;BYDAY=MO,FR",
        "FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
        "FREQ=WEEKLY;INTERVAL=3;BYDAY=SU;WKST=SU",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR;WKST=SU",
        "FREQ=HOURLY;INTERVAL=5",
        "FREQ=HOURLY;INTERVAL=7;BYDAY=SA,SU",
        "FREQ=MINUTELY;INTERVAL=17",
        "FREQ=MONTHLY;BYDAY=2TU",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    };
    /* Starts at odd minutes, windows well after them. */
    int64_t starts[] = {MAR31 - 400 * DAY + 17 * 60000, MAR31 - 37 * DAY - 3 * HOUR, MAR31 + 1234};
    int64_t froms[] = {MAR31 + 3 * DAY + 5 * HOUR, MAR31 + 90 * DAY, MAR31 + 200 * DAY + 1};
    for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
        char counted[128];
        snprintf(counted, sizeof(counted), "%s;COUNT=90000", rules[r]);
        for (size_t i = 0; i < 3; i++) {
            for (size_t j = 0; j < 3; j++) {
                got_t a, b;
                long na = expand(rules[r], starts[i], 90 * 60000, NULL, 0, froms[j],
                                 froms[j] + 20 * DAY, 64, &a);
                long nb = expand(counted, starts[i], 90 * 60000, NULL, 0, froms[j],
                                 froms[j] + 20 * DAY, 64, &b);
                if (na != nb || na < 0 || memcmp(a.s, b.s, (size_t)na * sizeof(a.s[0])) != 0)
                    fail_msg("%s start %d from %d: %ld vs %ld (%s)", rules[r], (int)i, (int)j, na,
                             nb, err);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_parse_refuses),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_exdate_forms),
        cmocka_unit_test(test_daily_count),
        cmocka_unit_test(test_weekly_byday_until),
        cmocka_unit_test(test_until_date),
        cmocka_unit_test(test_interval),
        cmocka_unit_test(test_monthly_31),
        cmocka_unit_test(test_exdate),
        cmocka_unit_test(test_detached_occurrence),
        cmocka_unit_test(test_window_edges),
        cmocka_unit_test(test_single_event),
        cmocka_unit_test(test_max_cap),
        cmocka_unit_test(test_bad_rrules),
        cmocka_unit_test(test_good_rrules),
        cmocka_unit_test(test_dense_rules_bounded),
        cmocka_unit_test(test_never_from_start),
        cmocka_unit_test(test_skip_ahead_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
