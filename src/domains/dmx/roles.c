/* domains/dmx/roles.c - role names. */
#include "domains/dmx/roles.h"

#include <string.h>

static const char *const names[HUB_ROLE_COUNT] = {
    [HUB_ROLE_RED] = "red",         [HUB_ROLE_GREEN] = "green",
    [HUB_ROLE_BLUE] = "blue",       [HUB_ROLE_WHITE] = "white",
    [HUB_ROLE_AMBER] = "amber",     [HUB_ROLE_UV] = "uv",
    [HUB_ROLE_DIMMER] = "dimmer",   [HUB_ROLE_STROBE] = "strobe",
    [HUB_ROLE_PAN] = "pan",         [HUB_ROLE_PAN_FINE] = "pan_fine",
    [HUB_ROLE_TILT] = "tilt",       [HUB_ROLE_TILT_FINE] = "tilt_fine",
    [HUB_ROLE_ZOOM] = "zoom",       [HUB_ROLE_FOCUS] = "focus",
    [HUB_ROLE_GOBO] = "gobo",       [HUB_ROLE_COLOR_WHEEL] = "color_wheel",
    [HUB_ROLE_GENERIC] = "generic",
};

const char *hub_dmx_role_name(int role)
{
    return role >= 0 && role < HUB_ROLE_COUNT ? names[role] : NULL;
}

int hub_dmx_role_parse(const char *s, size_t len)
{
    for (int i = 0; i < HUB_ROLE_COUNT; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return -1;
}

const char *hub_dmx_role_list(void)
{
    return "red green blue white amber uv dimmer strobe pan pan_fine tilt tilt_fine zoom focus "
           "gobo color_wheel generic";
}
