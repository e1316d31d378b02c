/* domains/schedules/model.h - the schedules' pure model: UTC times, RFC 5545
 * recurrence (libical), and seed 004's group power intents.
 *
 * Nothing here touches the engine, the clock or MQTT: each function is a
 * function of its arguments, so test_sched_recur and test_sched_power pin
 * the seed's rules down with a fixed now. All times are int64 ms since the
 * epoch, UTC; there is no local time anywhere, so DST never matters.
 *
 * Threading: pure. Times and power intents: any thread. Recurrence: one
 * thread at a time (the loop's): libical builds its UTC zone lazily, unlocked.
 */
#ifndef HUB_DOMAINS_SCHEDULES_MODEL_H
#define HUB_DOMAINS_SCHEDULES_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/jbuf.h"

/* ---- times (model_time.c) -------------------------------------------------------- */

/* Accepted range: 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z. */
#define SCH_TIME_MIN_MS 0LL
#define SCH_TIME_MAX_MS 253402300799999LL

/* sch_time_parse / sch_exdate_parse: 0, or one of these (sch_time_error names it). */
enum {
    SCH_TIME_ESYNTAX = -1, /* not YYYY-MM-DDTHH:MM:SS[.f]Z */
    SCH_TIME_EZONE = -2,   /* no Z, or an offset such as +02:00: UTC only */
    SCH_TIME_EDATE = -3,   /* no such date or time (Feb 30, 24:00, :60) */
    SCH_TIME_ERANGE = -4,  /* before 1970 (4-digit years end at 9999) */
};
/* One line naming the problem, for messages ("must be UTC ending in Z; ..."). */
const char *sch_time_error(int rc);

/* UTC RFC 3339 with Z: "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" (T and Z upper case).
 * A fraction is cut to ms; has_ms (may be NULL) says one was given, so
 * output can keep the form. Nothing is written on failure. */
int sch_time_parse(const char *s, size_t n, int64_t *ms, int *has_ms);
/* "…Z": "2026-03-31T10:15:30Z", or "2026-04-01T06:00:03.496Z" with with_ms. */
void sch_time_format(int64_t ms, int with_ms, char out[32]);
/* RFC 3339 Z as above, or the compact yyyyMMddTHHmmssZ ("20260401T060000Z",
 * iCalendar's EXDATE form, whole seconds). Same codes as sch_time_parse. */
int sch_exdate_parse(const char *s, size_t n, int64_t *ms);
void sch_exdate_format(int64_t ms, char out[20]); /* compact yyyyMMddTHHmmssZ */

/* ---- recurrence (model_recur.c) --------------------------------------------------- */

#define SCH_RRULE_MAX 1024 /* bytes; longer rules are refused */
/* libical steps examined by one sch_expand before it gives up: FREQ=SECONDLY
 * over a week is 604,800 steps and must not stall the loop thread. */
#define SCH_EXPAND_EXAMINE_MAX 100000L

/* Validate an RRULE (libical): FREQ required; UNTIL must be UTC (…Z) or a DATE; error names the
 * part. Beyond libical's parser this refuses what it accepts but gets wrong: empty parts (";;"
 * silently drops what follows), COUNT past int, UNTIL dates that do not exist, numbered BYDAY
 * outside MONTHLY/YEARLY, RFC 5545's forbidden BY* combinations, BYSECOND=60, RSCALE and leap
 * months. A DATE UNTIL means 00:00:00Z of that day, inclusive (libical, and seed 004's dateutil).
 * Returns 0, or -1 with one line in err. */
int sch_rrule_check(const char *rrule, char *err, size_t errlen);

