/* domains/devices/sweep.c - the fleet's housekeeping, every
 * POLL_INTERVAL_SECONDS, and its alerts.
 *
 *   devices.sweep     non-terminal commands past expires_at -> expired (seed
 *                     004's sweep); terminal commands older than 10 minutes
 *                     leave the state (they stay in SQLite); logs older than
 *                     FLEET_LOG_RETENTION_DAYS are removed
 *   devices.liveness  alive flags; alerts heartbeat_stale:<id>, or one
 *                     broker_outage_suspected when most devices went silent
 *                     together (docs/decisions/fleet-alerts.md)
 *   crash recovery    CRASH_RECOVERY_ENABLED: device.command reboot_host for
 *                     crashed or silent devices, seed 004's rules
 *
 * The timer submits an intent only when there is something to do, so an
 * idle fleet writes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "domains/devices/devices_int.h"

#define LOG_PRUNE_EVERY_MS (3600u * 1000u)
#define EXPIRED_MESSAGE    "Command expired before terminal state was reached."

/* ---- alerts ---------------------------------------------------------------------------- */

static void set_alert(hub_devdom_t *d, hub_apply_t *ap, const char *kind, const char *device,
                      uint64_t now, const char *message)
{
    char id[sizeof(((dev_alert_t *)0)->id)];
    snprintf(id, sizeof(id), device ? "%s:%s" : "%s", kind, device ? device : "");
    if (dev_map_get(&d->alerts, id) != NULL)
        return;
    if (ap == NULL && !d->loading) /* a dry run counts */
        return;
    dev_alert_t *a = hub_calloc(1, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", id);
    a->kind = kind;
    snprintf(a->device, sizeof(a->device), "%s", device ? device : "");
    a->since = now;
    snprintf(a->message, sizeof(a->message), "%s", message);
    dev__utf8_trim(a->message);
    dev_map_put(&d->alerts, a->id, a);
    if (ap != NULL)
        dev__change_alert(d, ap, a, NULL);
}

static int has_alert(hub_devdom_t *d, const char *kind, const char *device)
{
    char id[sizeof(((dev_alert_t *)0)->id)];
    snprintf(id, sizeof(id), device ? "%s:%s" : "%s", kind, device ? device : "");
    return dev_map_get(&d->alerts, id) != NULL;
}

static void clear_alert(hub_devdom_t *d, hub_apply_t *ap, const char *kind, const char *device)
{
    char id[sizeof(((dev_alert_t *)0)->id)];
    snprintf(id, sizeof(id), device ? "%s:%s" : "%s", kind, device ? device : "");
    dev_alert_t *a = dev_map_get(&d->alerts, id);
    if (a == NULL || ap == NULL)
        return;
    dev_map_del(&d->alerts, id);
    dev__change_alert(d, ap, NULL, id);
    hub_free(a);
}

void dev__device_alerts(hub_devdom_t *d, hub_apply_t *ap, const dev_device_t *v, uint64_t now)
{
    char msg[sizeof(((dev_alert_t *)0)->message)];
    int screen = v->kind == DEV_KIND_INFOSCREEN;

    if (screen && v->is_active && v->has_status && v->status == DEV_PROC_CRASHED) {
        snprintf(msg, sizeof(msg), "%s reports its display process crashed",
                 v->description ? v->description : v->id);
        set_alert(d, ap, "process_crashed", v->id, now, msg);
    } else {
        clear_alert(d, ap, "process_crashed", v->id);
    }
    if (v->service_failed_at != 0) {
        snprintf(msg, sizeof(msg), "%s: systemd gave up restarting %s; acknowledge once fixed",
                 v->description ? v->description : v->id,
                 v->service_failed_unit ? v->service_failed_unit : "its service");
        set_alert(d, ap, "service_failed", v->id, now, msg);
    } else {
        clear_alert(d, ap, "service_failed", v->id);
    }
    if (v->alive || !v->is_active)
        clear_alert(d, ap, "heartbeat_stale", v->id);
}

void dev__alerts_load(hub_devdom_t *d, uint64_t now)
{
    size_t n;
    void **all = dev_map_values(&d->devices, &n);
    d->loading = 1; /* dev__alerts_load: alerts without changes */
    for (size_t i = 0; i < n; i++)
        dev__device_alerts(d, NULL, all[i], now);
    d->loading = 0;
    hub_free(all);
}

/* ---- liveness ---------------------------------------------------------------------------- */

/* Alive flags and stale/outage alerts at now; with ap NULL only counts what
 * would change (the timer's dry run). */
static int liveness(hub_devdom_t *d, hub_apply_t *ap, uint64_t now)
{
    uint64_t grace = (uint64_t)d->cfg.grace_s * 1000u;
    size_t n, nseen = 0, nstale = 0;
    int changes = 0;
    void **all = dev_map_values(&d->devices, &n);
    uint64_t *seen = hub_malloc((n ? n : 1) * sizeof(*seen));

    for (size_t i = 0; i < n; i++) {
        dev_device_t *v = all[i];
        if (v->kind != DEV_KIND_INFOSCREEN)
            continue;
        int alive = dev_alive(v->is_active, v->last_alive, now, grace);
        if (alive != v->alive) {
            changes++;
            if (ap != NULL) {
                v->alive = alive;
                dev__row_device(ap, v);
                dev__change_device(d, ap, v);
            }
        }
        if (v->is_active && v->last_alive != 0)
            seen[nseen++] = v->last_alive;
    }
    int outage = dev_outage_suspected(seen, nseen, now, grace, d->cfg.outage_fraction, &nstale);
    if (outage != d->outage) {
        changes++;
        if (ap != NULL) {
            d->outage = outage;
            if (outage) {
                char msg[sizeof(((dev_alert_t *)0)->message)];
                snprintf(msg, sizeof(msg),
                         "%zu of %zu devices went silent together: the MQTT broker or the "
                         "network is the likely cause, not the devices",
                         nstale, nseen);
                set_alert(d, ap, "broker_outage_suspected", NULL, now, msg);
            } else {
                clear_alert(d, ap, "broker_outage_suspected", NULL);
                d->watch_since = now; /* heartbeats are coming back */
            }
        }
    }
    /* One device silent: its own alert, not while an outage explains it,
     * and only half a grace period after it went stale. Devices heartbeat
     * out of phase (every ~65 s against a 170 s grace), so when the broker
     * dies they go stale one by one over up to half a grace period; the
     * outage is recognised within that time, before any of them would be
     * alerted on its own (docs/decisions/fleet.md). */
    uint64_t settle = grace + grace / 2;
    for (size_t i = 0; i < n; i++) {
        dev_device_t *v = all[i];
        if (v->kind != DEV_KIND_INFOSCREEN)
            continue;
        int settled = !dev_alive(v->is_active, v->last_alive, now, settle);
        int want = v->is_active && v->last_alive != 0 && settled && !outage;
        if (want != has_alert(d, "heartbeat_stale", v->id)) {
            changes++;
            if (ap != NULL && want) {
                char msg[sizeof(((dev_alert_t *)0)->message)];
                snprintf(msg, sizeof(msg), "%s sent no heartbeat for over %d s",
                         v->description ? v->description : v->id, d->cfg.grace_s);
                set_alert(d, ap, "heartbeat_stale", v->id, now, msg);
            } else if (ap != NULL) {
                clear_alert(d, ap, "heartbeat_stale", v->id);
            }
        }
    }
    hub_free(seen);
    hub_free(all);
    return changes;
}

int dev__apply_liveness(void *ctx, hub_apply_t *ap, const json_t *p)
{
    (void)p;
    if (dev__own_only(ap) != 0)
        return HUB_EINVAL;
    if (liveness(ctx, ap, hub_apply_ts_ms(ap)) == 0)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "nothing changed");
    return 0;
}

