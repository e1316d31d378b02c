/* tools/fuzz/fuzz_command.c - libFuzzer target: intent JSON as every
 * adapter receives it (REST body, WS frame, MQTT payload), both as a
 * seed-000 RGB command and as an intent envelope. Whatever the bytes,
 * parsing must not crash or leak; a parsed intent holds a valid req_id and
 * src and an object payload, and a refusal always says why. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "core/ulid.h"
#include "engine/intent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_intent(const hub_intent_t *in)
{
    assert(hub_req_id_valid(in->req_id, strlen(in->req_id)));
    assert(hub_src_valid(in->src, strlen(in->src)));
    assert(in->legacy ? in->payload == NULL : json_is_object(in->payload));
    assert(in->payload_text != NULL && strlen(in->payload_text) == in->payload_len);
    json_t *text = json_loadb(in->payload_text, in->payload_len, 0, NULL);
    assert(json_is_object(text)); /* the journal's payload is always an object */
    json_decref(text);
}

static void fuzz_rgb(const uint8_t *data, size_t size)
{
    hub_intent_t *in = NULL;
    hub_error_t err;
    char cmd_id[HUB_REQ_ID_MAX + 1];

    if (hub_intent_parse_rgb((const char *)data, size, "api", &in, &err, cmd_id) == 0) {
        check_intent(in);
        assert(hub_ulid_valid(in->req_id, strlen(in->req_id)));
        assert(in->legacy);
        hub_intent_free(in);
    } else {
        assert(err.msg[0] != '\0');
        assert(cmd_id[0] == '\0' || hub_ulid_valid(cmd_id, strlen(cmd_id)));
    }
}

static void fuzz_envelope(const uint8_t *data, size_t size, int require_req_id)
{
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)data, size, HUB_JSON_FLAGS, &jerr);
    hub_intent_t *in = NULL;
    hub_error_t err;
    char req_id[HUB_REQ_ID_MAX + 1];

    if (obj == NULL)
        return;
    if (hub_intent_from_envelope(obj, "ws", require_req_id, &in, &err, req_id) == 0) {
        if (in->req_id[0] != '\0')
            check_intent(in);
        else
            assert(!require_req_id);
        assert(in->name[0] != '\0');
        if (hub_intent_set_reply_to(in, json_object_get(obj, "reply_to"), &err) == 0 &&
            in->reply_to != NULL)
            assert(strpbrk(in->reply_to, "+#") == NULL);
        hub_intent_free(in);
    } else {
        assert(err.msg[0] != '\0');
    }
    json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_rgb(data, size);
    fuzz_envelope(data, size, 1);
    fuzz_envelope(data, size, 0);
    return 0;
}
