/* domains/devices/logs.c - reads from SQLite: device logs (too many to keep
 * in memory) and commands that left the in-memory state.
 *
 * Each read copies what it needs on the loop thread, runs its queries on
 * the store's reader thread (read-only connection, WAL: it sees every
 * committed batch) and answers from there; the loop thread only sends the
 * finished body.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "domains/devices/devices_int.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX     1000
#define DAY_MS        (86400u * 1000u)

enum { Q_LOGS, Q_SUMMARY, Q_RECENT, Q_OVERVIEW, Q_COMMAND, Q_COMMANDS, Q_BY_REQ };

/* What the overview needs of a device, copied on the loop thread. */
typedef struct snap {
    char id[DEV_ID_MAX + 1];
    char *description, *hostname, *ip, *process;
    int has_group, alive, has_status, has_reconnects, is_active;
    int64_t group_id, reconnects;
    dev_proc_t status;
    dev_screen_t screen;
    uint64_t last_alive, last_disconnect, service_failed_at;
} snap_t;

typedef struct job {
    hub_reply_t *reply;
    int what, seed;
    char id[DEV_ID_MAX + 1];
    char level[8];
    size_t limit;
    uint64_t since, now;
    snap_t *snaps;
    size_t nsnaps;
    int status;
    int failed; /* a query failed */
    hub_jbuf_t out;
    size_t nrows; /* rows rendered */
} job_t;

/* ---- query strings ------------------------------------------------------------------- */

