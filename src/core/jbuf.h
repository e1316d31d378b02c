/* core/jbuf.h - a growable buffer for writing JSON text by hand.
 *
 * The hot paths (patches, views, frames) render small JSON documents many
 * thousand times a second; building jansson trees for them costs a dozen
 * allocations each. This writes the text directly. Commas are automatic: a
 * value or key written after another value gets one, so callers write
 *
 *   hub_jbuf_open(b, '{'); hub_jbuf_key(b, "r"); hub_jbuf_int(b, 1);
 *   hub_jbuf_key(b, "g"); hub_jbuf_int(b, 2); hub_jbuf_close(b, '}');
 *
 * and get {"r":1,"g":2}. Strings are escaped per RFC 8259 (control
 * characters as \u00XX; bytes >= 0x80 are copied, so the caller passes
 * UTF-8). Aborts on out-of-memory like every hub allocation.
 */
#ifndef HUB_CORE_JBUF_H
#define HUB_CORE_JBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct hub_jbuf {
    char *p;    /* NUL-terminated after every call */
    size_t len; /* bytes written, without the NUL */
    size_t cap;
} hub_jbuf_t;

void hub_jbuf_init(hub_jbuf_t *b);
void hub_jbuf_free(hub_jbuf_t *b);
void hub_jbuf_reset(hub_jbuf_t *b); /* len = 0, keeps the memory */
/* Hand the text to the caller (heap, free with hub_free); b is empty after
 * and holds no memory (it may be written again, or dropped). */
char *hub_jbuf_take(hub_jbuf_t *b, size_t *len);

/* Raw bytes, no separator logic (for fixed fragments). */
void hub_jbuf_raw(hub_jbuf_t *b, const char *s, size_t n);
#define hub_jbuf_lit(b, s) hub_jbuf_raw((b), (s), sizeof(s) - 1)
/* Values (each preceded by a comma when one is due). */
void hub_jbuf_str(hub_jbuf_t *b, const char *s);
void hub_jbuf_strn(hub_jbuf_t *b, const char *s, size_t n);
void hub_jbuf_int(hub_jbuf_t *b, int64_t v);
void hub_jbuf_uint(hub_jbuf_t *b, uint64_t v);
void hub_jbuf_bool(hub_jbuf_t *b, int v);
void hub_jbuf_null(hub_jbuf_t *b);
/* A JSON value already rendered (n bytes). */
void hub_jbuf_json(hub_jbuf_t *b, const char *json, size_t n);
/* "key": (with a comma first when due). */
void hub_jbuf_key(hub_jbuf_t *b, const char *key);
void hub_jbuf_keyn(hub_jbuf_t *b, const char *key, size_t n);
/* '{' or '[' (with a comma first when due), and '}' or ']'. */
void hub_jbuf_open(hub_jbuf_t *b, char c);
void hub_jbuf_close(hub_jbuf_t *b, char c);

/* Append the escaped form of s[0..n) without quotes (for callers that build
 * keys or paths). */
void hub_jbuf_escape(hub_jbuf_t *b, const char *s, size_t n);

#endif
