/* bench/lg_cmd.c - command identities, bodies and answer scanning. */
#include "lg_cmd.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char B32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        abort();
    }
    return p;
}

void lg_cmds_init(lg_cmds_t *c, uint32_t cap, uint32_t cur_value)
{
    struct timespec ts;
    memset(c, 0, sizeof(*c));
    c->cap = cap;
    c->base = (cur_value & LG_VALUE_MAX) + 1;
    /* Wrap to 1 when the run would pass 2^24; the state before the run
     * then lies above every value the run uses. */
    if ((uint64_t)c->base + cap > LG_VALUE_MAX)
        c->base = 1;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->ulid_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    c->tag = ((uint64_t)ts.tv_nsec * 2654435761u) ^ ((uint64_t)getpid() << 21);
    c->tag &= (1ull << 40) - 1;
    c->intended_ns = xcalloc(cap, sizeof(uint64_t));
    c->answer = xcalloc(cap, 1);
    c->seen = xcalloc(cap, 1);
    c->chan = xcalloc(cap, 1);
    c->seq = xcalloc(cap, sizeof(uint64_t));
}

void lg_cmds_free(lg_cmds_t *c)
{
    free(c->intended_ns);
    free(c->answer);
    free(c->seen);
    free(c->chan);
    free(c->seq);
    memset(c, 0, sizeof(*c));
}

int64_t lg_cmds_index_of_value(const lg_cmds_t *c, uint32_t value)
{
    if (value < c->base)
        return -1;
    uint64_t k = value - c->base;
    return k < c->cap ? (int64_t)k : -1;
}

static void b32_put(char *out, int nchars, uint64_t v)
{
    for (int i = nchars - 1; i >= 0; i--) {
        out[i] = B32[v & 31];
        v >>= 5;
    }
}

static int b32_val(char ch)
{
    const char *p = strchr(B32, toupper((unsigned char)ch));
    return (p && ch) ? (int)(p - B32) : -1;
}

void lg_cmds_ulid(const lg_cmds_t *c, uint32_t k, char out[LG_ULID_LEN + 1])
{
    b32_put(out, 10, c->ulid_ms); /* 48-bit ms: first char 0..7 */
    b32_put(out + 10, 8, c->tag); /* 40 bits: this run */
    b32_put(out + 18, 8, k);      /* 40 bits: the command */
    out[LG_ULID_LEN] = 0;
}

int64_t lg_cmds_index_of_id(const lg_cmds_t *c, const char *id, size_t len)
{
    uint64_t tag = 0, k = 0;
    if (len != LG_ULID_LEN)
        return -1;
    for (int i = 10; i < 26; i++) {
        int v = b32_val(id[i]);
        if (v < 0)
            return -1;
        if (i < 18)
            tag = (tag << 5) | (uint64_t)v;
        else
            k = (k << 5) | (uint64_t)v;
    }
    if (tag != c->tag || k >= c->cap)
        return -1;
    return (int64_t)k;
}

void lg_cmds_rgb(const lg_cmds_t *c, uint32_t k, unsigned rgb[3])
{
    uint32_t v = c->base + k;
    rgb[0] = (v >> 16) & 255;
    rgb[1] = (v >> 8) & 255;
    rgb[2] = v & 255;
}

size_t lg_cmds_body(const lg_cmds_t *c, uint32_t k, const char *src, int ws, char *buf, size_t n)
{
    char id[LG_ULID_LEN + 1];
    unsigned rgb[3];
    lg_cmds_ulid(c, k, id);
    lg_cmds_rgb(c, k, rgb);
    int len = snprintf(buf, n, "{%s\"cmdId\":\"%s\",\"src\":\"%s\",\"r\":%u,\"g\":%u,\"b\":%u}",
                       ws ? "\"type\":\"set\"," : "", id, src, rgb[0], rgb[1], rgb[2]);
    return (len > 0 && (size_t)len < n) ? (size_t)len : 0;
}

size_t lg_cmds_intent_body(const lg_cmds_t *c, uint32_t k, const char *src, char *buf, size_t n)
{
    char id[LG_ULID_LEN + 1];
    unsigned rgb[3];
    lg_cmds_ulid(c, k, id);
    lg_cmds_rgb(c, k, rgb);
    int len = snprintf(buf, n,
                       "{\"req_id\":\"%s\",\"name\":\"fixture.set_values\",\"src\":\"%s\","
                       "\"payload\":{\"fixture\":\"demo\",\"values\":{\"red\":%u,\"green\":%u,"
                       "\"blue\":%u}}}",
                       id, src, rgb[0], rgb[1], rgb[2]);
    return (len > 0 && (size_t)len < n) ? (size_t)len : 0;
}

/* Position just after `"key"` + spaces + ':' + spaces, or NULL. */
static const char *find_key(const char *s, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *end = s + len;
    for (const char *p = s; p + kl + 2 < end; p++) {
        if (*p != '"' || p[kl + 1] != '"' || memcmp(p + 1, key, kl) != 0)
            continue;
        const char *q = p + kl + 2;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        if (q >= end || *q != ':')
            continue;
        q++;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        return q < end ? q : NULL;
    }
    return NULL;
}

int lg_json_num(const char *s, size_t len, const char *key, double *out)
{
    const char *q = find_key(s, len, key);
    char tmp[40];
    size_t i = 0;
    if (!q)
        return -1;
    while (q < s + len && i + 1 < sizeof(tmp) &&
           (isdigit((unsigned char)*q) || *q == '-' || *q == '.' || *q == 'e' || *q == 'E' ||
            *q == '+'))
        tmp[i++] = *q++;
    if (i == 0)
        return -1;
    tmp[i] = 0;
    *out = strtod(tmp, NULL);
    return 0;
}

int lg_json_str(const char *s, size_t len, const char *key, char *out, size_t n)
{
    const char *q = find_key(s, len, key);
    size_t i = 0;
    if (!q || *q != '"' || n == 0)
        return -1;
    q++;
    while (q < s + len && *q != '"' && i + 1 < n)
        out[i++] = *q++;
    out[i] = 0;
    return 0;
}

int lg_parse_state(const char *s, size_t len, uint32_t *value, uint64_t *seq)
{
    double r, g, b, sq;
    if (lg_json_num(s, len, "r", &r) || lg_json_num(s, len, "g", &g) ||
        lg_json_num(s, len, "b", &b))
        return -1;
    if (lg_json_num(s, len, "seq", &sq))
        sq = 0;
    *value = ((uint32_t)r & 255) << 16 | ((uint32_t)g & 255) << 8 | ((uint32_t)b & 255);
    *seq = (uint64_t)sq;
    return 0;
}
