/* core/err.h - status codes.
 *
 * 0 is success; system failures are -errno; project codes sit in a reserved
 * range well below libuv's (which ends at -4095).
 */
#ifndef HUB_CORE_ERR_H
#define HUB_CORE_ERR_H

enum {
    HUB_EINVAL = -10001,    /* bad input: the caller's data is wrong */
    HUB_EOVERLOAD = -10002, /* queue full, nothing could be dropped */
    HUB_EDROPPED = -10003,  /* dropped by the overload policy */
    HUB_ETOOBIG = -10004,   /* input over its size limit */
    HUB_ESHUTDOWN = -10005, /* the hub is stopping */
    HUB_ESTORE = -10006,    /* the store could not commit */
    HUB_ENOTFOUND = -10007,
    HUB_EAUTH = -10008,
    HUB_ECONFIG = -10009, /* the configuration (or a file it names) is wrong: exit 2 */
};

/* Name of rc: a HUB_E* code, or strerror(-rc) for -errno. Never NULL. */
const char *hub_strerror(int rc);

#endif
