/* tools/fuzz/fuzz_command.c - libFuzzer target: command JSON as every
 * adapter receives it (REST body, WS frame, MQTT payload). Whatever the
 * bytes, parsing must not crash or leak, and a parsed command must hold a
 * canonical ULID, a valid src and in-range values. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "core/ulid.h"
#include "engine/command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hub_cmd_t *cmd = NULL;
    hub_parse_err_t err;

    if (hub_cmd_parse((const char *)data, size, "api", &cmd, &err) == 0) {
        assert(hub_ulid_valid(cmd->cmd_id, strlen(cmd->cmd_id)));
        assert(strlen(cmd->src) >= 1 && strlen(cmd->src) <= HUB_SRC_MAX);
        hub_cmd_free(cmd);
    } else {
        assert(err.msg[0] != '\0');
    }
    return 0;
}
