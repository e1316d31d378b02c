/* bench/lg_sync.h - blocking HTTP GET for snapshots outside timed phases
 * (GET /rgb, /metrics, /readyz), and reading Prometheus text. */
#ifndef LG_SYNC_H
#define LG_SYNC_H

#include <stddef.h>
#include <stdint.h>

/* GET path from host:port. Returns the status (>= 100) and a heap body the
 * caller frees (NUL-terminated), or -1 on a connection error or timeout. */
int lg_sync_get(const char *host, int port, const char *path, int timeout_ms, char **body,
                size_t *len);
/* Value of the first sample of metric `name` (no labels, or any labels), or
 * NaN when absent. */
double lg_metric(const char *text, const char *name);
/* The current state's value (r<<16|g<<8|b) and seq from GET /rgb; -1 on error. */
int lg_sync_state(const char *host, int port, uint32_t *value, uint64_t *seq);

#endif
