/* core/ulid.c - ULID validation and generation (Crockford base32). */
#include "core/ulid.h"

#include <sys/random.h>
#include <time.h>

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Value of a Crockford base32 digit, or -1. I, L, O and U are not digits. */
static int digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    for (int i = 10; i < 32; i++)
        if (alphabet[i] == c)
            return i;
    return -1;
}

int hub_ulid_valid(const char *s, size_t len)
{
    if (s == NULL || len != HUB_ULID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (digit(s[i]) < 0)
            return 0;
    /* 10 digits hold 50 bits; the timestamp has 48, so the top digit is <= 7. */
    return digit(s[0]) <= 7;
}

void hub_ulid_canon(char out[HUB_ULID_LEN + 1], const char *s)
{
    for (int i = 0; i < HUB_ULID_LEN; i++)
        out[i] = alphabet[digit(s[i])];
    out[HUB_ULID_LEN] = '\0';
}

uint64_t hub_ulid_time_ms(const char *s)
{
    uint64_t ms = 0;
    for (int i = 0; i < 10; i++)
        ms = (ms << 5) | (uint64_t)digit(s[i]);
    return ms;
}

void hub_ulid_encode(char out[HUB_ULID_LEN + 1], uint64_t ms, const uint8_t rnd[10])
{
    for (int i = 9; i >= 0; i--) {
        out[i] = alphabet[ms & 31];
        ms >>= 5;
    }
    /* 80 random bits as 16 five-bit digits, most significant first. */
    int bit = 0;
    for (int i = 0; i < 16; i++) {
        int v = 0;
        for (int b = 0; b < 5; b++, bit++)
            v = (v << 1) | ((rnd[bit / 8] >> (7 - bit % 8)) & 1);
        out[10 + i] = alphabet[v];
    }
    out[HUB_ULID_LEN] = '\0';
}

void hub_ulid_new(char out[HUB_ULID_LEN + 1])
{
    struct timespec ts;
    uint8_t rnd[10] = {0};

    clock_gettime(CLOCK_REALTIME, &ts);
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        /* getrandom only fails before the pool is seeded; mix the clock in. */
        for (size_t i = 0; i < sizeof(rnd); i++)
            rnd[i] ^= (uint8_t)(ts.tv_nsec >> (i % 4 * 8));
    }
    hub_ulid_encode(out, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, rnd);
}
