/* out/curl_dl.c - dlopen libcurl and look up the functions out/ola.c calls.
 *
 * No cache of our own: the dynamic linker keeps one mapping per library and
 * a repeated dlopen() only bumps its count, so each output fills its own
 * table and no file-scope state is needed. The handle is never dlclose'd:
 * curl_global_cleanup() is never called, so libcurl must stay mapped.
 */
#include "output/curl_dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

#define WHAT_TO_DO "install the libcurl4 package or set DMX_OLA_ENABLED=false"

struct sym {
    const char *name;
    size_t off; /* of the function pointer in hub_curl_api_t */
};

static const struct sym syms[] = {
    {"curl_global_init", offsetof(hub_curl_api_t, global_init)},
    {"curl_easy_init", offsetof(hub_curl_api_t, easy_init)},
    {"curl_easy_setopt", offsetof(hub_curl_api_t, easy_setopt)},
    {"curl_easy_perform", offsetof(hub_curl_api_t, easy_perform)},
    {"curl_easy_getinfo", offsetof(hub_curl_api_t, easy_getinfo)},
    {"curl_easy_cleanup", offsetof(hub_curl_api_t, easy_cleanup)},
    {"curl_easy_strerror", offsetof(hub_curl_api_t, easy_strerror)},
    {"curl_slist_append", offsetof(hub_curl_api_t, slist_append)},
    {"curl_slist_free_all", offsetof(hub_curl_api_t, slist_free_all)},
};

/* dlsym() returns void *; POSIX guarantees it converts to a function pointer. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers are not void *");
/* Every slot is filled: a missing entry would be a NULL call later. */
_Static_assert(sizeof(syms) / sizeof(syms[0]) * sizeof(void *) == sizeof(hub_curl_api_t),
               "syms[] does not cover hub_curl_api_t");

/* Each slot has the type <curl/curl.h> declares. Unevaluated: links nothing. */
#define SAME_TYPE(field, fn)                                                                       \
    _Static_assert(                                                                                \
        __builtin_types_compatible_p(__typeof__(&fn), __typeof__(((hub_curl_api_t *)0)->field)),   \
        #fn " does not match <curl/curl.h>")
SAME_TYPE(global_init, curl_global_init);
SAME_TYPE(easy_init, curl_easy_init);
SAME_TYPE(easy_setopt, curl_easy_setopt);
SAME_TYPE(easy_perform, curl_easy_perform);
SAME_TYPE(easy_getinfo, curl_easy_getinfo);
SAME_TYPE(easy_cleanup, curl_easy_cleanup);
SAME_TYPE(easy_strerror, curl_easy_strerror);
SAME_TYPE(slist_append, curl_slist_append);
SAME_TYPE(slist_free_all, curl_slist_free_all);

int hub__curl_load_from(hub_curl_api_t *api, const char *soname, char *err, size_t errlen)
{
    hub_curl_api_t t;
    void *h;

    /* RTLD_NOW: a broken install fails here, at start-up, not on the first POST. */
    h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(err, errlen, "DMX_OLA_ENABLED=true needs libcurl: dlopen %s failed: %s; %s",
                 soname, dlerror(), WHAT_TO_DO);
        return HUB_ENOTFOUND;
    }
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *p;

        dlerror();
        p = dlsym(h, syms[i].name);
        if (p == NULL) {
            const char *why = dlerror();

            snprintf(err, errlen, "DMX_OLA_ENABLED=true needs libcurl: %s has no %s: %s; %s",
                     soname, syms[i].name, why != NULL ? why : "NULL symbol", WHAT_TO_DO);
            return HUB_ENOTFOUND; /* h is not dlclose'd: start-up fails anyway */
        }
        memcpy((char *)&t + syms[i].off, &p, sizeof(p));
    }
    *api = t;
    return 0;
}

int hub_curl_load(hub_curl_api_t *api, char *err, size_t errlen)
{
    return hub__curl_load_from(api, HUB_CURL_SONAME, err, errlen);
}
