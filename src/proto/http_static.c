/* proto/http_static.c - the web UI: files under DMX_WEB_DIR, GET/HEAD only.
 *
 * Paths are checked against a strict character set and never contain "..",
 * so a request cannot leave the web directory. The app shell is served with
 * "no-cache" (the service worker does the caching); icons may be cached.
 */
#include <string.h>
#include <sys/stat.h>

#include "proto/proto_int.h"

static const struct {
    const char *ext;
    const char *mime;
} mimes[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *mime_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot == NULL || strchr(dot, '/') != NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++)
        if (strcmp(dot, mimes[i].ext) == 0)
            return mimes[i].mime;
    return NULL;
}

static int safe_path(const char *p)
{
    if (p[0] != '/' || strstr(p, "..") != NULL || strstr(p, "//") != NULL)
        return 0;
    for (const char *c = p; *c; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 *c == '/' || *c == '.' || *c == '-' || *c == '_';
        if (!ok)
            return 0;
    }
    return 1;
}

int hub__http_static(hub_net_t *net, struct lws *wsi, hub_pss_t *pss, const char *path)
{
    hub_server_t *s = net->s;
    static const char no_cache[] = "cache-control: no-cache\r\n"
                                   "x-content-type-options: nosniff\r\n";
    char full[1024];
    struct stat st;
    const char *mime;
    int rc;

    if (strcmp(path, "/") == 0)
        path = "/index.html";
    if (!safe_path(path) || (mime = mime_of(path)) == NULL)
        return 0;
    if ((size_t)snprintf(full, sizeof(full), "%s%s", s->d.cfg->web_dir, path) >= sizeof(full))
        return 0;
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    pss->resp.status = 0; /* lws owns the response from here */
    rc = lws_serve_http_file(wsi, full, mime, no_cache, (int)strlen(no_cache));
    if (rc < 0)
        return -1;
    return 1;
}
