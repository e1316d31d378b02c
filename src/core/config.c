/* core/config.c - the configuration table and its parser. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

enum kind { K_STR, K_OSTR, K_INT, K_BOOL, K_LEVEL, K_SYNC, K_FRAC };

struct entry {
    const char *name;
    enum kind kind;
    size_t off;
    const char *def; /* NULL: unset */
    long min, max;   /* K_INT bounds */
    const char *help;
};

#define F(field) offsetof(hub_config_t, field)

static const struct entry table[] = {
    {"DMX_MQTT_HOST", K_STR, F(mqtt_host), "localhost", 0, 0, "MQTT broker host"},
    {"DMX_MQTT_PORT", K_INT, F(mqtt_port), "1883", 1, 65535, "MQTT broker port"},
    {"DMX_MQTT_USERNAME", K_OSTR, F(mqtt_username), NULL, 0, 0, "MQTT username (unset: anonymous)"},
    {"DMX_MQTT_PASSWORD", K_OSTR, F(mqtt_password), NULL, 0, 0, "MQTT password"},
    {"DMX_MQTT_CLIENT_ID", K_STR, F(mqtt_client_id), "showhub", 0, 0,
     "MQTT client id (stable: the session persists)"},
    {"DMX_MQTT_ENABLED", K_BOOL, F(mqtt_enabled), "true", 0, 0, "Connect to MQTT at all"},
    {"DMX_QUEUE_SIZE", K_INT, F(queue_size), "10000", 1, 10000000,
     "Max buffered mutation commands"},
    {"DMX_CMD_DEDUPE_TTL_SECONDS", K_INT, F(dedupe_ttl_s), "900", 1, 31536000,
     "TTL for the command dedupe cache"},
    {"DMX_CMD_DEDUPE_CAPACITY", K_INT, F(dedupe_capacity), "4096", 1, 10000000,
     "Max cached command ids"},
    {"DMX_ALLOW_ORIGINS", K_STR, F(allow_origins), "*", 0, 0,
     "CORS/WebSocket allowed origins (comma separated, * for any)"},
    {"DMX_OLA_ENABLED", K_BOOL, F(ola_enabled), "false", 0, 0, "Enable OLA DMX output"},
    {"DMX_OLA_URL", K_STR, F(ola_url), "http://localhost:9090/set_dmx", 0, 0, "OLA HTTP endpoint"},
    {"DMX_OLA_UNIVERSE", K_INT, F(ola_universe), "1", 0, 2147483647,
     "DMX universe (the demo fixture's, and OLA's)"},
    {"DMX_OLA_FPS", K_INT, F(ola_fps), "44", 1, 1000, "Max frame rate for OLA"},
    {"DMX_HTTP_HOST", K_STR, F(http_host), "0.0.0.0", 0, 0, "HTTP/WebSocket listen address"},
    {"DMX_HTTP_PORT", K_INT, F(http_port), "8080", 1, 65535, "HTTP/WebSocket listen port"},
    {"DMX_HTTP_THREADS", K_INT, F(http_threads), "0", 0, 64,
     "Threads serving HTTP/WebSocket connections (0: one per CPU core, at most 8)"},
    {"DMX_DATA_DIR", K_STR, F(data_dir), "./data", 0, 0, "Directory of showhub.db"},
    {"DMX_API_KEY", K_OSTR, F(api_key), NULL, 0, 0,
     "Require this key (x-api-key header, ?token= on /ws); unset: accept and audit"},
    {"DMX_LOG_LEVEL", K_LEVEL, F(log_level), "info", 0, 0, "debug, info, warn, error or off"},
    {"DMX_WEB_DIR", K_STR, F(web_dir), HUB_WEB_DIR_DEFAULT, 0, 0, "Directory of the web UI"},
    {"DMX_STORE_SYNC", K_SYNC, F(store_sync_full), "normal", 0, 0,
     "normal: a commit survives a crash or kill -9 of showhub; full: also power loss "
     "(fsync per group commit)"},
    {"DMX_JOURNAL_RETENTION", K_INT, F(journal_retention), "100000", 1, 100000000,
     "Applied commands kept in the journal"},
    {"DMX_JOURNAL_MAX_MB", K_INT, F(journal_max_mb), "256", 0, 1000000,
     "Journal payload + patch megabytes kept (0: no bound); a show edit journals the whole "
     "show, so this bounds the database on small cards"},
    {"DMX_WS_SLOW_MS", K_INT, F(ws_slow_ms), "200", 10, 60000,
     "A WebSocket client this many ms behind is disconnected"},
    {"DMX_WS_BACKLOG", K_INT, F(ws_backlog), "1024", 16, 1000000,
     "Frames queued per WebSocket client before it is disconnected"},
    {"DMX_FIXTURES_FILE", K_OSTR, F(fixtures_file), NULL, 0, 0,
     "The patch file (universes, fixtures, POIs); unset: <DMX_DATA_DIR>/fixtures.json, "
     "absent = only the demo fixture"},
    {"DMX_OUTPUT_FPS", K_INT, F(output_fps), "44", 1, 100,
     "DMX output frame clock (Art-Net, sACN, WS room frames), frames per second"},
    {"DMX_OUTPUT_KEEPALIVE_MS", K_INT, F(output_keepalive_ms), "1000", 100, 60000,
     "Resend an unchanged universe this often (Art-Net/sACN keep-alive)"},
    {"DMX_OUTPUT_TEST_PATTERN", K_STR, F(output_test), "off", 0, 0,
     "off, or chase: a moving test pattern on every slot of every universe, under the manual "
     "layer (checking cables, benchmarks)"},
    {"DMX_ARTNET_ENABLED", K_BOOL, F(artnet_enabled), "false", 0, 0, "Send Art-Net (ArtDmx)"},
    {"DMX_ARTNET_TARGETS", K_STR, F(artnet_targets), "255.255.255.255", 0, 0,
     "Art-Net destinations: host[:port],… (port 6454 by default)"},
    {"DMX_ARTNET_SYNC", K_BOOL, F(artnet_sync), "false", 0, 0,
     "Send ArtSync after each tick's ArtDmx packets"},
    {"DMX_ARTNET_LISTEN", K_STR, F(artnet_listen), "false", 0, 0,
     "Answer ArtPoll: false, true (0.0.0.0:6454) or host[:port]"},
    {"DMX_SACN_ENABLED", K_BOOL, F(sacn_enabled), "false", 0, 0, "Send sACN (E1.31)"},
    {"DMX_SACN_TARGETS", K_OSTR, F(sacn_targets), NULL, 0, 0,
     "sACN destinations: host[:port],…; unset: multicast 239.255.<hi>.<lo>:5568"},
    {"DMX_SACN_PRIORITY", K_INT, F(sacn_priority), "100", 0, 200, "sACN priority"},
    {"DMX_SACN_SOURCE_NAME", K_STR, F(sacn_source_name), "showhub", 0, 0,
     "sACN source name (at most 63 bytes are sent)"},
    {"DMX_WS_FRAME_HZ", K_INT, F(ws_frame_hz), "30", 1, 100,
     "Room \"frames\": at most this many frames per universe per second"},
    {"DMX_OUTPUT_PRIORITY", K_INT, F(output_priority), "0", 0, 99,
     "0: the output thread runs at normal priority; 1-99: real-time (SCHED_FIFO) at that "
     "priority, for steady ticks on a busy machine (needs root or CAP_SYS_NICE)"},
    {"DMX_SHOWS_DIR", K_OSTR, F(shows_dir), NULL, 0, 0,
     "Directory of the show files (<name>.cue.json); unset: <DMX_DATA_DIR>/shows"},
    {"DMX_DEFAULT_SHOW", K_OSTR, F(default_show), NULL, 0, 0,
     "Show loaded at start-up when no show is loaded and its file exists"},
    {"DMX_PLAYBACK_FPS", K_INT, F(playback_fps), "60", 1, 240,
     "Show playback renders this many frames per second"},
    {"DMX_SHOW_MAX_BYTES", K_INT, F(show_max_bytes), "4194304", 1024, 268435456,
     "Largest show file accepted (PUT /api/v1/shows/<name> body, files on disk)"},
    /* The device fleet: seed 004's names, so its deployments keep their .env. */
    {"FLEET_TOPIC_ROOT", K_STR, F(fleet_topic_root), "infoscreen", 0, 0,
     "First topic level of the signage fleet (seed 004: infoscreen/…)"},
    {"HEARTBEAT_GRACE_SECONDS", K_INT, F(heartbeat_grace_s), "170", 10, 86400,
     "A device is alive while its last heartbeat is this recent (and it is active)"},
    {"POLL_INTERVAL_SECONDS", K_INT, F(poll_interval_s), "30", 1, 3600,
     "Fleet housekeeping period: command expiry sweep, liveness and alerts, crash recovery"},
    {"COMMAND_EXPIRY_SECONDS", K_INT, F(command_expiry_s), "240", 180, 360,
     "A device command expires this long after it is issued"},
    {"CRASH_RECOVERY_ENABLED", K_BOOL, F(crash_recovery), "false", 0, 0,
     "Send reboot_host to crashed or silent devices on their own (seed 004's auto-recovery)"},
    {"CRASH_RECOVERY_GRACE_SECONDS", K_INT, F(crash_recovery_grace_s), "180", 10, 86400,
     "Auto-recovery: a device silent this long is a candidate"},
    {"CRASH_RECOVERY_LOCKOUT_MINUTES", K_INT, F(crash_recovery_lockout_min), "15", 1, 1440,
     "Auto-recovery skips a device with a reboot/restart_app command this recent"},
    {"CRASH_RECOVERY_COMMAND_EXPIRY_SECONDS", K_INT, F(crash_recovery_expiry_s), "240", 180, 360,
     "Expiry of an auto-recovery reboot_host"},
    {"FLEET_OUTAGE_FRACTION", K_FRAC, F(fleet_outage_fraction), "0.8", 0, 0,
     "This share (0-1] of the active devices going silent together raises one "
     "broker_outage_suspected alert instead of one per device"},
    {"FLEET_COMPAT_TOPICS", K_BOOL, F(fleet_compat_topics), "true", 0, 0,
     "Also publish commands to <root>/<uuid>/command and restarts to clients/<uuid>/restart "
     "(seed 004's transitional topics)"},
    {"FLEET_LOG_RETENTION", K_INT, F(fleet_log_retention), "1000", 10, 1000000,
     "Device log entries kept per device"},
    {"FLEET_LOG_RETENTION_DAYS", K_INT, F(fleet_log_retention_days), "30", 1, 3650,
     "Device log entries older than this are removed"},
    {"FLEET_MAX_DEVICES", K_INT, F(fleet_max_devices), "50000", 1, 1000000,
     "Devices the registry holds; announcements of more are refused (registry_full)"},
    /* scenes (seed 002) */
    {"DMX_SCENES_DIR", K_OSTR, F(scenes_dir), NULL, 0, 0,
     "Directory of the scene files (<name>.scene.json); unset: <DMX_DATA_DIR>/scenes"},
    {"SCENE_MEDIA_COMMAND", K_OSTR, F(scene_media_command), NULL, 0, 0,
     "Player for /audio and /video actions, an argv template run without a shell, e.g. "
     "\"mpv --no-video {file}\"; unset: logged as simulated"},
    {"SCENE_MEDIA_DIR", K_OSTR, F(scene_media_dir), NULL, 0, 0,
     "Directory the media files of /audio and /video actions come from; unset: "
     "<DMX_DATA_DIR>/media"},
    {"SCENE_FEEDBACK_TIMEOUT_MS", K_INT, F(scene_feedback_timeout_ms), "1000", 10, 60000,
     "A published scene action waits this long for <room>/status OK/ERROR"},
    /* schedules (seed 004's scheduler) */
    {"REFRESH_SECONDS", K_INT, F(refresh_s), "0", 0, 86400,
     "Republish every group's active events this often even unchanged; 0: only on change"},
    {"EVENTS_WINDOW_DAYS", K_INT, F(events_window_days), "7", 1, 366,
     "Days ahead recurring events are expanded"},
    {"POWER_INTENT_PUBLISH_ENABLED", K_BOOL, F(power_intent_publish), "false", 0, 0,
     "Publish retained TV power intents per group (seed 004 phase 1)"},
    {"POWER_INTENT_HEARTBEAT_ENABLED", K_BOOL, F(power_intent_heartbeat), "true", 0, 0,
     "Republish an unchanged power intent every poll with fresh issued_at/expires_at"},
    {"POWER_INTENT_EXPIRY_MULTIPLIER", K_INT, F(power_intent_expiry_multiplier), "3", 1, 100,
     "A power intent expires after max(this x POLL_INTERVAL_SECONDS, the minimum)"},
    {"POWER_INTENT_MIN_EXPIRY_SECONDS", K_INT, F(power_intent_min_expiry_s), "90", 1, 86400,
     "The shortest power intent lifetime"},
};

