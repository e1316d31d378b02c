/* proto/auth.c - API key check, key masking for audit logs, header access. */
#include <string.h>

#include "core/log.h"
#include "proto/proto_int.h"

int hub__hdr(struct lws *wsi, enum lws_token_indexes tok, char *buf, size_t n)
{
    int len = lws_hdr_total_length(wsi, tok);
    buf[0] = '\0';
    if (len <= 0 || (size_t)len >= n)
        return len <= 0 ? 0 : -1;
    return lws_hdr_copy(wsi, buf, (int)n, tok) < 0 ? -1 : len;
}

int hub__hdr_custom(struct lws *wsi, const char *name, char *buf, size_t n)
{
    int nlen = (int)strlen(name);
    int len = lws_hdr_custom_length(wsi, name, nlen);
    buf[0] = '\0';
    if (len <= 0 || (size_t)len >= n)
        return len <= 0 ? 0 : -1;
    return lws_hdr_custom_copy(wsi, buf, (int)n, name, nlen) < 0 ? -1 : len;
}

void hub__mask_key(const char *key, char *out, size_t n)
{
    size_t len = strlen(key);
    /* Show a short prefix only when the key is long enough that it gives
     * little away; always show the length, which helps spot truncation. */
    if (len >= 12)
        snprintf(out, n, "%.3s…(%zu chars)", key, len);
    else
        snprintf(out, n, "***(%zu chars)", len);
}

/* Constant time: the comparison must not tell an attacker how much matched. */
static int same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

int hub__auth_ok(hub_server_t *s, const char *key, const char *via)
{
    const char *want = s->d.cfg->api_key;
    char masked[64];

    if (want == NULL || want[0] == '\0') {
        if (key != NULL && key[0] != '\0') {
            hub__mask_key(key, masked, sizeof(masked));
            hub_log(HUB_LOG_INFO, "api_key_seen", "{s:s,s:s}", "key", masked, "via", via);
        }
        return 1;
    }
    if (key != NULL && same(key, want))
        return 1;
    hub_metric_inc(s->m_auth_fail);
    hub__mask_key(key ? key : "", masked, sizeof(masked));
    hub_log(HUB_LOG_WARN, "auth_failed", "{s:s,s:s}", "key", masked, "via", via);
    return 0;
}
