/* domains/devices/store.c - the fleet's tables, rows and start-up load.
 *
 *   devices          the registry, one row per device, every field a column
 *   device_commands  seed 004's client_commands: every command ever issued
 *   device_logs      device logs, bounded per device (FLEET_LOG_RETENTION)
 *                    and in age (FLEET_LOG_RETENTION_DAYS)
 *
 * Times are INTEGER ms since the epoch (UTC); NULL = never. The registry
 * and the commands that are not terminal (plus the recent terminal ones)
 * live in memory; logs and old commands are read through the store's
 * reader (logs.c) when asked for.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/mem.h"
#include "domains/devices/devices_int.h"

const hub_migration_t dev__migrations[] = {
    {"CREATE TABLE devices("
     " id TEXT PRIMARY KEY, kind TEXT NOT NULL, group_id INTEGER, description TEXT,"
     " hostname TEXT, ip TEXT, first_seen INTEGER, last_seen INTEGER, presence TEXT NOT NULL,"
     " is_active INTEGER NOT NULL, last_alive INTEGER, current_process TEXT, process_pid INTEGER,"
     " process_status TEXT, current_event_id INTEGER, screen_health_status TEXT NOT NULL,"
     " mqtt_reconnect_count INTEGER, mqtt_last_disconnect_at INTEGER, service_failed_at INTEGER,"
     " service_failed_unit TEXT, health TEXT, health_at INTEGER, info TEXT, alive INTEGER);"
     "CREATE TABLE device_commands("
     " command_id TEXT PRIMARY KEY, client_uuid TEXT NOT NULL, action TEXT NOT NULL,"
     " status TEXT NOT NULL, reason TEXT, requested_by INTEGER, issued_at INTEGER NOT NULL,"
     " expires_at INTEGER NOT NULL, published_at INTEGER, acked_at INTEGER,"
     " execution_started_at INTEGER, completed_at INTEGER, failed_at INTEGER, error_code TEXT,"
     " error_message TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
     " req_id TEXT, recovery INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX ix_device_commands_client_status_created"
     " ON device_commands(client_uuid, status, created_at);"
     "CREATE INDEX ix_device_commands_status ON device_commands(status);"
     "CREATE TABLE device_logs("
     " id INTEGER PRIMARY KEY, client_uuid TEXT NOT NULL, level TEXT NOT NULL,"
     " timestamp INTEGER NOT NULL, message TEXT NOT NULL, context TEXT,"
     " created_at INTEGER NOT NULL);"
     "CREATE INDEX ix_device_logs_client_ts ON device_logs(client_uuid, timestamp DESC);"
     "CREATE INDEX ix_device_logs_level_ts ON device_logs(level, timestamp DESC);"
     "CREATE INDEX ix_device_logs_created ON device_logs(created_at DESC);",
     NULL},
    /* the monitoring overview's latest log / error per device */
    {"CREATE INDEX ix_device_logs_client_level_id ON device_logs(client_uuid, level, id)", NULL},
    /* a repeated Idempotency-Key for a command no longer in memory */
    {"CREATE INDEX ix_device_commands_req_id ON device_commands(req_id)", NULL},
};
const int dev__nmigrations = 3;

static const hub_stmt_t st_device = {
    "INSERT OR REPLACE INTO devices(id, kind, group_id, description, hostname, ip, first_seen,"
    " last_seen, presence, is_active, last_alive, current_process, process_pid, process_status,"
    " current_event_id, screen_health_status, mqtt_reconnect_count, mqtt_last_disconnect_at,"
    " service_failed_at, service_failed_unit, health, health_at, info, alive)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
    " ?19, ?20, ?21, ?22, ?23, ?24)",
    24};
static const hub_stmt_t st_device_del = {"DELETE FROM devices WHERE id = ?1", 1};
static const hub_stmt_t st_device_del_cmds = {"DELETE FROM device_commands WHERE client_uuid = ?1",
                                              1};
