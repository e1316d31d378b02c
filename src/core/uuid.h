/* core/uuid.h - UUIDs (RFC 9562, formerly RFC 4122): random version 4 and text form.
 *
 * sACN needs a 16-byte CID per source (E1.31 section 5.6), and a UUID is
 * also the usual id for things a user names. The text form is the
 * 8-4-4-4-12 hex string, 36 characters.
 *
 * Threading: every function is pure apart from hub_uuid_v4's read of the
 * kernel's random source; any thread may call them.
 */
#ifndef HUB_CORE_UUID_H
#define HUB_CORE_UUID_H

#include <stddef.h>
#include <stdint.h>

#define HUB_UUID_LEN 36 /* text form, without NUL */

/* Fill out with a random UUID: 122 bits from getrandom(2), version 4
 * (byte 6 high nibble 0100) and variant 10 (byte 8 top bits). Blocks only
 * until the kernel's random pool is first initialised; aborts if the kernel
 * cannot give random bytes at all (as on OOM: there is no sane fallback). */
void hub_uuid_v4(uint8_t out[16]);

/* Write id as lower-case 8-4-4-4-12 text and a NUL to out. */
void hub_uuid_format(const uint8_t id[16], char out[HUB_UUID_LEN + 1]);

/* Parse s[0..len): exactly 36 characters, hex digits in either case with
 * dashes at offsets 8, 13, 18 and 23; nothing else, no braces, no
 * whitespace. Any version and variant is accepted. Returns 0 and writes
 * out, or HUB_EINVAL (core/err.h) and leaves out untouched. */
int hub_uuid_parse(const char *s, size_t len, uint8_t out[16]);

/* 1 if hub_uuid_parse would accept s[0..len), else 0. */
int hub_uuid_valid(const char *s, size_t len);

#endif
