/* core/err.c - names of status codes. */
#include "core/err.h"

#include <string.h>

const char *hub_strerror(int rc)
{
    switch (rc) {
    case 0: return "ok";
    case HUB_EINVAL: return "invalid input";
    case HUB_EOVERLOAD: return "overloaded: command queue is full";
    case HUB_EDROPPED: return "dropped by the overload policy";
    case HUB_ETOOBIG: return "input too large";
    case HUB_ESHUTDOWN: return "shutting down";
    case HUB_ESTORE: return "store failure";
    case HUB_ENOTFOUND: return "not found";
    case HUB_EAUTH: return "unauthorized";
    case HUB_ECONFIG: return "bad configuration";
    default: break;
    }
    if (rc < 0 && rc > -4096)
        return strerror(-rc);
    return "unknown error";
}
