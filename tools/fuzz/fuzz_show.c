/* tools/fuzz/fuzz_show.c - libFuzzer target: show files (DMX_SHOWS_DIR,
 * PUT /api/v1/shows/<name>). Whatever the bytes, parsing must not crash or
 * leak; an accepted show renders to text that parses back to the same
 * text, and compiles and renders against a small patch at any time. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "domains/dmx/roles.h"
#include "domains/show/render.h"
#include "domains/show/showfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hub_patch_fixture_t fx[2];
static hub_patch_poi_t poi = {"stage_center", 128, 0, 60, 0};

static const hub_patch_fixture_t *find(void *ud, const char *name)
{
    (void)ud;
    for (int i = 0; i < 2; i++)
        if (strcmp(fx[i].name, name) == 0)
            return &fx[i];
    return NULL;
}

static const hub_patch_poi_t *find_poi(void *ud, const char *name)
{
    (void)ud;
    return strcmp(name, poi.name) == 0 ? &poi : NULL;
}

static void setup(void)
{
    static const unsigned char roles[2][6] = {
        {HUB_ROLE_RED, HUB_ROLE_GREEN, HUB_ROLE_BLUE, HUB_ROLE_DIMMER},
        {HUB_ROLE_PAN, HUB_ROLE_PAN_FINE, HUB_ROLE_TILT, HUB_ROLE_TILT_FINE, HUB_ROLE_DIMMER,
         HUB_ROLE_STROBE}};
    strcpy(fx[0].name, "par1");
    fx[0].universe = 2;
    fx[0].address = 1;
    fx[0].nch = 4;
    memcpy(fx[0].roles, roles[0], 4);
    strcpy(fx[1].name, "par2");
    fx[1].universe = 3;
    fx[1].address = 507;
    fx[1].nch = 6;
    memcpy(fx[1].roles, roles[1], 6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hub_show_t s, back;
    char err[512];
    hub_jbuf_t a, b;

    if (fx[0].nch == 0)
        setup();
    err[0] = '\0';
    if (hub_show_parse((const char *)data, size, "fuzz.cue.json", &s, err, sizeof err) != 0) {
        assert(err[0] != '\0');
        assert(s.ncues == 0 && s.cues == NULL && s.neffects == 0 && s.effects == NULL);
        return 0;
    }
    hub_jbuf_init(&a);
    hub_jbuf_init(&b);
    hub_show_render(&a, &s);
    int rc = hub_show_parse(a.p, a.len, "fuzz.cue.json", &back, err, sizeof err);
    assert(rc == 0);
    hub_show_render(&b, &back);
    assert(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
    hub_show_free(&back);

    hub_show_patch_t patch = {find, find_poi, NULL};
    if (hub_show_check(&s, "fuzz.cue.json", &patch, err, sizeof err, NULL, 0) == 0) {
        uint8_t out[512], set[512], ref[512], refset[512];
        hub_show_prog_t *p = hub_show_compile(&s, &patch, NULL);
        hub_show_cursor_t *c = hub_show_cursor_new(p);
        int64_t dur = s.duration_ms * 1000;
        for (int k = 0; k <= 8; k++) {
            int64_t t = dur / 8 * k;
            for (int u = 2; u <= 3; u++) {
                hub_show_render_universe(p, c, u, t, out, set);
                hub_show_render_universe(p, NULL, u, t, ref, refset);
                assert(memcmp(out, ref, 512) == 0 && memcmp(set, refset, 512) == 0);
            }
        }
        hub_show_cursor_free(c);
        hub_show_prog_unref(p);
    }
    hub_jbuf_free(&a);
    hub_jbuf_free(&b);
    hub_show_free(&s);
    return 0;
}
