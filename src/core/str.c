/* core/str.c - small string helpers (see str.h). */
#include "core/str.h"

#include <string.h>

#include "core/mem.h"

static size_t put(char *dst, size_t at, size_t n, const char *s)
{
    size_t len;
    if (s == NULL)
        return at;
    len = strnlen(s, n - 1 - at);
    memcpy(dst + at, s, len);
    return at + len;
}

size_t hub_str_join(char *dst, size_t n, const char *a, const char *b, const char *c)
{
    size_t at = put(dst, 0, n, a);
    at = put(dst, at, n, b);
    at = put(dst, at, n, c);
    dst[at] = '\0';
    return at;
}

uint64_t hub_hash(const void *p, size_t n)
{
    return hub_hash_seeded(0, p, n);
}

uint64_t hub_hash_seeded(uint64_t seed, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    uint64_t w;

    /* Whole words with a fixed-size memcpy (one load), then the tail. */
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    if (n > 0) {
        w = 0;
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)s[i] << (8 * i);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

void hub_str_set(char **text, size_t *cap, const char *src, size_t n)
{
    if (*text == NULL || n >= *cap) {
        hub_free(*text);
        *cap = n + 1 + n / 4;
        *text = hub_malloc(*cap);
    }
    memcpy(*text, src, n);
    (*text)[n] = '\0';
}
