/* core/log.h - JSON-lines log on stdout.
 *
 * Every line is one JSON object: {"ts":<epoch ms>,"level":"info","event":"…",…}.
 * Extra fields come from a jansson pack format, so values are always escaped:
 *
 *   hub_log(HUB_LOG_INFO, "apply", "{s:I,s:s}", "seq", (json_int_t)seq, "src", src);
 *
 * Pass NULL as fmt for no extra fields. Thread-safe (stdio's own lock). Lines
 * below the level set by hub_log_set_level() are skipped before formatting.
 * stdout is block-buffered; hub_log_flush() is called by the loop's flush timer
 * and after every warn/error line, so operators see problems at once.
 */
#ifndef HUB_CORE_LOG_H
#define HUB_CORE_LOG_H

enum { HUB_LOG_DEBUG = 0, HUB_LOG_INFO, HUB_LOG_WARN, HUB_LOG_ERROR, HUB_LOG_OFF };

/* Parse "debug", "info", "warn", "error" or "off". Returns the level or -1. */
int hub_log_level_parse(const char *s);
/* Set once at start-up, before threads start; read without a lock after. */
void hub_log_set_level(int level);
int hub_log_enabled(int level);
void hub_log(int level, const char *event, const char *fmt, ...);
void hub_log_flush(void);

#endif