#define NENTRIES (sizeof(table) / sizeof(table[0]))

/* The show name rule (domains/show/showfile.h), here for DMX_DEFAULT_SHOW. */
static int show_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return 0;
    return 1;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return HUB_EINVAL;
}

static int parse_int(const char *v, long min, long max, int *out)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
        return HUB_EINVAL;
    *out = (int)n;
    return 0;
}

static int apply(hub_config_t *cfg, const struct entry *e, const char *v, char *err, size_t errlen)
{
    char *base = (char *)cfg + e->off;

    switch (e->kind) {
    case K_STR:
    case K_OSTR:
        if (e->kind == K_STR && v[0] == '\0') {
            snprintf(err, errlen, "%s must not be empty", e->name);
            return HUB_EINVAL;
        }
        hub_free(*(char **)base);
        *(char **)base = hub_strdup(v);
        return 0;
    case K_INT:
        if (parse_int(v, e->min, e->max, (int *)base) == 0)
            return 0;
        snprintf(err, errlen, "%s=\"%s\" is not valid: expected an integer from %ld to %ld",
                 e->name, v, e->min, e->max);
        return HUB_EINVAL;
    case K_BOOL:
        if (parse_bool(v, (bool *)base) == 0)
            return 0;
        snprintf(err, errlen,
                 "%s=\"%s\" is not valid: expected true or false (also 1/0, yes/no, on/off)",
                 e->name, v);
        return HUB_EINVAL;
    case K_LEVEL: {
        int lvl = hub_log_level_parse(v);
        if (lvl >= 0) {
            *(int *)base = lvl;
            return 0;
        }
        snprintf(err, errlen, "%s=\"%s\" is not valid: expected debug, info, warn, error or off",
                 e->name, v);
        return HUB_EINVAL;
    }
    case K_FRAC: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno == 0 && end != v && *end == '\0' && d > 0.0 && d <= 1.0) {
            *(double *)base = d;
            return 0;
        }
        snprintf(err, errlen,
                 "%s=\"%s\" is not valid: expected a fraction above 0, at most 1 "
                 "(e.g. 0.8)",
                 e->name, v);
        return HUB_EINVAL;
    }
    case K_SYNC:
        if (strcmp(v, "full") == 0 || strcmp(v, "normal") == 0) {
            *(bool *)base = strcmp(v, "full") == 0;
            return 0;
        }
        snprintf(err, errlen, "%s=\"%s\" is not valid: expected full or normal", e->name, v);
        return HUB_EINVAL;
    }
    return HUB_EINVAL;
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

