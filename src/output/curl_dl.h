/* out/curl_dl.h - libcurl, loaded at run time for the OLA output.
 *
 * showhub does not link libcurl: its ~30 dependencies (TLS, Kerberos, LDAP,
 * ...) would stay resident in every process, including the default one with
 * the OLA output off. hub_ola_new() loads it instead, through this table of
 * exactly the functions out/ola.c calls. Types and constants still come from
 * <curl/curl.h> (libcurl4-openssl-dev at build time).
 *
 * Threading: load on the thread that creates the output, before other
 * threads use libcurl (as curl_global_init() requires).
 */
#ifndef HUB_OUT_CURL_DL_H
#define HUB_OUT_CURL_DL_H

#include <stddef.h>

#include <curl/curl.h>

#define HUB_CURL_SONAME "libcurl.so.4"

typedef struct hub_curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *curl);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
} hub_curl_api_t;

/* Fill api from HUB_CURL_SONAME. The library stays loaded for the life of the
 * process (never dlclose'd); loading it again returns the same mapping. On
 * failure returns HUB_ENOTFOUND, writes one line saying what to do to err, and
 * leaves api unchanged. */
int hub_curl_load(hub_curl_api_t *api, char *err, size_t errlen);

/* hub_curl_load() from soname; for tests of the failure path. */
int hub__curl_load_from(hub_curl_api_t *api, const char *soname, char *err, size_t errlen);

#endif
