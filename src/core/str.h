/* core/str.h - small string helpers for hot paths (no printf machinery). */
#ifndef HUB_CORE_STR_H
#define HUB_CORE_STR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* dst = a b c (c may be NULL), truncated to fit n bytes (n >= 1), always
 * NUL-terminated. Returns the length written. */
size_t hub_str_join(char *dst, size_t n, const char *a, const char *b, const char *c);

/* A hash of p[0..n) for in-memory tables (not seeded: only for keys the
 * operator or the hub chooses, such as names, paths and topics). */
uint64_t hub_hash(const void *p, size_t n);
/* The same, seeded (keys clients choose: a random seed per table). */
uint64_t hub_hash_seeded(uint64_t seed, const void *p, size_t n);
#define hub_hash_str(s) hub_hash((s), strlen(s))

/* *text = src[0..n) + NUL, reusing its memory when *cap allows (values
 * that change on every intent). *text may be NULL (then *cap is 0). */
void hub_str_set(char **text, size_t *cap, const char *src, size_t n);

#endif
