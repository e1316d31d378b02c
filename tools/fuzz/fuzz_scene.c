/* tools/fuzz/fuzz_scene.c - libFuzzer target: scene files (seed 002's
 * timed actions) and the media player template. The first byte picks the
 * parser. Whatever the bytes: no crash or leak; an accepted scene renders
 * to JSON that parses back to the same scene; actions come out in firing
 * order; an accepted template yields an argv without NULs and with the
 * media path in it. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "core/jbuf.h"
#include "domains/scenes/model.h"
#include "engine/intent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void scene(const char *text, size_t len, int actions_only)
{
    json_t *root = json_loadb(text, len, HUB_JSON_FLAGS, NULL);
    hub_error_t err;
    scn_scene_t s, again;

    if (root == NULL)
        return;
    int rc = actions_only ? scn_parse_actions(root, "on_start", &s, &err)
                          : scn_parse(root, NULL, "fuzz.scene.json", &s, &err);
    json_decref(root);
    if (rc != 0) {
        assert(err.msg[0] != '\0');
        return;
    }
    for (size_t k = 1; k < s.n; k++)
        assert(s.actions[k - 1].t_ms <= s.actions[k].t_ms);
    if (!actions_only) {
        hub_jbuf_t b;
        hub_jbuf_init(&b);
        scn_render(&b, &s);
        json_t *back = json_loadb(b.p, b.len, HUB_JSON_FLAGS, NULL);
        assert(back != NULL);
        assert(scn_parse(back, NULL, NULL, &again, &err) == 0);
        assert(again.n == s.n && again.duration_ms == s.duration_ms);
        assert(strcmp(again.room, s.room) == 0);
        scn_scene_free(&again);
        json_decref(back);
        hub_jbuf_free(&b);
    }
    scn_scene_free(&s);
}

static void media(const char *text, size_t len)
{
    char tmpl[512];
    char **argv = NULL;
    hub_error_t err;

    if (len >= sizeof(tmpl))
        len = sizeof(tmpl) - 1;
    memcpy(tmpl, text, len);
    tmpl[len] = '\0';
    if (scn_media_argv(tmpl, "/srv/media", "bg.mp3", &argv, &err) != 0)
        return;
    int found = 0;
    assert(argv[0] != NULL);
    for (char **a = argv; *a; a++)
        if (strstr(*a, "/srv/media/bg.mp3") != NULL)
            found = 1;
    assert(found);
    scn_argv_free(argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 4) {
    case 0: scene(text, len, 0); break;
    case 1: scene(text, len, 1); break;
    case 2: media(text, len); break;
    default: {
        char name[300];
        size_t n = len < sizeof(name) - 1 ? len : sizeof(name) - 1;
        memcpy(name, text, n);
        name[n] = '\0';
        if (scn_media_file_valid(name))
            assert(strchr(name, '/') == NULL && name[0] != '.');
        break;
    }
    }
    return 0;
}
