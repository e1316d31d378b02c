/* core/mem.c - allocation that aborts on out-of-memory. */
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void hub_oom(size_t n)
{
    fprintf(stderr, "{\"level\":\"fatal\",\"event\":\"oom\",\"bytes\":%zu}\n", n);
    abort();
}

void *hub_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        hub_oom(n);
    return p;
}

void *hub_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        hub_oom(count * n);
    return p;
}

void *hub_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        hub_oom(n);
    return q;
}

char *hub_strdup(const char *s)
{
    return hub_strndup(s, strlen(s));
}

char *hub_strndup(const char *s, size_t n)
{
    char *d = hub_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void hub_free(void *p)
{
    free(p);
}
