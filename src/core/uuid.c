/* core/uuid.c - random UUIDs and their 8-4-4-4-12 text form. */
#include "core/uuid.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "core/err.h"

static const char hex[] = "0123456789abcdef";

/* Text offsets of the four dashes; every other position is a hex digit. */
static int is_dash_pos(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void hub_uuid_v4(uint8_t out[16])
{
    size_t got = 0;

    /* getrandom() may return short or fail with EINTR; 16 bytes are below
     * the 256-byte size it guarantees whole, but a signal can still cut in
     * before any byte is read. */
    while (got < 16) {
        ssize_t n = getrandom(out + got, 16 - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abort();
        }
        got += (size_t)n;
    }
    out[6] = (uint8_t)((out[6] & 0x0F) | 0x40); /* version 4 (RFC 9562 section 4.2) */
    out[8] = (uint8_t)((out[8] & 0x3F) | 0x80); /* variant 10 (RFC 9562 section 4.1) */
}

void hub_uuid_format(const uint8_t id[16], char out[HUB_UUID_LEN + 1])
{
    size_t o = 0;

    for (int i = 0; i < 16; i++) {
        if (is_dash_pos(o))
            out[o++] = '-';
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 0x0F];
    }
    out[HUB_UUID_LEN] = '\0';
}

int hub_uuid_parse(const char *s, size_t len, uint8_t out[16])
{
    uint8_t id[16];
    size_t b = 0;

    if (s == NULL || len != HUB_UUID_LEN)
        return HUB_EINVAL;
    for (size_t i = 0; i < HUB_UUID_LEN;) {
        if (is_dash_pos(i)) {
            if (s[i] != '-')
                return HUB_EINVAL;
            i++;
            continue;
        }
        int hi = hex_value(s[i]);
        int lo = hex_value(s[i + 1]); /* i + 1 is never a dash: digits come in pairs */
        if (hi < 0 || lo < 0)
            return HUB_EINVAL;
        id[b++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    /* Copy only now, so a bad string leaves out as it was. */
    for (int i = 0; i < 16; i++)
        out[i] = id[i];
    return 0;
}

int hub_uuid_valid(const char *s, size_t len)
{
    uint8_t scratch[16];

    return hub_uuid_parse(s, len, scratch) == 0;
}
