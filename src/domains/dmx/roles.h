/* domains/dmx/roles.h - the channel roles a fixture's channels can have.
 *
 * Roles are how fixtures are addressed from outside ("values":{"red":255}):
 * each channel of a fixture has one role and a role appears at most once per
 * fixture. The names are part of the external contract (patch file, intents,
 * snapshot); the order of this enum is not.
 */
#ifndef HUB_DMX_ROLES_H
#define HUB_DMX_ROLES_H

#include <stddef.h>

enum {
    HUB_ROLE_RED,
    HUB_ROLE_GREEN,
    HUB_ROLE_BLUE,
    HUB_ROLE_WHITE,
    HUB_ROLE_AMBER,
    HUB_ROLE_UV,
    HUB_ROLE_DIMMER,
    HUB_ROLE_STROBE,
    HUB_ROLE_PAN,
    HUB_ROLE_PAN_FINE,
    HUB_ROLE_TILT,
    HUB_ROLE_TILT_FINE,
    HUB_ROLE_ZOOM,
    HUB_ROLE_FOCUS,
    HUB_ROLE_GOBO,
    HUB_ROLE_COLOR_WHEEL,
    HUB_ROLE_GENERIC,
    HUB_ROLE_COUNT
};

/* The role's external name ("color_wheel"), or NULL for an out-of-range role. */
const char *hub_dmx_role_name(int role);
/* The role named s[0..len) (exact, case-sensitive), or -1. */
int hub_dmx_role_parse(const char *s, size_t len);
/* "red green blue … generic": the accepted names, for error messages. */
const char *hub_dmx_role_list(void);

#endif
