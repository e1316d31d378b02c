/* domains/devices/model_liveness.c - alive or not, the broker-outage
 * heuristic and device ids (rules in model.h).
 */
#include "domains/devices/model.h"

#include <math.h>

/* now - d, or 0 when that would be before the epoch. */
static uint64_t before(uint64_t now, uint64_t d)
{
    return now >= d ? now - d : 0;
}

int dev_alive(int is_active, uint64_t last_alive_ms, uint64_t now, uint64_t grace_ms)
{
    return is_active && last_alive_ms != 0 && last_alive_ms >= before(now, grace_ms);
}

/* fraction as an integer share of 1000, rounded to the nearest: comparing
 * together * 1000 >= permille * n in integers keeps 0.8 * 10 == 8 exact
 * where 0.8 * 10.0 in doubles might land a hair either side. NaN and
 * negatives count as 0, anything above 1 as 1. */
static uint64_t permille(double fraction)
{
    if (!(fraction > 0.0))
        return 0;
    if (fraction >= 1.0)
        return 1000;
    return (uint64_t)llround(fraction * 1000.0);
}

int dev_outage_suspected(const uint64_t *last_alive, size_t n, uint64_t now, uint64_t grace_ms,
                         double fraction, size_t *nstale)
{
    uint64_t cutoff = before(now, grace_ms);
    uint64_t newest = 0;
    size_t stale = 0, together = 0;

    for (size_t i = 0; i < n; i++) {
        if (last_alive[i] < cutoff) {
            stale++;
            if (last_alive[i] > newest)
                newest = last_alive[i];
        }
    }
    if (nstale != NULL)
        *nstale = stale;
    if (n < 2 || stale == 0)
        return 0;
    uint64_t since = before(newest, grace_ms);
    for (size_t i = 0; i < n; i++)
        if (last_alive[i] < cutoff && last_alive[i] >= since)
            together++;
    /* One device cannot go silent "together": a lone stale device is a
     * device problem whatever the fraction says. */
    if (together < 2)
        return 0;
    return (uint64_t)together * 1000u >= permille(fraction) * (uint64_t)n;
}

int dev_id_valid(const char *s, size_t len)
{
    if (s == NULL || len < 1 || len > DEV_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}
