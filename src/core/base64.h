/* core/base64.h - RFC 4648 base64 (standard alphabet, with padding). */
#ifndef HUB_CORE_BASE64_H
#define HUB_CORE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Length of the encoding of n bytes (without a NUL). */
#define HUB_BASE64_LEN(n) ((((n) + 2) / 3) * 4)

/* Encode n bytes into out (HUB_BASE64_LEN(n) + 1 bytes, NUL-terminated).
 * Returns the length written. */
size_t hub_base64_encode(const uint8_t *in, size_t n, char *out);

#endif
