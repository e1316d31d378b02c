/* core/addr.c - destination lists (see addr.h). */
#include "core/addr.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/mem.h"

#define MAX_ITEMS 64

static int parse_one(const char *item, size_t len, uint16_t def, hub_addr_t *a, char *err,
                     size_t errlen)
{
    char host[256], port[8];
    const char *colon = memchr(item, ':', len);
    size_t hl = colon ? (size_t)(colon - item) : len;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *res = NULL;
    long p = def;

    if (hl == 0 || hl >= sizeof(host)) {
        snprintf(err, errlen, "\"%.*s\": expected host[:port]", (int)(len > 60 ? 60 : len), item);
        return HUB_EINVAL;
    }
    memcpy(host, item, hl);
    host[hl] = '\0';
    if (colon != NULL) {
        size_t pl = len - hl - 1;
        char *end;
        if (pl == 0 || pl >= sizeof(port)) {
            snprintf(err, errlen, "\"%.*s\": the port must be 1-65535", (int)(len > 60 ? 60 : len),
                     item);
            return HUB_EINVAL;
        }
        memcpy(port, colon + 1, pl);
        port[pl] = '\0';
        p = strtol(port, &end, 10);
        /* Digits only: strtol would also take " 80" and "+80". */
        if (strspn(port, "0123456789") != pl || *end != '\0' || p < 1 || p > 65535) {
            snprintf(err, errlen, "\"%.*s\": the port must be 1-65535", (int)(len > 60 ? 60 : len),
                     item);
            return HUB_EINVAL;
        }
    }
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "\"%s\" cannot be resolved to an IPv4 address (%s)", host,
                 rc ? gai_strerror(rc) : "no address");
        if (res)
            freeaddrinfo(res);
        return HUB_EINVAL;
    }
    memset(a, 0, sizeof(*a));
    memcpy(&a->sin, res->ai_addr, sizeof(a->sin));
    a->sin.sin_port = htons((uint16_t)p);
    snprintf(a->text, sizeof(a->text), "%.80s:%ld", host, p);
    freeaddrinfo(res);
    return 0;
}

int hub_addr_parse_list(const char *list, uint16_t default_port, hub_addr_t **out, size_t *n,
                        char *err, size_t errlen)
{
    hub_addr_t *a = hub_calloc(MAX_ITEMS, sizeof(*a));
    size_t count = 0;
    const char *p = list ? list : "";

    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len > 0) {
            if (count == MAX_ITEMS) {
                snprintf(err, errlen, "more than %d destinations", MAX_ITEMS);
                hub_free(a);
                return HUB_EINVAL;
            }
            if (parse_one(s, len, default_port, &a[count], err, errlen) != 0) {
                hub_free(a);
                return HUB_EINVAL;
            }
            count++;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *out = a;
    *n = count;
    return 0;
}