/* Values whose form one table entry cannot say: destination lists, the
 * listen address, the test pattern. */
static int check(const hub_config_t *cfg, char *err, size_t errlen)
{
    hub_addr_t *a = NULL;
    size_t n = 0;
    char why[256];

    if (hub_addr_parse_list(cfg->artnet_targets, 6454, &a, &n, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "DMX_ARTNET_TARGETS=\"%.100s\" is not valid: %s", cfg->artnet_targets,
                 why);
        return HUB_EINVAL;
    }
    hub_free(a);
    if (cfg->artnet_enabled && n == 0) {
        snprintf(err, errlen,
                 "DMX_ARTNET_TARGETS is empty: give host[:port],… or "
                 "255.255.255.255 for broadcast");
        return HUB_EINVAL;
    }
    if (cfg->sacn_targets != NULL &&
        hub_addr_parse_list(cfg->sacn_targets, 5568, &a, &n, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "DMX_SACN_TARGETS=\"%.100s\" is not valid: %s", cfg->sacn_targets,
                 why);
        return HUB_EINVAL;
    }
    if (cfg->sacn_targets != NULL)
        hub_free(a);
    bool b;
    if (parse_bool(cfg->artnet_listen, &b) != 0) {
        if (hub_addr_parse_list(cfg->artnet_listen, 6454, &a, &n, why, sizeof(why)) != 0 ||
            n != 1) {
            if (n > 1)
                hub_free(a);
            snprintf(err, errlen,
                     "DMX_ARTNET_LISTEN=\"%.100s\" is not valid: expected false, true or one "
                     "host[:port]%s%s",
                     cfg->artnet_listen, n > 1 ? "" : ": ", n > 1 ? "" : why);
            return HUB_EINVAL;
        }
        hub_free(a);
    }
    if (cfg->sacn_enabled && cfg->output_keepalive_ms > 2000) {
        snprintf(err, errlen,
                 "DMX_OUTPUT_KEEPALIVE_MS=%d is too long with sACN on: receivers drop a source "
                 "after 2.5 s of silence (E1.31); use at most 2000",
                 cfg->output_keepalive_ms);
        return HUB_EINVAL;
    }
    if (strcmp(cfg->output_test, "off") != 0 && strcmp(cfg->output_test, "chase") != 0) {
        snprintf(err, errlen,
                 "DMX_OUTPUT_TEST_PATTERN=\"%.40s\" is not valid: expected off or chase",
                 cfg->output_test);
        return HUB_EINVAL;
    }
    if (cfg->shows_dir != NULL && cfg->shows_dir[0] == '\0') {
        snprintf(err, errlen, "DMX_SHOWS_DIR must not be empty: unset it for <DMX_DATA_DIR>/shows");
        return HUB_EINVAL;
    }
    if (cfg->default_show != NULL && !show_name_ok(cfg->default_show)) {
        snprintf(err, errlen,
                 "DMX_DEFAULT_SHOW=\"%.70s\" is not a show name: expected [A-Za-z0-9_.-]{1,64}, "
                 "not starting with "
                 "'.' (the file <DMX_SHOWS_DIR>/<name>.cue.json)",
                 cfg->default_show);
        return HUB_EINVAL;
    }
    if (strpbrk(cfg->fleet_topic_root, "/+#") != NULL || strlen(cfg->fleet_topic_root) > 48) {
        snprintf(err, errlen,
                 "FLEET_TOPIC_ROOT=\"%.70s\" is not one topic level: expected a name such as "
                 "infoscreen, at most 48 characters, without '/', '+' or '#'",
                 cfg->fleet_topic_root);
        return HUB_EINVAL;
    }
    if (cfg->fixtures_file != NULL && cfg->fixtures_file[0] == '\0') {
        snprintf(err, errlen,
                 "DMX_FIXTURES_FILE must not be empty: unset it for "
                 "<DMX_DATA_DIR>/fixtures.json");
        return HUB_EINVAL;
    }
    return 0;
}

