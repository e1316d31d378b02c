/* domains/show/dir.c - the shows directory: scanning it and reading a file.
 *
 * Runs wherever its caller does: start-up, and the prepare steps of
 * show.load and show.rescan (the submitter's thread), so it touches no
 * domain state.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "domains/show/show_int.h"
#include "engine/intent.h"

#define SUFFIX_LEN (sizeof(HUB_SHOW_FILE_SUFFIX) - 1)

int show__read_json(const char *dir, const char *name, int max_bytes, json_t **out,
                    hub_error_t *err)
{
    char path[4096], why[512];
    char *text;
    size_t len;
    json_error_t jerr;

    *out = NULL;
    snprintf(path, sizeof(path), "%s/%s%s", dir, name, HUB_SHOW_FILE_SUFFIX);
    /* Files the hub saved are indented: up to ~2.5 x the compact body a PUT
     * may send. Read what the hub itself may have written. */
    int rc =
        hub_file_read(path, (size_t)max_bytes * SHOW__FILE_FACTOR, &text, &len, why, sizeof(why));
    if (rc == -ENOENT)
        return hub_error_set(err, HUB_ERR_NOT_FOUND, "name",
                             "no show named \"%s\": %s does not exist (GET /api/v1/shows lists "
                             "the shows)",
                             name, path);
    if (rc != 0)
        return hub_error_set(err, HUB_ERR_INVALID, "name", "%s", why);
    json_t *root = json_loadb(text, len, HUB_JSON_FLAGS, &jerr);
    hub_free(text);
    if (root == NULL)
        return hub_error_set(err, HUB_ERR_INVALID, "name", "%s%s: line %d column %d: %s", name,
                             HUB_SHOW_FILE_SUFFIX, jerr.line, jerr.column, jerr.text);
    *out = root;
    return 0;
}

static int is_show_file(const char *f, char name[HUB_SHOW_NAME_MAX + 1])
{
    size_t n = strlen(f);
    if (f[0] == '.' || n <= SUFFIX_LEN || strcmp(f + n - SUFFIX_LEN, HUB_SHOW_FILE_SUFFIX) != 0)
        return 0;
    n -= SUFFIX_LEN;
    if (!hub_show_name_valid(f, n))
        return 0;
    memcpy(name, f, n);
    name[n] = '\0';
    return 1;
}

/* A temp file an interrupted save left (core/fileio.h): ".<file>.tmp". */
static int is_stale_temp(const char *f)
{
    size_t n = strlen(f);
    return f[0] == '.' && n > 4 && strcmp(f + n - 4, ".tmp") == 0 &&
           strstr(f, HUB_SHOW_FILE_SUFFIX ".tmp") != NULL;
}

static json_t *refs_of(const hub_show_t *s);

static void entry_of_file(const char *dir, const char *name, int max_bytes,
                          const hub_show_patch_t *patch, show__entry_t *e)
{
    hub_error_t jerr;
    json_t *root;
    hub_show_t s;
    char file[HUB_SHOW_NAME_MAX + 16], why[512];

    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    if (show__read_json(dir, name, max_bytes, &root, &jerr) != 0) {
        e->error = hub_strdup(jerr.msg);
        return;
    }
    snprintf(file, sizeof(file), "%s%s", name, HUB_SHOW_FILE_SUFFIX);
    int rc = hub_show_from_json(root, file, &s, why, sizeof(why), NULL, 0);
    json_decref(root);
    if (rc == 0 && strcmp(s.name, name) != 0) {
        snprintf(why, sizeof(why), "%s: \"name\" is \"%s\" but the file is named for \"%s\"", file,
                 s.name, name);
        rc = HUB_EINVAL;
    }
    if (rc == 0 && patch != NULL)
        rc = hub_show_check(&s, file, patch, why, sizeof(why), NULL, 0);
    if (rc == 0) {
        show__entry_of(e, &s);
        if (patch == NULL)
            e->refs = refs_of(&s);
    } else
        e->error = hub_strdup(why);
    hub_show_free(&s);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const show__entry_t *)a)->name, ((const show__entry_t *)b)->name);
}

void show__scan(const char *dir, int max_bytes, const hub_show_patch_t *patch, int clean,
                show__entry_t **out, size_t *n)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    show__entry_t *list = NULL;
    size_t cnt = 0;
    char name[HUB_SHOW_NAME_MAX + 1], path[4096];

    *out = NULL;
    *n = 0;
    if (dp == NULL)
        return;
    while ((de = readdir(dp)) != NULL) {
        if (clean && is_stale_temp(de->d_name)) {
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
            continue;
        }
        if (!is_show_file(de->d_name, name))
            continue;
        list = hub_realloc(list, (cnt + 1) * sizeof(*list));
        entry_of_file(dir, name, max_bytes, patch, &list[cnt++]);
    }
    closedir(dp);
    if (cnt > 1)
        qsort(list, cnt, sizeof(*list), by_name);
    *out = list;
    *n = cnt;
}

/* The distinct fixture and POI names s refers to. */
static json_t *refs_of(const hub_show_t *s)
{
    json_t *fx = json_object(), *pois = json_object();
    for (size_t i = 0; i < s->ncues; i++) {
        for (size_t k = 0; k < s->cues[i].nfixtures; k++)
            json_object_set_new(fx, s->cues[i].fixtures[k], json_true());
        if (s->cues[i].poi[0] != '\0')
            json_object_set_new(pois, s->cues[i].poi, json_true());
    }
    for (size_t i = 0; i < s->neffects; i++)
        for (size_t k = 0; k < s->effects[i].nfixtures; k++)
            json_object_set_new(fx, s->effects[i].fixtures[k], json_true());
    json_t *fl = json_array(), *pl = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(fx, key, v) json_array_append_new(fl, json_string(key));
    json_object_foreach(pois, key, v) json_array_append_new(pl, json_string(key));
    json_decref(fx);
    json_decref(pois);
    return json_pack("{s:o,s:o}", "fixtures", fl, "pois", pl);
}

json_t *show__scan_json(const char *dir, int max_bytes)
{
    show__entry_t *list;
    size_t n;
    json_t *arr = json_array();

    show__scan(dir, max_bytes, NULL, 0, &list, &n); /* a save may be writing its temp file */
    for (size_t i = 0; i < n; i++) {
        const show__entry_t *e = &list[i];
        json_t *o;
        if (e->error != NULL) {
            o = json_pack("{s:s,s:s}", "name", e->name, "error", e->error);
        } else {
            o = json_pack("{s:s,s:I,s:I,s:I,s:s?}", "name", e->name, "duration_ms",
                          (json_int_t)e->duration_ms, "cues", (json_int_t)e->ncues, "effects",
                          (json_int_t)e->neffects, "audio", e->audio[0] ? e->audio : NULL);
            json_object_set_new(o, "refs", e->refs ? json_incref(e->refs) : json_object());
        }
        json_array_append_new(arr, o);
    }
    show__list_free(list, n);
    return arr;
}
