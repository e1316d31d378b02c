/* proto/mqtt_devices.c - payload checks and the device presence table.
 *
 * The table is a sorted array with binary search: at most 10,000 small
 * entries, read whole by GET /devices in id order, so sorted storage makes
 * the common read free and an insert costs one memmove.
 *
 * Threading: loop thread only.
 */
#include "proto/mqtt_devices.h"

#include <string.h>

#include <jansson.h>

#include "core/err.h"
#include "core/mem.h"

#define DEVICES_PREFIX "v1/devices/"
#define DEVICES_SUFFIX "/state"

typedef struct device {
    char id[HUB__DEVICE_ID_MAX + 1];
    size_t id_len;
    int state;             /* HUB__PRESENCE_ONLINE or _OFFLINE */
    uint64_t since_ms;     /* wall ms of the last state change */
    uint64_t last_seen_ms; /* wall ms of the last message */
} device_t;

struct hub__mqtt_devices {
    device_t *v; /* sorted by id, byte order */
    size_t n, cap_alloc;
    size_t cap; /* most devices kept */
};

int hub__mqtt_utf8_valid(const void *buf, size_t len, size_t *bad_at)
{
    const unsigned char *s = buf;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates U+D800..DFFF */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            goto bad; /* 0x80..0xC1 (stray/overlong), 0xF5.. */
        }
        if (len - i <= need)
            goto bad; /* truncated */
        if (s[i + 1] < lo || s[i + 1] > hi)
            goto bad;
        for (size_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                goto bad;
        i += need + 1;
    }
    return 1;
bad:
    if (bad_at != NULL)
        *bad_at = i;
    return 0;
}

static int presence_word(const char *s, size_t len)
{
    if (len == 6 && memcmp(s, "online", 6) == 0)
        return HUB__PRESENCE_ONLINE;
    if (len == 7 && memcmp(s, "offline", 7) == 0)
        return HUB__PRESENCE_OFFLINE;
    return HUB__PRESENCE_INVALID;
}

int hub__mqtt_presence_parse(const void *payload, size_t len)
{
    const char *p = payload;
    json_t *obj, *st;
    int rc = HUB__PRESENCE_INVALID;

    if (len == 0)
        return HUB__PRESENCE_CLEAR;
    rc = presence_word(p, len);
    if (rc != HUB__PRESENCE_INVALID)
        return rc;
    obj = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
    if (obj == NULL)
        return HUB__PRESENCE_INVALID;
    st = json_object_get(obj, "state");
    if (json_is_string(st))
        rc = presence_word(json_string_value(st), json_string_length(st));
    json_decref(obj);
    return rc;
}

int hub__mqtt_device_topic_id(const char *topic, const char **id, size_t *id_len)
{
    size_t plen = sizeof(DEVICES_PREFIX) - 1, slen = sizeof(DEVICES_SUFFIX) - 1;
    size_t len = strlen(topic), n;
    const char *s;

    if (len <= plen + slen || memcmp(topic, DEVICES_PREFIX, plen) != 0 ||
        memcmp(topic + len - slen, DEVICES_SUFFIX, slen) != 0)
        return 0;
    s = topic + plen;
    n = len - plen - slen;
    if (n > HUB__DEVICE_ID_MAX || memchr(s, '/', n) || memchr(s, '+', n) || memchr(s, '#', n))
        return 0;
    if (!hub__mqtt_utf8_valid(s, n, NULL))
        return 0;
    *id = s;
    *id_len = n;
    return 1;
}

hub__mqtt_devices_t *hub__mqtt_devices_new(size_t cap)
{
    hub__mqtt_devices_t *d = hub_calloc(1, sizeof(*d));
    d->cap = cap;
    return d;
}

void hub__mqtt_devices_free(hub__mqtt_devices_t *d)
{
    if (d == NULL)
        return;
    hub_free(d->v);
    hub_free(d);
}

size_t hub__mqtt_devices_count(const hub__mqtt_devices_t *d)
{
    return d->n;
}

static int id_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return (alen > blen) - (alen < blen);
}

/* Index of id if present (*found = 1), else where it would be inserted. */
static size_t find(const hub__mqtt_devices_t *d, const char *id, size_t id_len, int *found)
{
    size_t lo = 0, hi = d->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = id_cmp(d->v[mid].id, d->v[mid].id_len, id, id_len);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

int hub__mqtt_devices_update(hub__mqtt_devices_t *d, const char *id, size_t id_len, int presence,
                             uint64_t now_ms)
{
    int found;
    size_t i;
    device_t *x;

    if (id_len == 0 || id_len > HUB__DEVICE_ID_MAX || memchr(id, '\0', id_len))
        return HUB_EINVAL;
    if (presence != HUB__PRESENCE_ONLINE && presence != HUB__PRESENCE_OFFLINE &&
        presence != HUB__PRESENCE_CLEAR)
        return HUB_EINVAL;
    i = find(d, id, id_len, &found);
    if (presence == HUB__PRESENCE_CLEAR) {
        if (found) {
            memmove(&d->v[i], &d->v[i + 1], (d->n - i - 1) * sizeof(device_t));
            d->n--;
        }
        return 0;
    }
    if (found) {
        x = &d->v[i];
        if (x->state != presence) {
            x->state = presence;
            x->since_ms = now_ms;
        }
        x->last_seen_ms = now_ms;
        return 0;
    }
    if (d->n >= d->cap)
        return HUB_EOVERLOAD;
    if (d->n == d->cap_alloc) {
        d->cap_alloc = d->cap_alloc ? d->cap_alloc * 2 : 16;
        if (d->cap_alloc > d->cap)
            d->cap_alloc = d->cap;
        d->v = hub_realloc(d->v, d->cap_alloc * sizeof(device_t));
    }
    memmove(&d->v[i + 1], &d->v[i], (d->n - i) * sizeof(device_t));
    d->n++;
    x = &d->v[i];
    memset(x, 0, sizeof(*x));
    memcpy(x->id, id, id_len);
    x->id_len = id_len;
    x->state = presence;
    x->since_ms = now_ms;
    x->last_seen_ms = now_ms;
    return 0;
}

char *hub__mqtt_devices_json(const hub__mqtt_devices_t *d, size_t *len)
{
    json_t *arr = json_array();
    char *out;
    size_t n;

    for (size_t i = 0; i < d->n; i++) {
        const device_t *x = &d->v[i];
        json_t *o = json_object();
        /* Ids were checked as UTF-8 on the way in, so json_stringn succeeds. */
        json_object_set_new(o, "id", json_stringn(x->id, x->id_len));
        json_object_set_new(o, "state",
                            json_string(x->state == HUB__PRESENCE_ONLINE ? "online" : "offline"));
        json_object_set_new(o, "since", json_integer((json_int_t)x->since_ms));
        json_object_set_new(o, "lastSeen", json_integer((json_int_t)x->last_seen_ms));
        json_array_append_new(arr, o);
    }
    /* Render into our own heap so the caller frees with hub_free like any
     * other buffer, whatever allocator jansson was given. */
    n = json_dumpb(arr, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    out = hub_malloc(n + 1);
    json_dumpb(arr, out, n, JSON_COMPACT | JSON_PRESERVE_ORDER);
    out[n] = '\0';
    json_decref(arr);
    if (len != NULL)
        *len = n;
    return out;
}