static int hexval(int c)
{
    c = (unsigned char)c;
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* The decoded value of key in the query, or -1 when absent/too long. */
static int query_arg(const char *q, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t o = 0;
            for (size_t i = kl + 1; i < len; i++) {
                int c = (unsigned char)p[i];
                if (c == '%' && i + 2 < len && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
                    c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
                    i += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (o + 1 >= outlen)
                    return -1;
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}

static int parse_filters(const hub_route_req_t *rq, job_t *j, hub_error_t *err)
{
    char v[80];

    j->limit = LIMIT_DEFAULT;
    if (query_arg(rq->query, "level", v, sizeof(v)) == 0 && v[0] != '\0') {
        for (char *c = v; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        if (strcmp(v, "ERROR") != 0 && strcmp(v, "WARN") != 0 && strcmp(v, "INFO") != 0 &&
            strcmp(v, "DEBUG") != 0)
            return hub_error_set(err, HUB_ERR_INVALID, "level",
                                 "level must be ERROR, WARN, INFO or DEBUG");
        memcpy(j->level, v, strlen(v) + 1); /* one of the four above */
    }
    if (query_arg(rq->query, "limit", v, sizeof(v)) == 0) {
        char *end;
        long n = strtol(v, &end, 10);
        if (end == v || *end != '\0' || n < 1 || n > LIMIT_MAX)
            return hub_error_set(err, HUB_ERR_INVALID, "limit", "limit must be 1-%d", LIMIT_MAX);
        j->limit = (size_t)n;
    }
    if (query_arg(rq->query, "since", v, sizeof(v)) == 0 && v[0] != '\0') {
        /* a + of an offset that came unescaped reads as a space */
        for (char *c = v; *c; c++)
            if (*c == ' ' && c > v + 10)
                *c = '+';
        if (dev_time_parse(v, strlen(v), &j->since) != 0)
            return hub_error_set(err, HUB_ERR_INVALID, "since",
                                 "since must be an ISO 8601 time, e.g. 2026-04-05T08:00:00Z");
    }
    return 0;
}

/* ---- rendering on the reader thread ---------------------------------------------------- */

static void col_text(hub_jbuf_t *b, const hub_val_t *c)
{
    if (c->type == HUB_VAL_TEXT)
        hub_jbuf_strn(b, c->p, c->n);
    else
        hub_jbuf_null(b);
}

static void col_time(hub_jbuf_t *b, const hub_val_t *c, int seed)
{
    uint64_t ms = c->type == HUB_VAL_INT && c->i > 0 ? (uint64_t)c->i : 0;
    if (seed)
        dev__time_py(b, ms, 0);
    else
        dev__time(b, ms);
}

/* id, client_uuid, level, timestamp, message, context */
static int log_row(void *ud, const hub_val_t *c, int n)
{
    job_t *j = ud;
    hub_jbuf_t *b = &j->out;
    if (n < 6)
        return 0;
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "id");
    hub_jbuf_int(b, c[0].i);
    hub_jbuf_key(b, "client_uuid");
    col_text(b, &c[1]);
    hub_jbuf_key(b, "timestamp");
    col_time(b, &c[3], j->seed);
    hub_jbuf_key(b, "level");
    col_text(b, &c[2]);
    hub_jbuf_key(b, "message");
    col_text(b, &c[4]);
    hub_jbuf_key(b, "context");
    if (c[5].type == HUB_VAL_TEXT) {
        json_t *ctx = json_loadb(c[5].p, c[5].n, JSON_DECODE_ANY, NULL);
        if (ctx != NULL)
            hub_jbuf_json(b, c[5].p, c[5].n);
        else
            hub_jbuf_strn(b, c[5].p, c[5].n);
        json_decref(ctx);
    } else {
        hub_jbuf_null(b);
    }
    hub_jbuf_close(b, '}');
    j->nrows++;
    return 0;
}

#define LOG_COLS "SELECT id, client_uuid, level, timestamp, message, context FROM device_logs"

/* "<key>":[rows…],"count":n inside the object being written. */
static void log_list(job_t *j, hub_db_t *db, const char *key, const char *sql,
                     const hub_val_t *binds, int nbinds)
{
    char err[200];

    hub_jbuf_key(&j->out, key);
    hub_jbuf_open(&j->out, '[');
    if (db->query(db, sql, binds, nbinds, log_row, j, err, sizeof(err)) != 0)
        j->failed = 1;
    hub_jbuf_close(&j->out, ']');
    hub_jbuf_key(&j->out, "count");
    hub_jbuf_uint(&j->out, j->nrows);
}

static void run_logs(job_t *j, hub_db_t *db)
{
    hub_val_t binds[4] = {HUB_VAL_S(j->id, strlen(j->id)), HUB_VAL_S(j->level, strlen(j->level)),
                          HUB_VAL_I((int64_t)j->since), HUB_VAL_I((int64_t)j->limit)};

    hub_jbuf_open(&j->out, '{');
    hub_jbuf_key(&j->out, "client_uuid");
    hub_jbuf_str(&j->out, j->id);
    log_list(j, db, "logs",
             LOG_COLS " WHERE client_uuid = ?1 AND (?2 = '' OR level = ?2)"
                      " AND timestamp >= ?3 ORDER BY timestamp DESC, id DESC LIMIT ?4",
             binds, 4);
    hub_jbuf_close(&j->out, '}');
}

static void run_recent(job_t *j, hub_db_t *db)
{
    hub_val_t binds[2] = {HUB_VAL_I((int64_t)(j->now - DAY_MS)), HUB_VAL_I((int64_t)j->limit)};

    hub_jbuf_open(&j->out, '{');
    log_list(j, db, "errors",
             LOG_COLS " WHERE level = 'ERROR' AND timestamp >= ?1"
                      " ORDER BY timestamp DESC, id DESC LIMIT ?2",
             binds, 2);
    hub_jbuf_key(&j->out, "period_hours");
    hub_jbuf_int(&j->out, 24);
    hub_jbuf_close(&j->out, '}');
}

/* client_uuid, level, count: {uuid:{"ERROR":n,…},…} */
static int summary_row(void *ud, const hub_val_t *c, int n)
{
    job_t *j = ud;
    hub_jbuf_t *b = &j->out;
    if (n < 3 || c[0].type != HUB_VAL_TEXT)
        return 0;
    if (j->nrows == 0 || j->id[0] == '\0' || strlen(j->id) != c[0].n ||
        memcmp(j->id, c[0].p, c[0].n) != 0) {
        if (j->nrows > 0)
            hub_jbuf_close(b, '}');
        snprintf(j->id, sizeof(j->id), "%.*s", (int)c[0].n, (const char *)c[0].p);
        hub_jbuf_keyn(b, c[0].p, c[0].n);
        hub_jbuf_open(b, '{');
    }
    hub_jbuf_keyn(b, c[1].p, c[1].n);
    hub_jbuf_int(b, c[2].i);
    j->nrows++;
    return 0;
}

static void run_summary(job_t *j, hub_db_t *db)
{
    char err[200], ts[DEV_TIME_MAX];
    hub_val_t binds[1] = {HUB_VAL_I((int64_t)(j->now - DAY_MS))};

    hub_jbuf_open(&j->out, '{');
    hub_jbuf_key(&j->out, "summary");
    hub_jbuf_open(&j->out, '{');
    if (db->query(db,
                  "SELECT client_uuid, level, count(*) FROM device_logs WHERE timestamp >= ?1"
                  " GROUP BY client_uuid, level ORDER BY client_uuid, level",
                  binds, 1, summary_row, j, err, sizeof(err)) != 0)
        j->failed = 1;
    if (j->nrows > 0)
        hub_jbuf_close(&j->out, '}');
    hub_jbuf_close(&j->out, '}');
    hub_jbuf_key(&j->out, "period_hours");
    hub_jbuf_int(&j->out, 24);
    hub_jbuf_key(&j->out, "timestamp");
    dev_time_format(j->now, 1, ts);
    hub_jbuf_str(&j->out, ts);
    hub_jbuf_close(&j->out, '}');
}

/* ---- the monitoring overview ------------------------------------------------------------ */

typedef struct ov_counts {
    int64_t errors, warns;
    hub_jbuf_t latest, latest_error; /* JSON objects or empty */
} ov_counts_t;

typedef struct ov {
    job_t *j;
    ov_counts_t *c; /* per snapshot */
} ov_t;

/* The snapshots are sorted by id (dev__logs_overview): binary search. */
static snap_t *find_snap(job_t *j, const hub_val_t *id, size_t *at)
{
    char key[DEV_ID_MAX + 1];
    size_t lo = 0, hi = j->nsnaps;

    if (id->type != HUB_VAL_TEXT || id->n > DEV_ID_MAX)
        return NULL;
    memcpy(key, id->p, id->n);
    key[id->n] = '\0';
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(j->snaps[mid].id, key);
        if (c == 0) {
            *at = mid;
            return &j->snaps[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int by_snap_id(const void *a, const void *b)
{
    return strcmp(((const snap_t *)a)->id, ((const snap_t *)b)->id);
}

static int ov_count_row(void *ud, const hub_val_t *c, int n)
{
    ov_t *o = ud;
    size_t at;
    if (n < 3 || find_snap(o->j, &c[0], &at) == NULL)
        return 0;
    if (c[1].n == 5 && memcmp(c[1].p, "ERROR", 5) == 0)
        o->c[at].errors = c[2].i;
    else if (c[1].n == 4 && memcmp(c[1].p, "WARN", 4) == 0)
        o->c[at].warns = c[2].i;
    return 0;
}

static void render_log_into(hub_jbuf_t *b, const hub_val_t *c)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "id");
    hub_jbuf_int(b, c[0].i);
    hub_jbuf_key(b, "timestamp");
    col_time(b, &c[3], 1);
    hub_jbuf_key(b, "level");
    col_text(b, &c[2]);
    hub_jbuf_key(b, "message");
    col_text(b, &c[4]);
    hub_jbuf_close(b, '}');
}

static int ov_latest_row(void *ud, const hub_val_t *c, int n)
{
    ov_t *o = ud;
    size_t at;
    if (n < 6 || find_snap(o->j, &c[1], &at) == NULL)
        return 0;
    render_log_into(&o->c[at].latest, c);
    return 0;
}

static int ov_error_row(void *ud, const hub_val_t *c, int n)
{
    ov_t *o = ud;
    size_t at;
    if (n < 6 || find_snap(o->j, &c[1], &at) == NULL)
        return 0;
    render_log_into(&o->c[at].latest_error, c);
    return 0;
}

/* healthy | warning | critical | offline (seed 004's monitoring panel) */
static const char *health_of(const snap_t *s, const ov_counts_t *c)
{
    if (!s->alive)
        return "offline";
    if ((s->has_status && s->status == DEV_PROC_CRASHED) || s->screen == DEV_SCREEN_BLACK ||
        s->screen == DEV_SCREEN_FROZEN || s->service_failed_at != 0)
        return "critical";
    if (c->errors > 0 || (s->has_status && s->status != DEV_PROC_RUNNING))
        return "warning";
    return "healthy";
}

static void run_overview(job_t *j, hub_db_t *db)
{
    char err[200], ts[DEV_TIME_MAX];
    hub_val_t day[1] = {HUB_VAL_I((int64_t)(j->now - DAY_MS))};
    ov_t o = {j, hub_calloc(j->nsnaps ? j->nsnaps : 1, sizeof(ov_counts_t))};
    int64_t counts[4] = {0}, error_logs = 0, online = 0;

    for (size_t i = 0; i < j->nsnaps; i++) {
        hub_jbuf_init(&o.c[i].latest);
        hub_jbuf_init(&o.c[i].latest_error);
    }
    if (db->query(db,
                  "SELECT client_uuid, level, count(*) FROM device_logs WHERE timestamp >= ?1"
                  " GROUP BY client_uuid, level",
                  day, 1, ov_count_row, &o, err, sizeof(err)) != 0 ||
        db->query(db,
                  LOG_COLS " WHERE id IN (SELECT max(id) FROM device_logs GROUP BY client_uuid)",
                  NULL, 0, ov_latest_row, &o, err, sizeof(err)) != 0 ||
        db->query(db,
                  LOG_COLS " WHERE id IN (SELECT max(id) FROM device_logs WHERE level = 'ERROR'"
                           " GROUP BY client_uuid)",
                  NULL, 0, ov_error_row, &o, err, sizeof(err)) != 0)
        j->failed = 1;
    hub_jbuf_t *b = &j->out;
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "clients");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < j->nsnaps; i++) {
        const snap_t *s = &j->snaps[i];
        const ov_counts_t *c = &o.c[i];
        const char *h = health_of(s, c);
        counts[h[0] == 'h' ? 0 : h[0] == 'w' ? 1 : h[0] == 'c' ? 2 : 3]++;
        error_logs += c->errors;
        online += s->alive;
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "uuid");
        hub_jbuf_str(b, s->id);
        hub_jbuf_key(b, "description");
        s->description ? hub_jbuf_str(b, s->description) : hub_jbuf_null(b);
        hub_jbuf_key(b, "hostname");
        s->hostname ? hub_jbuf_str(b, s->hostname) : hub_jbuf_null(b);
        hub_jbuf_key(b, "ip");
        s->ip ? hub_jbuf_str(b, s->ip) : hub_jbuf_null(b);
        hub_jbuf_key(b, "groupId");
        s->has_group ? hub_jbuf_int(b, s->group_id) : hub_jbuf_null(b);
        hub_jbuf_key(b, "isAlive");
        hub_jbuf_bool(b, s->alive);
        hub_jbuf_key(b, "status");
        hub_jbuf_str(b, h);
        hub_jbuf_key(b, "lastAlive");
        dev__time_py(b, s->last_alive, 0);
        hub_jbuf_key(b, "currentProcess");
        s->process ? hub_jbuf_str(b, s->process) : hub_jbuf_null(b);
        hub_jbuf_key(b, "processStatus");
        s->has_status ? hub_jbuf_str(b, dev_proc_name(s->status)) : hub_jbuf_null(b);
        hub_jbuf_key(b, "screenHealthStatus");
        hub_jbuf_str(b, dev_screen_name(s->screen));
        hub_jbuf_key(b, "logCounts24h");
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "error");
        hub_jbuf_int(b, c->errors);
        hub_jbuf_key(b, "warn");
        hub_jbuf_int(b, c->warns);
        hub_jbuf_close(b, '}');
        hub_jbuf_key(b, "latestLog");
        c->latest.len ? hub_jbuf_json(b, c->latest.p, c->latest.len) : hub_jbuf_null(b);
        hub_jbuf_key(b, "latestError");
        c->latest_error.len ? hub_jbuf_json(b, c->latest_error.p, c->latest_error.len)
                            : hub_jbuf_null(b);
        hub_jbuf_key(b, "mqttReconnectCount");
        s->has_reconnects ? hub_jbuf_int(b, s->reconnects) : hub_jbuf_null(b);
        hub_jbuf_key(b, "mqttLastDisconnectAt");
        dev__time_py(b, s->last_disconnect, 0);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
    hub_jbuf_key(b, "summary");
    hub_jbuf_open(b, '{');
    static const char *const names[] = {"healthyClients", "warningClients", "criticalClients",
                                        "offlineClients"};
    hub_jbuf_key(b, "totalClients");
    hub_jbuf_uint(b, j->nsnaps);
    hub_jbuf_key(b, "onlineClients");
    hub_jbuf_int(b, online);
    for (int i = 0; i < 4; i++) {
        hub_jbuf_key(b, names[i]);
        hub_jbuf_int(b, counts[i]);
    }
    hub_jbuf_key(b, "errorLogs");
    hub_jbuf_int(b, error_logs);
    hub_jbuf_close(b, '}');
    hub_jbuf_key(b, "timestamp");
    dev_time_format(j->now, 1, ts);
    hub_jbuf_str(b, ts);
    hub_jbuf_close(b, '}');
    for (size_t i = 0; i < j->nsnaps; i++) {
        hub_jbuf_free(&o.c[i].latest);
        hub_jbuf_free(&o.c[i].latest_error);
    }
    hub_free(o.c);
}

/* ---- commands ---------------------------------------------------------------------------- */

static int command_row(void *ud, const hub_val_t *c, int n)
{
    job_t *j = ud;
    dev_command_t cmd;

    if (dev__command_from_row(c, n, &cmd) != 0)
        return 0;
    if (j->what == Q_BY_REQ)
        j->status = dev__answer_body(&cmd, &j->out);
    else if (j->what == Q_COMMAND)
        dev__render_command_camel(&j->out, &cmd);
    else
        dev__render_command(&j->out, &cmd);
    dev__command_clear(&cmd);
    j->nrows++;
    return 0;
}

#define CMD_COLS                                                                                   \
    "SELECT command_id, client_uuid, action, status, reason, requested_by, issued_at,"             \
    " expires_at, published_at, acked_at, execution_started_at, completed_at, failed_at,"          \
    " error_code, error_message, created_at, updated_at, req_id, recovery FROM device_commands"

static void run_commands(job_t *j, hub_db_t *db)
{
    char err[200];
    hub_val_t binds[2] = {HUB_VAL_S(j->id, strlen(j->id)), HUB_VAL_I((int64_t)j->limit)};

    if (j->what == Q_COMMAND || j->what == Q_BY_REQ) {
        const char *sql = j->what == Q_COMMAND ? CMD_COLS " WHERE command_id = ?1"
                                               : CMD_COLS " WHERE req_id = ?1 LIMIT 1";
        if (db->query(db, sql, binds, 1, command_row, j, err, sizeof(err)) != 0)
            j->failed = 1;
        else if (j->nrows == 0) {
            j->status = 404;
            hub_jbuf_lit(&j->out, "{\"error\":\"Command nicht gefunden\"}");
        }
        return;
    }
    hub_jbuf_open(&j->out, '{');
    hub_jbuf_key(&j->out, "commands");
    hub_jbuf_open(&j->out, '[');
    if (db->query(db, CMD_COLS " WHERE client_uuid = ?1 ORDER BY created_at DESC LIMIT ?2", binds,
                  2, command_row, j, err, sizeof(err)) != 0)
        j->failed = 1;
    hub_jbuf_close(&j->out, ']');
    hub_jbuf_close(&j->out, '}');
}

/* ---- jobs ---------------------------------------------------------------------------------- */

static void run(void *ud, hub_db_t *db)
{
    job_t *j = ud;
    switch (j->what) {
    case Q_LOGS: run_logs(j, db); break;
    case Q_SUMMARY: run_summary(j, db); break;
    case Q_RECENT: run_recent(j, db); break;
    case Q_OVERVIEW: run_overview(j, db); break;
    default: run_commands(j, db); break;
    }
}

static void job_free(job_t *j)
{
    for (size_t i = 0; i < j->nsnaps; i++) {
        hub_free(j->snaps[i].description);
        hub_free(j->snaps[i].hostname);
        hub_free(j->snaps[i].ip);
        hub_free(j->snaps[i].process);
    }
    hub_free(j->snaps);
    hub_jbuf_free(&j->out);
    hub_free(j);
}

static void done(void *ud, int rc)
{
    job_t *j = ud;
    if (rc != 0 || j->failed) {
        static const char body[] =
            "{\"error\":\"the store could not be read; see the hub's log, then try again\"}";
        hub_reply_send(j->reply, rc != 0 ? 503 : 500, body, sizeof(body) - 1);
    } else {
        hub_reply_send(j->reply, j->status, j->out.p, j->out.len);
    }
    job_free(j);
}

static job_t *job_new(hub_reply_t *reply, int what)
{
    job_t *j = hub_calloc(1, sizeof(*j));
    j->reply = reply;
    j->what = what;
    j->status = 200;
    j->now = hub_wall_ms();
    j->limit = LIMIT_DEFAULT;
    hub_jbuf_init(&j->out);
    return j;
}

static int start(hub_devdom_t *d, job_t *j)
{
    if (d->reader.run == NULL) { /* no store (tests): nothing to read */
        done(j, HUB_ESHUTDOWN);
        return 0;
    }
    d->reader.run(d->reader.rctx, run, done, j);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? hub_strdup(s) : NULL;
}

static int logs_read(hub_devdom_t *d, const hub_route_req_t *rq, hub_reply_t *reply,
                     hub_error_t *err, int seed)
{
    job_t j0;

    memset(&j0, 0, sizeof(j0));
    if (dev__device(d, rq->args[0]) == NULL)
        return hub_error_set(err, HUB_ERR_NOT_FOUND, "", "Client nicht gefunden");
    if (parse_filters(rq, &j0, err) != 0)
        return HUB_EINVAL;
    job_t *j = job_new(reply, Q_LOGS);
    snprintf(j->id, sizeof(j->id), "%s", rq->args[0]);
    memcpy(j->level, j0.level, sizeof(j->level));
    j->limit = j0.limit;
    j->since = j0.since;
    j->seed = seed;
    return start(d, j);
}

int dev__logs_read(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err)
{
    return logs_read(ctx, rq, reply, err, 0);
}

int dev__logs_read_seed(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err)
{
    return logs_read(ctx, rq, reply, err, 1);
}

int dev__logs_summary(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err)
{
    (void)rq;
    (void)err;
    return start(ctx, job_new(reply, Q_SUMMARY));
}

int dev__logs_recent_errors(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply,
                            hub_error_t *err)
{
    job_t j0;
    memset(&j0, 0, sizeof(j0));
    if (parse_filters(rq, &j0, err) != 0)
        return HUB_EINVAL;
    job_t *j = job_new(reply, Q_RECENT);
    j->limit = j0.limit;
    j->seed = 1;
    return start(ctx, j);
}

int dev__logs_overview(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    size_t n, k = 0;
    void **all = dev_map_values(&d->devices, &n);
    job_t *j = job_new(reply, Q_OVERVIEW);

    (void)rq;
    (void)err;
    j->snaps = hub_calloc(n ? n : 1, sizeof(*j->snaps));
    for (size_t i = 0; i < n; i++) {
        const dev_device_t *v = all[i];
        if (v->kind != DEV_KIND_INFOSCREEN)
            continue;
        snap_t *s = &j->snaps[k++];
        memcpy(s->id, v->id, sizeof(s->id));
        s->description = dup_or_null(v->description);
        s->hostname = dup_or_null(v->hostname);
        s->ip = dup_or_null(v->ip);
        s->process = dup_or_null(v->process);
        s->has_group = v->has_group;
        s->group_id = v->group_id;
        s->alive = dev_alive(v->is_active, v->last_alive, j->now, (uint64_t)d->cfg.grace_s * 1000u);
        s->is_active = v->is_active;
        s->has_status = v->has_status;
        s->status = v->status;
        s->screen = v->screen;
        s->has_reconnects = v->has_reconnects;
        s->reconnects = v->reconnects;
        s->last_alive = v->last_alive;
        s->last_disconnect = v->last_disconnect;
        s->service_failed_at = v->service_failed_at;
    }
    j->nsnaps = k;
    qsort(j->snaps, k, sizeof(*j->snaps), by_snap_id);
    hub_free(all);
    return start(d, j);
}

int dev__command_read(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    const dev_command_t *c = dev__command(d, rq->args[0]);

    (void)err;
    if (c != NULL) { /* in memory: answer now */
        hub_jbuf_t b;
        hub_jbuf_init(&b);
        dev__render_command_camel(&b, c);
        hub_reply_send(reply, 200, b.p, b.len);
        hub_jbuf_free(&b);
        return 0;
    }
    if (strlen(rq->args[0]) != 36) {
        static const char body[] = "{\"error\":\"Command nicht gefunden\"}";
        hub_reply_send(reply, 404, body, sizeof(body) - 1);
        return 0;
    }
    job_t *j = job_new(reply, Q_COMMAND);
    snprintf(j->id, sizeof(j->id), "%s", rq->args[0]);
    return start(d, j);
}

void dev__command_by_req(hub_devdom_t *d, const char *req_id, hub_reply_t *reply)
{
    job_t *j = job_new(reply, Q_BY_REQ);
    snprintf(j->id, sizeof(j->id), "%s", req_id);
    start(d, j);
}

int dev__commands_list(void *ctx, const hub_route_req_t *rq, hub_reply_t *reply, hub_error_t *err)
{
    hub_devdom_t *d = ctx;
    job_t j0;

    memset(&j0, 0, sizeof(j0));
    if (dev__device(d, rq->args[0]) == NULL)
        return hub_error_set(err, HUB_ERR_NOT_FOUND, "", "Client nicht gefunden");
    if (parse_filters(rq, &j0, err) != 0)
        return HUB_EINVAL;
    job_t *j = job_new(reply, Q_COMMANDS);
    snprintf(j->id, sizeof(j->id), "%s", rq->args[0]);
    j->limit = j0.limit;
    return start(d, j);
}
