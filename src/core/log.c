/* core/log.c - JSON-lines log on stdout.
 *
 * The level is the one piece of process-wide state besides main's signal
 * flag: it is written once before any thread starts (docs/decisions).
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "core/clock.h"

static int log_level = HUB_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int hub_log_level_parse(const char *s)
{
    for (int i = 0; i <= HUB_LOG_OFF; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return HUB_LOG_WARN;
    return -1;
}

void hub_log_set_level(int level)
{
    log_level = level;
}

int hub_log_enabled(int level)
{
    return level >= log_level && log_level != HUB_LOG_OFF;
}

void hub_log(int level, const char *event, const char *fmt, ...)
{
    json_t *obj = NULL;
    char *text;

    if (!hub_log_enabled(level))
        return;
    if (fmt != NULL) {
        va_list ap;
        json_error_t jerr;
        va_start(ap, fmt);
        obj = json_vpack_ex(&jerr, 0, fmt, ap);
        va_end(ap);
    }
    if (obj == NULL)
        obj = json_object();
    /* ts, level and event lead every line; the extra fields follow. */
    json_t *line = json_object();
    json_object_set_new(line, "ts", json_integer((json_int_t)hub_wall_ms()));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "event", json_string(event));
    json_object_update_missing(line, obj);
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    json_decref(obj);
    if (text != NULL) {
        flockfile(stdout);
        fputs(text, stdout);
        fputc('\n', stdout);
        funlockfile(stdout);
        free(text);
    }
    if (level >= HUB_LOG_WARN)
        fflush(stdout);
}

void hub_log_flush(void)
{
    fflush(stdout);
}
