/* tools/fuzz/fuzz_patch.c - libFuzzer target: the fixture patch file
 * (DMX_FIXTURES_FILE). Whatever the bytes, parsing must not crash or leak;
 * a refusal writes a message and leaves nothing to free, and an accepted
 * patch has every fixture inside its universe. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "domains/dmx/patchfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hub_patch_t p;
    char err[256];

    err[0] = '\0';
    if (hub_patch_parse((const char *)data, size, "fuzz.json", 1, &p, err, sizeof err) == 0) {
        for (size_t i = 0; i < p.nfixtures; i++) {
            const hub_patch_fixture_t *f = &p.fixtures[i];
            assert(f->address >= 1 && f->nch >= 1 && f->address + f->nch - 1 <= HUB_DMX_SLOTS);
            assert(hub_patch_fixture(&p, f->name) != NULL);
        }
        hub_patch_free(&p);
    } else {
        assert(err[0] != '\0');
        assert(p.nfixtures == 0 && p.fixtures == NULL);
    }
    return 0;
}
