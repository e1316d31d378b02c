/* core/ulid.h - ULID validation and generation.
 *
 * A ULID is 26 characters of Crockford base32: 10 for a 48-bit millisecond
 * timestamp, 16 for 80 random bits. Decoding is case-insensitive (the spec
 * says so); the canonical form, used as the dedupe key, is upper case.
 */
#ifndef HUB_CORE_ULID_H
#define HUB_CORE_ULID_H

#include <stddef.h>
#include <stdint.h>

#define HUB_ULID_LEN 26

/* 1 if s[0..len) is a ULID, else 0. The timestamp part must fit 48 bits, so
 * the first character is 0..7. */
int hub_ulid_valid(const char *s, size_t len);
/* Write the canonical (upper-case) form of a valid ULID and a NUL to out. */
void hub_ulid_canon(char out[HUB_ULID_LEN + 1], const char *s);
/* Timestamp part of a valid ULID, epoch milliseconds. */
uint64_t hub_ulid_time_ms(const char *s);
/* Encode ms and 10 random bytes into out (NUL-terminated). */
void hub_ulid_encode(char out[HUB_ULID_LEN + 1], uint64_t ms, const uint8_t rnd[10]);

/* A new ULID for now (getrandom), canonical upper case. Any thread. */
void hub_ulid_new(char out[HUB_ULID_LEN + 1]);

#endif
