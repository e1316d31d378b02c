/* tests/unit/text_rig.h - helpers of the file-format tests (patch file,
 * show files): message checks and building big test texts. Include after
 * cmocka.h. */
#ifndef HUB_TEST_TEXT_RIG_H
#define HUB_TEST_TEXT_RIG_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every string of want (NULL-terminated) is in err. */
static inline void assert_has(const char *err, const char *const *want)
{
    for (size_t i = 0; want[i]; i++)
        if (strstr(err, want[i]) == NULL)
            fail_msg("message lacks \"%s\": %s", want[i], err);
}

/* A growable string for building big files. */
typedef struct sb {
    char *s;
    size_t len, cap;
} sb_t;

static inline void sb_add(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void sb_add(sb_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        assert_non_null(b->s);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* n times ch (free it). */
static inline char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

#endif