/* ---- the sweep ---------------------------------------------------------------------------- */

static int by_updated(const void *a, const void *b)
{
    const dev_command_t *x = *(dev_command_t *const *)a, *y = *(dev_command_t *const *)b;
    return x->updated < y->updated ? -1 : x->updated > y->updated;
}

static int sweep(hub_devdom_t *d, hub_apply_t *ap, uint64_t now)
{
    size_t n, nterm = 0;
    int changes = 0, expired = 0;
    void **all = dev_map_values(&d->commands, &n);

    for (size_t i = 0; i < n; i++) {
        dev_command_t *c = all[i];
        if (dev_command_expired(c->status, c->expires, now)) {
            changes++;
            expired++;
            if (ap == NULL)
                continue;
            c->status = DEV_ST_EXPIRED;
            c->failed = c->updated = now;
            dev__str_set(&c->error_code, "expired", 7);
            dev__str_set(&c->error_message, EXPIRED_MESSAGE, sizeof(EXPIRED_MESSAGE) - 1);
            dev__count_status(d, c);
            dev__row_command(ap, c);
            dev__change_command(d, ap, c, 0);
            /* a request still waiting is answered by the publish outcome */
        }
    }
    /* Terminal commands leave the state after a while (oldest first). */
    qsort(all, n, sizeof(*all), by_updated);
    for (size_t i = 0; i < n; i++)
        nterm += dev_status_terminal(((dev_command_t *)all[i])->status);
    for (size_t i = 0; i < n; i++) {
        dev_command_t *c = all[i];
        if (!dev_status_terminal(c->status) || c->replies != NULL)
            continue;
        if (c->updated + DEV_CMD_KEEP_MS >= now && nterm <= DEV_CMD_KEEP_MAX)
            continue;
        changes++;
        nterm--;
        if (ap == NULL)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "devices.commands.%s", c->id);
        hub_apply_change(ap, path, "null", 4, NULL, 0);
        dev_map_del(&d->commands, c->id);
        dev__command_free(c);
    }
    hub_free(all);
    if (ap != NULL && expired > 0)
        hub_log(HUB_LOG_INFO, "command_expiry_sweep", "{s:i}", "expired", expired);
    return changes;
}