typedef struct sch_series {
    int64_t start, end; /* the first occurrence */
    const char *rrule;  /* NULL: a single event */
    const int64_t *exdates;
    size_t nexdates; /* occurrence starts removed (matched to the second) */
} sch_series_t;
/* Occurrences [s,e) overlapping [from,to), start order, at most max (then stops, returns max).
 * Returns the count, or -1 (bad rrule, err set).
 * Overlap is s < to && e > from (a zero-length one: from <= s < to), so an
 * occurrence that began before from is included while it lasts. As in
 * libical and dateutil, a start that does not match the rule (a Tuesday for
 * BYDAY=MO) is not an occurrence. -1 also when start/end are out of order
 * or range, when the rule never occurs from start, or when more than SCH_EXPAND_EXAMINE_MAX steps
 * would be needed to reach to (emit may have been called by then: discard those). Detached
 * occurrences are an exdate here plus a single event of their own. */
long sch_expand(const sch_series_t *ev, int64_t from, int64_t to, long max,
                void (*emit)(void *ud, int64_t s, int64_t e), void *ud, char *err, size_t errlen);

/* ---- power intents (model_power.c) ------------------------------------------------ */

typedef struct sch_occ {
    int64_t start, end;
    int64_t event_id;
} sch_occ_t;
/* Power basis of one group at now from its occurrences (any order): on when one covers now
 * (start <= now < end); window = the union of occurrences chained by overlap or adjacency
 * (next.start <= cur.end) that contains now; ids = events covering now, ascending, unique.
 * Off: win_start = win_end = 0, ids NULL. out owns ids (sch_basis_free). */
typedef struct sch_basis {
    int on;
    int64_t win_start, win_end;
    int64_t *ids;
    size_t nids;
} sch_basis_t;
void sch_power_basis(const sch_occ_t *occ, size_t n, int64_t now, sch_basis_t *out);
void sch_basis_free(sch_basis_t *b);

typedef struct sch_power_cfg {
    int poll_s, multiplier, min_expiry_s, heartbeat;
} sch_power_cfg_t;
typedef struct sch_intent {
    char intent_id[37];
    int64_t group_id;
    int on; /* reason: active_event / no_active_event */
    int64_t issued_at, expires_at;
    int poll_s;
    int64_t *ids;
    size_t nids;
    int64_t win_start, win_end; /* windows only when on */
} sch_intent_t;
enum { SCH_PUB_NONE = 0, SCH_PUB_TRANSITION, SCH_PUB_UPDATE, SCH_PUB_HEARTBEAT };
/* The next intent of a group. prev NULL: none yet (start-up) → TRANSITION. New intent_id
 * (new_id) when desired state/reason changed or `edited` (an event of the group was
 * edited/deleted since prev) → TRANSITION. Same id with different ids/window → UPDATE (publish
 * now). Same content: HEARTBEAT (refresh issued/expires) when cfg->heartbeat, else NONE (out =
 * prev). expires_at = issued_at + max(multiplier*poll, min_expiry) s.
 * A prev of another group counts as none. poll_interval_sec changing is an
 * UPDATE. out is always written and owns its ids (sch_intent_free); it must
 * not be prev. Returns the SCH_PUB_* kind. */
int sch_power_next(const sch_intent_t *prev, const sch_basis_t *b, int64_t group_id, int64_t now,
                   int edited, const sch_power_cfg_t *cfg, void (*new_id)(void *ud, char out[37]),
                   void *ud, sch_intent_t *out);
void sch_intent_free(sch_intent_t *in);
/* Deep copy (dst is overwritten, not freed). Returns 0 (aborts on OOM). */
int sch_intent_copy(sch_intent_t *dst, const sch_intent_t *src);
/* The seed's v1 body, exactly these keys in this order: schema_version "1.0", intent_id,
 * group_id, desired_state, reason, issued_at, expires_at, poll_interval_sec, active_event_ids,
 * event_window_start, event_window_end.
 * issued_at/expires_at carry ms only when issued_at has some (the handoff's
 * "06:00:03.496Z"); each window end only when it has some itself. */
void sch_intent_render(hub_jbuf_t *b, const sch_intent_t *in);
int sch_intent_expired(const sch_intent_t *in, int64_t now); /* now >= expires_at */

#endif