int hub_config_load(hub_config_t *cfg, const char *(*get)(const char *name), char *err,
                    size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_body = 16 * 1024;
    if (get == NULL)
        get = env_get;
    for (size_t i = 0; i < NENTRIES; i++) {
        const struct entry *e = &table[i];
        if (e->def != NULL && apply(cfg, e, e->def, err, errlen) != 0)
            return HUB_EINVAL;
    }
    for (size_t i = 0; i < NENTRIES; i++) {
        const char *v = get(table[i].name);
        if (v != NULL && apply(cfg, &table[i], v, err, errlen) != 0)
            return HUB_EINVAL;
    }
    return check(cfg, err, errlen);
}

void hub_config_close(hub_config_t *cfg)
{
    for (size_t i = 0; i < NENTRIES; i++)
        if (table[i].kind == K_STR || table[i].kind == K_OSTR) {
            char **p = (char **)((char *)cfg + table[i].off);
            hub_free(*p);
            *p = NULL;
        }
}

void hub_config_print_help(FILE *f)
{
    fprintf(f, "Environment variables (default in brackets):\n");
    for (size_t i = 0; i < NENTRIES; i++)
        fprintf(f, "  %-28s %s [%s]\n", table[i].name, table[i].help,
                table[i].def ? table[i].def : "unset");
}

int hub_config_origin_allowed(const hub_config_t *cfg, const char *origin)
{
    const char *p = cfg->allow_origins;
    size_t olen;

    if (origin == NULL)
        return 1;
    olen = strlen(origin);
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        /* Trim blanks around each item. */
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if ((n == 1 && *p == '*') || (n == olen && strncasecmp(p, origin, n) == 0))
            return 1;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return 0;
}
