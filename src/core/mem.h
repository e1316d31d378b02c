/* core/mem.h - allocation that aborts on out-of-memory.
 *
 * Error paths are spent on what really happens (network, disk, bad input);
 * an allocation failure ends the process with a log line instead.
 */
#ifndef HUB_CORE_MEM_H
#define HUB_CORE_MEM_H

#include <stddef.h>

void *hub_malloc(size_t n);
void *hub_calloc(size_t count, size_t n);
void *hub_realloc(void *p, size_t n);
char *hub_strdup(const char *s);
char *hub_strndup(const char *s, size_t n);
void hub_free(void *p);
/* Log the failed size and abort (what every hub allocation does on OOM). */
_Noreturn void hub_oom(size_t n);

#endif