int dev__apply_sweep(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_devdom_t *d = ctx;
    const json_t *before = json_object_get(p, "logs_before");

    if (dev__own_only(ap) != 0)
        return HUB_EINVAL;
    int changes = sweep(d, ap, hub_apply_ts_ms(ap));
    if (json_is_integer(before)) {
        dev__row_logs_prune(ap, (uint64_t)json_integer_value(before));
        changes++;
    }
    if (changes == 0)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "nothing to sweep");
    return 0;
}

/* ---- crash recovery ------------------------------------------------------------------------ */

static void recover(hub_devdom_t *d, uint64_t now)
{
    uint64_t grace = (uint64_t)d->cfg.recovery_grace_s * 1000u;
    uint64_t lockout = (uint64_t)d->cfg.recovery_lockout_min * 60000u;
    size_t n, candidates = 0;
    void **all = dev_map_values(&d->devices, &n);
    /* Silence is evidence only once the hub has listened for a grace period
     * (after start-up, after an outage) and while no outage explains it:
     * else a restart of the hub would reboot the whole fleet. A device that
     * reports its own crash is a candidate at once. */
    int listening = !d->outage && now >= d->watch_since + grace;

    for (size_t i = 0; i < n; i++) {
        dev_device_t *v = all[i];
        int crashed = v->has_status && v->status == DEV_PROC_CRASHED;
        /* seed 004: last_alive < cutoff, so a device never seen is no candidate */
        int stale = listening && v->last_alive != 0 && now > grace && v->last_alive < now - grace;
        if (v->kind != DEV_KIND_INFOSCREEN || !v->is_active || !(crashed || stale))
            continue;
        int recent = 0;
        for (int k = 0; k < v->nlocks; k++)
            recent |= v->locks[k] + lockout >= now;
        if (recent)
            continue;
        all[candidates++] = v;
    }
    hub_log(candidates ? HUB_LOG_INFO : HUB_LOG_DEBUG, "crash_recovery_scan", "{s:i}", "candidates",
            (int)candidates);
    for (size_t i = 0; i < candidates; i++) {
        dev_device_t *v = all[i];
        const char *reason =
            v->has_status && v->status == DEV_PROC_CRASHED ? "process_crashed" : "heartbeat_stale";
        json_t *p = json_pack("{s:s,s:s,s:s,s:n,s:b}", "device", v->id, "action", "reboot_host",
                              "reason", reason, "requested_by", "recovery", 1);
        int rc = dev__submit(d, "device.command", p, "scheduler");
        if (rc != 0)
            hub_log(HUB_LOG_ERROR, "crash_recovery_command_error", "{s:s,s:s,s:s}", "client_uuid",
                    v->id, "reason", reason, "error", "the hub's queue refused the command");
    }
    hub_free(all);
}

/* Logs past FLEET_LOG_RETENTION_DAYS: asked of the reader first, so an
 * hour with nothing to prune writes nothing (and takes no seq). */
typedef struct old_logs {
    hub_devdom_t *d;
    uint64_t before;
    int found;
} old_logs_t;

static int found_row(void *ud, const hub_val_t *cols, int n)
{
    (void)cols;
    (void)n;
    ((old_logs_t *)ud)->found = 1;
    return 1;
}

static void find_old_logs(void *ud, hub_db_t *db)
{
    old_logs_t *o = ud;
    char err[128];
    hub_val_t b[1] = {HUB_VAL_I((int64_t)o->before)};
    db->query(db, "SELECT 1 FROM device_logs WHERE created_at < ?1 LIMIT 1", b, 1, found_row, o,
              err, sizeof(err));
}

static void old_logs_done(void *ud, int rc)
{
    old_logs_t *o = ud;
    if (rc == 0 && o->found && !o->d->stopping)
        dev__submit(o->d, "devices.sweep", json_pack("{s:I}", "logs_before", (json_int_t)o->before),
                    "timer");
    hub_free(o);
}

void dev__poll(hub_devdom_t *d)
{
    uint64_t now = hub_wall_ms();

    if (d->stopping)
        return;
    if (d->reader.run != NULL &&
        (d->logs_pruned == 0 || now - d->logs_pruned >= LOG_PRUNE_EVERY_MS)) {
        old_logs_t *o = hub_calloc(1, sizeof(*o));
        o->d = d;
        o->before = now - (uint64_t)d->cfg.log_retention_days * 86400000u;
        d->logs_pruned = now;
        d->reader.run(d->reader.rctx, find_old_logs, old_logs_done, o);
    }
    if (sweep(d, NULL, now) > 0)
        dev__submit(d, "devices.sweep", json_object(), "timer");
    if (liveness(d, NULL, now) > 0)
        dev__submit(d, "devices.liveness", json_object(), "timer");
    if (d->cfg.recovery)
        recover(d, now);
}
