/* app.h - wiring: builds every module from the configuration, runs the loop,
 * and shuts down in order (stop intake, drain, MQTT offline, close server,
 * blackout, flush store). main.c only parses argv and calls this. */
#ifndef HUB_APP_H
#define HUB_APP_H

#include <stddef.h>

#include "core/config.h"

typedef struct hub_app hub_app_t;

/* Open the store, restore state, listen. On failure writes one line saying
 * what to do to err and returns a negative code; nothing is left running. */
int hub_app_new(hub_app_t **out, const hub_config_t *cfg, char *err, size_t errlen);
/* Run until SIGINT/SIGTERM and a clean shutdown. Returns the exit code. */
int hub_app_run(hub_app_t *app);
void hub_app_free(hub_app_t *app);

#endif
