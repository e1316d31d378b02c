/* tools/fuzz/fuzz_fleet.c - libFuzzer target: what fleet devices send
 * (seed 004's ACKs, health and heartbeat payloads, ISO times) and the
 * command payload check. The first byte picks the parser. Whatever the
 * bytes: no crash or leak; an accepted ACK applies to every status without
 * moving a terminal command; a parsed time formats back to itself. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "domains/devices/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ack(const char *text, size_t len)
{
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    const char *reason;
    char why[128];
    dev_ack_t a;

    if (dev_ack_parse(root, &a, &reason, why, sizeof(why)) == 0) {
        assert(strlen(a.command_id) == 36);
        for (int s = 0; s < DEV_ST_COUNT; s++) {
            dev_status_t next;
            if (dev_ack_apply((dev_status_t)s, a.status, &next) == DEV_ACK_APPLY)
                assert(!dev_status_terminal((dev_status_t)s));
        }
        if (a.status == DEV_ACK_FAILED)
            assert(a.error_code && a.error_code[0] && a.error_message && a.error_message[0]);
    } else {
        assert(reason != NULL);
    }
    json_decref(root);
}

static void telemetry(const char *text, size_t len, int health)
{
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    dev_telemetry_t t;
    int rc = health ? dev_health_map(root, &t) : dev_heartbeat_map(root, &t);
    if (rc == 0) {
        assert(!t.has_process || strlen(t.process) <= DEV_PROCESS_MAX);
        assert(!t.has_status || (int)t.status < DEV_PROC_COUNT);
        assert(!t.has_screen || (int)t.screen < DEV_SCREEN_COUNT);
        assert(t.nignored >= 0 && t.nignored <= 8);
    }
    json_decref(root);
}

static void times(const char *text, size_t len)
{
    uint64_t ms, back;
    char out[DEV_TIME_MAX];
    if (dev_time_parse(text, len, &ms) != 0)
        return;
    size_t n = dev_time_format(ms, 1, out);
    assert(dev_time_parse(out, n, &back) == 0 && back == ms);
}

static void command(const char *text, size_t len)
{
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    const char *code = NULL;
    char why[128];
    if (root != NULL && dev_command_validate(root, &code, why, sizeof(why)) != 0)
        assert(code != NULL);
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 5) {
    case 0: ack(text, len); break;
    case 1: telemetry(text, len, 1); break;
    case 2: telemetry(text, len, 0); break;
    case 3: times(text, len); break;
    default: command(text, len); break;
    }
    return 0;
}
