/* domains/scenes/model_media.c - SCENE_MEDIA_COMMAND as an argv.
 *
 * The template is split here, once, and run with execvp: no shell ever sees
 * a media file name, so a name like "a b;rm -rf ~.mp3" is one argument. An
 * operator who wants a shell writes `sh -c '… {file}'` and takes on its
 * quoting; the file names reaching it still pass scn_media_file_valid.
 */
#include "domains/scenes/model.h"

#include <string.h>

#include "core/err.h"
#include "core/mem.h"

#define TMPL_FIELD "SCENE_MEDIA_COMMAND"
#define FILE_TOKEN "{file}"

typedef struct words {
    char **v;
    size_t n, cap;
} words_t;

static void words_push(words_t *w, char *s)
{
    if (w->n + 2 > w->cap) { /* room for the NULL terminator too */
        w->cap = w->cap ? w->cap * 2 : 8;
        w->v = hub_realloc(w->v, w->cap * sizeof(*w->v));
    }
    w->v[w->n++] = s;
    w->v[w->n] = NULL;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

/* word with every {file} replaced by path (heap); *hit set when one was. */
static char *substitute(const char *word, const char *path, int *hit)
{
    hub_jbuf_t b;
    const char *p = word, *t;

    hub_jbuf_init(&b);
    while ((t = strstr(p, FILE_TOKEN)) != NULL) {
        hub_jbuf_raw(&b, p, (size_t)(t - p));
        hub_jbuf_raw(&b, path, strlen(path));
        p = t + strlen(FILE_TOKEN);
        *hit = 1;
    }
    hub_jbuf_raw(&b, p, strlen(p));
    return hub_jbuf_take(&b, NULL);
}

/* Split tmpl into w (unquoted words). 0, or HUB_EINVAL for an unterminated
 * quote (err set). */
static int split(const char *tmpl, words_t *w, hub_error_t *err)
{
    const char *p = tmpl;
    hub_jbuf_t b;

    while (*p) {
        while (is_space(*p))
            p++;
        if (*p == '\0')
            break;
        hub_jbuf_init(&b);
        /* One word: plain runs and quoted runs until unquoted space. */
        while (*p && !is_space(*p)) {
            char q = *p;
            if (q != '"' && q != '\'') {
                hub_jbuf_raw(&b, p++, 1);
                continue;
            }
            const char *open = p++;
            while (*p && *p != q) {
                /* Inside "…" only \" and \\ are escapes, as in a shell; '…' has none. */
                if (q == '"' && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                hub_jbuf_raw(&b, p++, 1);
            }
            if (*p != q) {
                hub_jbuf_free(&b);
                return hub_error_set(err, HUB_ERR_INVALID, TMPL_FIELD,
                                     TMPL_FIELD ": the %c quote at position %zu is not closed", q,
                                     (size_t)(open - tmpl) + 1);
            }
            p++;
        }
        words_push(w, hub_jbuf_take(&b, NULL));
    }
    return 0;
}

int scn_media_argv(const char *tmpl, const char *dir, const char *file, char ***argv,
                   hub_error_t *err)
{
    words_t w = {NULL, 0, 0};
    hub_error_t scratch;
    hub_jbuf_t path;
    int hit = 0, rc;

    if (err == NULL)
        err = &scratch;
    if (!scn_media_file_valid(file))
        return hub_error_set(err, HUB_ERR_INVALID, "file",
                             "the media file is not a plain file name (1-255 bytes, no '/', not "
                             "starting with '.', no control bytes)");
    rc = tmpl ? split(tmpl, &w, err) : 0;
    if (rc == 0 && w.n == 0)
        rc =
            hub_error_set(err, HUB_ERR_INVALID, TMPL_FIELD,
                          TMPL_FIELD " is empty; give a command such as \"mpv --no-video {file}\"");
    if (rc) {
        scn_argv_free(w.v);
        return rc;
    }
    hub_jbuf_init(&path);
    if (dir && *dir) {
        hub_jbuf_raw(&path, dir, strlen(dir));
        if (dir[strlen(dir) - 1] != '/')
            hub_jbuf_lit(&path, "/");
    }
    hub_jbuf_raw(&path, file, strlen(file));
    for (size_t i = 0; i < w.n; i++) {
        char *s = substitute(w.v[i], path.p, &hit);
        hub_free(w.v[i]);
        w.v[i] = s;
    }
    if (!hit)
        words_push(&w, hub_jbuf_take(&path, NULL));
    hub_jbuf_free(&path);
    *argv = w.v;
    return 0;
}

void scn_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (char **p = argv; *p; p++)
        hub_free(*p);
    hub_free(argv);
}