static const hub_stmt_t st_device_del_logs = {"DELETE FROM device_logs WHERE client_uuid = ?1", 1};
/* A command's row, new or updated; a caller's command_id that names an older
 * command (one no longer in memory) never overwrites its history: the update
 * applies only to the row of the same creation. */
static const hub_stmt_t st_command = {
    "INSERT INTO device_commands(command_id, client_uuid, action, status, reason,"
    " requested_by, issued_at, expires_at, published_at, acked_at, execution_started_at,"
    " completed_at, failed_at, error_code, error_message, created_at, updated_at, req_id,"
    " recovery) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
    " ?17, ?18, ?19) ON CONFLICT(command_id) DO UPDATE SET status = excluded.status,"
    " published_at = excluded.published_at, acked_at = excluded.acked_at,"
    " execution_started_at = excluded.execution_started_at,"
    " completed_at = excluded.completed_at, failed_at = excluded.failed_at,"
    " error_code = excluded.error_code, error_message = excluded.error_message,"
    " updated_at = excluded.updated_at"
    " WHERE device_commands.created_at = excluded.created_at"
    " AND device_commands.client_uuid = excluded.client_uuid",
    19};
static const hub_stmt_t st_log = {
    "INSERT INTO device_logs(client_uuid, level, timestamp, message, context, created_at)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    6};
/* Keep the newest ?2 of a device's logs. */
static const hub_stmt_t st_log_trim = {
    "DELETE FROM device_logs WHERE client_uuid = ?1 AND id <= (SELECT id FROM device_logs"
    " WHERE client_uuid = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    2};
static const hub_stmt_t st_log_prune = {"DELETE FROM device_logs WHERE created_at < ?1", 1};

static hub_val_t s_or_null(const char *s)
{
    return s ? HUB_VAL_S(s, strlen(s)) : HUB_VAL_NONE;
}

static hub_val_t t_or_null(uint64_t ms)
{
    return ms ? HUB_VAL_I((int64_t)ms) : HUB_VAL_NONE;
}

void dev__row_device(hub_apply_t *ap, const dev_device_t *v)
{
    static const char *const pres[] = {"unknown", "online", "offline"};
    char key[DEV_ID_MAX + 16];
    const char *kind = dev__kind_name(v->kind);
    const char *status = v->has_status ? dev_proc_name(v->status) : NULL;
    const char *screen = dev_screen_name(v->screen);
    hub_val_t vals[24] = {
        HUB_VAL_S(v->id, strlen(v->id)),
        HUB_VAL_S(kind, strlen(kind)),
        v->has_group ? HUB_VAL_I(v->group_id) : HUB_VAL_NONE,
        s_or_null(v->description),
        s_or_null(v->hostname),
        s_or_null(v->ip),
        t_or_null(v->first_seen),
        t_or_null(v->last_seen),
        HUB_VAL_S(pres[v->presence], strlen(pres[v->presence])),
        HUB_VAL_I(v->is_active),
        t_or_null(v->last_alive),
        s_or_null(v->process),
        v->has_pid ? HUB_VAL_I(v->pid) : HUB_VAL_NONE,
        s_or_null(status),
        v->has_event ? HUB_VAL_I(v->event_id) : HUB_VAL_NONE,
        HUB_VAL_S(screen, strlen(screen)),
        v->has_reconnects ? HUB_VAL_I(v->reconnects) : HUB_VAL_NONE,
        t_or_null(v->last_disconnect),
        t_or_null(v->service_failed_at),
        s_or_null(v->service_failed_unit),
        s_or_null(v->health),
        t_or_null(v->health_at),
        s_or_null(v->info),
        HUB_VAL_I(v->alive),
    };
    snprintf(key, sizeof(key), "devices:%s", v->id);
    hub_apply_row(ap, &st_device, key, vals);
}

void dev__row_device_delete(hub_apply_t *ap, const char *id)
{
    char key[DEV_ID_MAX + 16];
    hub_val_t v[1] = {HUB_VAL_S(id, strlen(id))};
    snprintf(key, sizeof(key), "devices:%s", id);
    hub_apply_row(ap, &st_device_del, key, v);
    hub_apply_row(ap, &st_device_del_cmds, NULL, v);
    hub_apply_row(ap, &st_device_del_logs, NULL, v);
}

void dev__row_command(hub_apply_t *ap, const dev_command_t *c)
{
    char key[64];
    const char *action = dev_action_name(c->action), *status = dev_status_name(c->status);
    hub_val_t v[19] = {
        HUB_VAL_S(c->id, strlen(c->id)),
        HUB_VAL_S(c->client, strlen(c->client)),
        HUB_VAL_S(action, strlen(action)),
        HUB_VAL_S(status, strlen(status)),
        s_or_null(c->reason),
        c->requested_by > 0 ? HUB_VAL_I(c->requested_by) : HUB_VAL_NONE,
        HUB_VAL_I((int64_t)c->issued),
        HUB_VAL_I((int64_t)c->expires),
        t_or_null(c->published),
        t_or_null(c->acked),
        t_or_null(c->started),
        t_or_null(c->completed),
        t_or_null(c->failed),
        s_or_null(c->error_code),
        s_or_null(c->error_message),
        HUB_VAL_I((int64_t)c->created),
        HUB_VAL_I((int64_t)c->updated),
        c->req_id[0] ? HUB_VAL_S(c->req_id, strlen(c->req_id)) : HUB_VAL_NONE,
        HUB_VAL_I(c->recovery),
    };
    snprintf(key, sizeof(key), "device_commands:%s", c->id);
    hub_apply_row(ap, &st_command, key, v);
}

void dev__row_log(hub_devdom_t *d, hub_apply_t *ap, dev_device_t *v, const char *level, uint64_t ts,
                  const char *message, const char *context, uint64_t now)
{
    hub_val_t vals[6] = {HUB_VAL_S(v->id, strlen(v->id)),
                         HUB_VAL_S(level, strlen(level)),
                         HUB_VAL_I((int64_t)ts),
                         HUB_VAL_S(message, strlen(message)),
                         s_or_null(context),
                         HUB_VAL_I((int64_t)now)};
    hub_apply_row(ap, &st_log, NULL, vals);
    /* Trim once a tenth over the bound: one DELETE per ~retention/10 logs. */
    if (++v->nlogs >= d->cfg.log_retention / 10 + 1) {
        hub_val_t t[2] = {HUB_VAL_S(v->id, strlen(v->id)), HUB_VAL_I(d->cfg.log_retention)};
        hub_apply_row(ap, &st_log_trim, NULL, t);
        v->nlogs = 0;
    }
}

void dev__row_logs_prune(hub_apply_t *ap, uint64_t before)
{
    hub_val_t v[1] = {HUB_VAL_I((int64_t)before)};
    hub_apply_row(ap, &st_log_prune, "device_logs:prune", v);
}

/* ---- load ------------------------------------------------------------------------------ */

static char *col_str(const hub_val_t *c)
{
    return c->type == HUB_VAL_TEXT ? hub_strndup(c->p, c->n) : NULL;
}

static uint64_t col_time(const hub_val_t *c)
{
    return c->type == HUB_VAL_INT && c->i > 0 ? (uint64_t)c->i : 0;
}

static int text_eq(const hub_val_t *c, const char *s)
{
    return c->type == HUB_VAL_TEXT && c->n == strlen(s) && memcmp(c->p, s, c->n) == 0;
}

static int load_device(void *ud, const hub_val_t *c, int n)
{
    hub_devdom_t *d = ud;
    char id[DEV_ID_MAX + 1], tmp[32];
    int kind = DEV_KIND_V1;

    if (n < 24 || c[0].type != HUB_VAL_TEXT || c[0].n > DEV_ID_MAX)
        return 0;
    memcpy(id, c[0].p, c[0].n);
    id[c[0].n] = '\0';
    for (int k = 0; k < DEV_KIND_COUNT; k++)
        if (text_eq(&c[1], dev__kind_name(k)))
            kind = k;
    dev_device_t *v = dev__device_new(d, id, kind, 0);
    v->has_group = c[2].type == HUB_VAL_INT;
    v->group_id = c[2].i;
    v->description = col_str(&c[3]);
    v->hostname = col_str(&c[4]);
    v->ip = col_str(&c[5]);
    v->first_seen = col_time(&c[6]);
    v->last_seen = col_time(&c[7]);
    v->presence = text_eq(&c[8], "online")    ? DEV_PRES_ONLINE
                  : text_eq(&c[8], "offline") ? DEV_PRES_OFFLINE
                                              : DEV_PRES_UNKNOWN;
    v->is_active = c[9].i != 0;
    v->last_alive = col_time(&c[10]);
    v->process = col_str(&c[11]);
    v->has_pid = c[12].type == HUB_VAL_INT;
    v->pid = c[12].i;
    if (c[13].type == HUB_VAL_TEXT && c[13].n < sizeof(tmp)) {
        memcpy(tmp, c[13].p, c[13].n);
        tmp[c[13].n] = '\0';
        v->has_status = dev_proc_parse(tmp, &v->status) == 0;
    }
    v->has_event = c[14].type == HUB_VAL_INT;
    v->event_id = c[14].i;
    if (c[15].type == HUB_VAL_TEXT && c[15].n < sizeof(tmp)) {
        memcpy(tmp, c[15].p, c[15].n);
        tmp[c[15].n] = '\0';
        if (dev_screen_parse(tmp, &v->screen) != 0)
            v->screen = DEV_SCREEN_UNKNOWN;
    }
    v->has_reconnects = c[16].type == HUB_VAL_INT;
    v->reconnects = c[16].i;
    v->last_disconnect = col_time(&c[17]);
    v->service_failed_at = col_time(&c[18]);
    v->service_failed_unit = col_str(&c[19]);
    v->health = col_str(&c[20]);
    v->health_at = col_time(&c[21]);
    v->info = col_str(&c[22]);
    v->alive = c[23].i != 0;
    return 0;
}

int dev__command_from_row(const hub_val_t *c, int n, dev_command_t *cmd)
{
    char tmp[64];

    if (n < 16 || c[0].type != HUB_VAL_TEXT || c[0].n != 36 || c[1].type != HUB_VAL_TEXT ||
        c[1].n > DEV_ID_MAX)
        return -1;
    memset(cmd, 0, sizeof(*cmd));
    memcpy(cmd->id, c[0].p, 36);
    memcpy(cmd->client, c[1].p, c[1].n);
    snprintf(tmp, sizeof(tmp), "%.*s", (int)c[2].n, (const char *)c[2].p);
    if (dev_action_parse(tmp, &cmd->action) != 0)
        cmd->action = DEV_ACT_REBOOT_HOST;
    snprintf(tmp, sizeof(tmp), "%.*s", (int)c[3].n, (const char *)c[3].p);
    if (dev_status_parse(tmp, &cmd->status) != 0)
        cmd->status = DEV_ST_FAILED;
    cmd->reason = col_str(&c[4]);
    cmd->requested_by = c[5].type == HUB_VAL_INT ? c[5].i : 0;
    cmd->issued = col_time(&c[6]);
    cmd->expires = col_time(&c[7]);
    cmd->published = col_time(&c[8]);
    cmd->acked = col_time(&c[9]);
    cmd->started = col_time(&c[10]);
    cmd->completed = col_time(&c[11]);
    cmd->failed = col_time(&c[12]);
    cmd->error_code = col_str(&c[13]);
    cmd->error_message = col_str(&c[14]);
    cmd->created = col_time(&c[15]);
    cmd->updated = n > 16 ? col_time(&c[16]) : cmd->created;
    if (n > 17 && c[17].type == HUB_VAL_TEXT && c[17].n <= HUB_REQ_ID_MAX)
        memcpy(cmd->req_id, c[17].p, c[17].n);
    cmd->recovery = n > 18 && c[18].i != 0;
    return 0;
}

void dev__command_clear(dev_command_t *c)
{
    hub_free(c->reason);
    hub_free(c->error_code);
    hub_free(c->error_message);
    c->reason = c->error_code = c->error_message = NULL;
}

static int load_command(void *ud, const hub_val_t *c, int n)
{
    hub_devdom_t *d = ud;
    dev_command_t tmp;

    if (dev__command_from_row(c, n, &tmp) != 0)
        return 0;
    dev_command_t *cmd = hub_calloc(1, sizeof(*cmd));
    *cmd = tmp;
    dev_map_put(&d->commands, cmd->id, cmd);
    return 0;
}

/* The latest lockout-counting commands of each device (any status). */
static int load_lock(void *ud, const hub_val_t *c, int n)
{
    hub_devdom_t *d = ud;
    char id[DEV_ID_MAX + 1];

    if (n < 2 || c[0].type != HUB_VAL_TEXT || c[0].n > DEV_ID_MAX)
        return 0;
    memcpy(id, c[0].p, c[0].n);
    id[c[0].n] = '\0';
    dev_device_t *v = dev__device(d, id);
    if (v != NULL && v->nlocks < DEV_LOCKOUT_THRESHOLD)
        v->locks[v->nlocks++] = col_time(&c[1]);
    return 0;
}

int dev__load(void *ctx, hub_db_t *db, char *err, size_t errlen)
{
    hub_devdom_t *d = ctx;
    static const char cmd_cols[] =
        "SELECT command_id, client_uuid, action, status, reason, requested_by, issued_at,"
        " expires_at, published_at, acked_at, execution_started_at, completed_at, failed_at,"
        " error_code, error_message, created_at, updated_at, req_id, recovery"
        " FROM device_commands";

    if (db->query(db,
                  "SELECT id, kind, group_id, description, hostname, ip, first_seen, last_seen,"
                  " presence, is_active, last_alive, current_process, process_pid, process_status,"
                  " current_event_id, screen_health_status, mqtt_reconnect_count,"
                  " mqtt_last_disconnect_at, service_failed_at, service_failed_unit, health,"
                  " health_at, info, alive FROM devices ORDER BY id",
                  NULL, 0, load_device, d, err, errlen) != 0)
        return HUB_ESTORE;
    /* Every unfinished command, and the latest finished ones. */
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "%s WHERE status NOT IN ('completed','failed','expired','canceled','blocked_safety')"
             " UNION SELECT * FROM (%s WHERE status IN"
             " ('completed','failed','expired','canceled','blocked_safety')"
             " ORDER BY updated_at DESC LIMIT %d)",
             cmd_cols, cmd_cols, DEV_CMD_KEEP_MAX);
    if (db->query(db, sql, NULL, 0, load_command, d, err, errlen) != 0)
        return HUB_ESTORE;
    dev__alerts_load(d, hub_wall_ms());
    hub_metric_set(d->m_devices, (double)d->devices.n);
    hub_metric_set(d->m_alerts, (double)d->alerts.n);
    /* Newest first per device, DEV_LOCKOUT_THRESHOLD of them (load_lock stops there). */
    uint64_t window = (uint64_t)d->cfg.recovery_lockout_min * 60000u;
    if (window < DEV_LOCKOUT_WINDOW_MS)
        window = DEV_LOCKOUT_WINDOW_MS;
    hub_val_t since[1] = {HUB_VAL_I((int64_t)(hub_wall_ms() - window))};
    if (db->query(db,
                  "SELECT client_uuid, created_at FROM device_commands"
                  " WHERE action IN ('reboot_host','restart_app') AND created_at >= ?1"
                  " ORDER BY created_at DESC",
                  since, 1, load_lock, d, err, errlen) != 0)
        return HUB_ESTORE;
    return 0;
}
