/* domains/scenes/files.c - the scenes directory: scanning it, the listed
 * files in memory, and the file rows a save or delete writes.
 *
 * Scene files are the operators' documents (seed 002's scenes): edited by
 * hand or by PUT. A save is a file row of the group commit, written
 * atomically by the store before the change is announced
 * (docs/decisions/files-as-rows.md). A scan runs at start-up and in
 * scene.rescan's prepare step, on the submitter's thread: it touches no
 * domain state.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/mem.h"
#include "domains/scenes/scenes_int.h"
#include "engine/intent.h"

#define SUFFIX_LEN (sizeof(SCN_FILE_SUFFIX) - 1)

void scn__path(const hub_scndom_t *d, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s%s", d->dir, name, SCN_FILE_SUFFIX);
}

static int scene_file_name(const char *f, char name[SCN_NAME_MAX + 1])
{
    size_t n = strlen(f);
    if (f[0] == '.' || n <= SUFFIX_LEN || strcmp(f + n - SUFFIX_LEN, SCN_FILE_SUFFIX) != 0)
        return 0;
    n -= SUFFIX_LEN;
    if (!scn_name_valid(f, n))
        return 0;
    memcpy(name, f, n);
    name[n] = '\0';
    return 1;
}

/* One file as an entry {"name","scene"} or {"name","error"}. */
static json_t *read_entry(const char *dir, const char *name)
{
    char path[4096], why[512], file[SCN_NAME_MAX + 16];
    char *text = NULL;
    size_t len;
    json_error_t jerr;
    hub_error_t err;
    scn_scene_t s;

    snprintf(path, sizeof(path), "%s/%s%s", dir, name, SCN_FILE_SUFFIX);
    snprintf(file, sizeof(file), "%s%s", name, SCN_FILE_SUFFIX);
    json_t *e = json_pack("{s:s}", "name", name);
    int rc = hub_file_read(path, SCN_FILE_MAX, &text, &len, why, sizeof(why));
    if (rc != 0) {
        json_object_set_new(e, "error", json_string(why));
        return e;
    }
    json_t *root = json_loadb(text, len, HUB_JSON_FLAGS, &jerr);
    hub_free(text);
    if (root == NULL) {
        snprintf(why, sizeof(why), "%s: line %d column %d: %s", file, jerr.line, jerr.column,
                 jerr.text);
        json_object_set_new(e, "error", json_string(why));
        return e;
    }
    if (scn_parse(root, name, file, &s, &err) != 0) {
        json_object_set_new(e, "error", json_string(err.msg));
    } else {
        json_object_set(e, "scene", root);
        scn_scene_free(&s);
    }
    json_decref(root);
    return e;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

json_t *scn__scan_json(const char *dir)
{
    json_t *list = json_array();
    DIR *dh = opendir(dir);
    struct dirent *de;
    char name[SCN_NAME_MAX + 1];

    if (dh == NULL)
        return list; /* created at start-up; gone now: nothing listed */
    while ((de = readdir(dh)) != NULL && json_array_size(list) < SCN_SCENES_MAX)
        if (scene_file_name(de->d_name, name))
            json_array_append_new(list, read_entry(dir, name));
    closedir(dh);
    size_t n = json_array_size(list);
    json_t **v = hub_malloc((n ? n : 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(list, i));
    qsort(v, n, sizeof(*v), cmp_entry);
    json_array_clear(list);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, v[i]);
    hub_free(v);
    return list;
}

static void file_free(scn_file_t *f)
{
    if (f == NULL)
        return;
    if (f->ok)
        scn_scene_free(&f->scene);
    hub_free(f->error);
    hub_free(f);
}

scn_file_t *scn__file(const hub_scndom_t *d, const char *name)
{
    size_t lo = 0, hi = d->nfiles;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(d->files[mid]->name, name);
        if (c == 0)
            return d->files[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void insert(hub_scndom_t *d, scn_file_t *f)
{
    size_t i = 0;
    while (i < d->nfiles && strcmp(d->files[i]->name, f->name) < 0)
        i++;
    if (i < d->nfiles && strcmp(d->files[i]->name, f->name) == 0) {
        file_free(d->files[i]);
        d->files[i] = f;
        return;
    }
    d->files = hub_realloc(d->files, (d->nfiles + 1) * sizeof(*d->files));
    memmove(&d->files[i + 1], &d->files[i], (d->nfiles - i) * sizeof(*d->files));
    d->files[i] = f;
    d->nfiles++;
}

void scn__file_put(hub_scndom_t *d, const char *name, scn_scene_t *s)
{
    scn_file_t *f = hub_calloc(1, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->scene = *s;
    f->ok = 1;
    memset(s, 0, sizeof(*s));
    insert(d, f);
}

void scn__file_del(hub_scndom_t *d, const char *name)
{
    for (size_t i = 0; i < d->nfiles; i++)
        if (strcmp(d->files[i]->name, name) == 0) {
            file_free(d->files[i]);
            memmove(&d->files[i], &d->files[i + 1], (d->nfiles - i - 1) * sizeof(*d->files));
            d->nfiles--;
            return;
        }
}

void scn__files_free(hub_scndom_t *d)
{
    for (size_t i = 0; i < d->nfiles; i++)
        file_free(d->files[i]);
    hub_free(d->files);
    d->files = NULL;
    d->nfiles = 0;
}

void scn__files_replace(hub_scndom_t *d, const json_t *entries)
{
    size_t i;
    json_t *e;
    hub_error_t err;
    char file[SCN_NAME_MAX + 16];

    scn__files_free(d);
    json_array_foreach(entries, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        if (name == NULL || !scn_name_valid(name, strlen(name)))
            continue;
        scn_file_t *f = hub_calloc(1, sizeof(*f));
        snprintf(f->name, sizeof(f->name), "%s", name);
        snprintf(file, sizeof(file), "%s%s", name, SCN_FILE_SUFFIX);
        const json_t *scene = json_object_get(e, "scene");
        if (scene != NULL && scn_parse(scene, name, file, &f->scene, &err) == 0) {
            f->ok = 1;
        } else {
            const char *why = json_string_value(json_object_get(e, "error"));
            f->error = hub_strdup(scene != NULL ? err.msg : why ? why : "unreadable");
        }
        insert(d, f);
    }
}

void scn__row_file(hub_apply_t *ap, const hub_scndom_t *d, const scn_scene_t *s)
{
    char path[4096], key[4200];
    hub_jbuf_t *b = hub_apply_scratch(ap);

    scn__path(d, s->name, path, sizeof(path));
    scn_render(b, s);
    /* Files are for people too: indented, members in the documented order. */
    json_t *root = json_loadb(b->p, b->len, 0, NULL);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    snprintf(key, sizeof(key), "file:%s", path);
    hub_val_t v[2] = {HUB_VAL_S(path, strlen(path)),
                      text ? HUB_VAL_B(text, strlen(text)) : HUB_VAL_B(b->p, b->len)};
    hub_apply_row(ap, &hub_stmt_file, key, v);
    free(text);
}

void scn__row_file_delete(hub_apply_t *ap, const hub_scndom_t *d, const char *name)
{
    char path[4096], key[4200];
    scn__path(d, name, path, sizeof(path));
    snprintf(key, sizeof(key), "file:%s", path);
    hub_val_t v[2] = {HUB_VAL_S(path, strlen(path)), HUB_VAL_NONE};
    hub_apply_row(ap, &hub_stmt_file, key, v);
}
