/* main.c - argv and environment to configuration, then run the hub. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "app.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"

static void usage(FILE *f)
{
    fprintf(f,
            "showhub %s - authoritative DMX/device state hub (REST, WebSocket, MQTT, Art-Net, "
            "sACN, OLA)\n\n"
            "Usage: showhub [--help] [--version]\n\n"
            "Configuration is read from the environment. Logs are JSON lines on stdout.\n"
            "Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad configuration or patch file.\n"
            "SIGHUP reloads the patch file (DMX_FIXTURES_FILE).\n\n",
            HUB_VERSION);
    hub_config_print_help(f);
}

/* 10,000 WebSocket clients need more descriptors than the usual soft limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    hub_config_t cfg;
    hub_app_t *app;
    char err[512];
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("showhub %s\n", HUB_VERSION);
            return 0;
        }
        fprintf(stderr, "showhub: unknown argument \"%s\"; see showhub --help\n", argv[i]);
        return 2;
    }
    if (hub_config_load(&cfg, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "showhub: %s\n", err);
        hub_config_close(&cfg);
        return 2;
    }
    hub_log_set_level(cfg.log_level);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    hub_log(HUB_LOG_INFO, "start", "{s:s,s:s,s:s,s:i}", "version", HUB_VERSION, "data_dir",
            cfg.data_dir, "mqtt_host", cfg.mqtt_host, "mqtt_port", cfg.mqtt_port);

    rc = hub_app_new(&app, &cfg, err, sizeof(err));
    if (rc != 0) {
        hub_log(HUB_LOG_ERROR, "startup_failed", "{s:s}", "error", err);
        hub_log_flush();
        fprintf(stderr, "showhub: %s\n", err);
        hub_config_close(&cfg);
        return rc == HUB_ECONFIG ? 2 : 1;
    }
    rc = hub_app_run(app);
    hub_app_free(app);
    hub_config_close(&cfg);
    return rc;
}
