/* domains/show/store.c - the show tables, rows and start-up load.
 *
 * The show files are the truth for show content; the table keeps which
 * show is loaded and where the transport stood:
 *
 *   show_meta(key PK, value)   -- "loaded": name or NULL
 *                              -- "transport": {"state","t_ms","rate_pm"}
 *
 * A hub that stops while playing (crash, kill -9, power cut) comes back
 * paused at the position of its last durable transport change (where play
 * was pressed or the last jump); a clean shutdown pauses first, so it
 * comes back paused where it stopped (docs/decisions/show-playback.md).
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "domains/show/show_int.h"
#include "engine/intent.h"

static const hub_stmt_t st_meta_put = {"INSERT INTO show_meta(key, value) VALUES(?1, ?2) "
                                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                       2};

const hub_migration_t hub__show_migrations[] = {
    {"CREATE TABLE show_meta(key TEXT PRIMARY KEY, value TEXT)", NULL},
};
const int hub__show_nmigrations = 1;

void show__row_loaded(hub_apply_t *ap, const hub_showdom_t *d)
{
    hub_val_t v[2] = {HUB_VAL_S("loaded", 6),
                      d->loaded ? HUB_VAL_S(d->show.name, strlen(d->show.name)) : HUB_VAL_NONE};
    hub_apply_row(ap, &st_meta_put, "show_meta:loaded", v);
}

void show__row_transport(hub_apply_t *ap, const hub_showdom_t *d)
{
    char text[128];
    static const char *const names[] = {"stopped", "playing", "paused"};
    int n =
        snprintf(text, sizeof(text), "{\"state\":\"%s\",\"t_ms\":%lld,\"rate_pm\":%d,\"at\":%llu}",
                 names[d->tr.state], (long long)(d->tr.t_us / 1000), d->tr.rate_pm,
                 (unsigned long long)d->tr_at);
    hub_val_t v[2] = {HUB_VAL_S("transport", 9), HUB_VAL_S(text, (size_t)n)};
    hub_apply_row(ap, &st_meta_put, "show_meta:transport", v);
}

void show__row_file(hub_showdom_t *d, hub_apply_t *ap, const hub_show_t *s)
{
    char path[4096], key[4200];
    hub_jbuf_t *b = hub_apply_scratch(ap);

    show__path(d, s->name, path, sizeof(path));
    hub_show_render(b, s);
    /* Files are for people too: indented, members in the documented order. */
    json_t *root = json_loadb(b->p, b->len, 0, NULL);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    snprintf(key, sizeof(key), "file:%s", path);
    show__pending_add(d, ap, s->name);
    hub_val_t v[2] = {HUB_VAL_S(path, strlen(path)),
                      text ? HUB_VAL_B(text, strlen(text)) : HUB_VAL_B(b->p, b->len)};
    hub_apply_row(ap, &hub_stmt_file, key, v);
    free(text);
}

void show__row_file_delete(hub_showdom_t *d, hub_apply_t *ap, const char *name)
{
    char path[4096], key[4200];
    show__path(d, name, path, sizeof(path));
    snprintf(key, sizeof(key), "file:%s", path);
    show__pending_add(d, ap, name);
    hub_val_t v[2] = {HUB_VAL_S(path, strlen(path)), HUB_VAL_NONE};
    hub_apply_row(ap, &hub_stmt_file, key, v);
}

/* ---- load ------------------------------------------------------------------------------ */

typedef struct loaded {
    char name[HUB_SHOW_NAME_MAX + 1];
    int has_name;
    char transport[256];
} loaded_t;

static int on_meta(void *ud, const hub_val_t *cols, int ncols)
{
    loaded_t *l = ud;
    if (ncols != 2 || cols[0].type != HUB_VAL_TEXT)
        return 0;
    if (cols[0].n == 6 && memcmp(cols[0].p, "loaded", 6) == 0 && cols[1].type == HUB_VAL_TEXT &&
        cols[1].n <= HUB_SHOW_NAME_MAX) {
        memcpy(l->name, cols[1].p, cols[1].n);
        l->name[cols[1].n] = '\0';
        l->has_name = hub_show_name_valid(l->name, cols[1].n);
    } else if (cols[0].n == 9 && memcmp(cols[0].p, "transport", 9) == 0 &&
               cols[1].type == HUB_VAL_TEXT && cols[1].n < sizeof(l->transport)) {
        memcpy(l->transport, cols[1].p, cols[1].n);
        l->transport[cols[1].n] = '\0';
    }
    return 0;
}

/* The stored transport, as it resumes: playing becomes paused there. */
static void restore_transport(hub_showdom_t *d, const char *text)
{
    json_t *o = json_loads(text, 0, NULL);
    const char *state = json_string_value(json_object_get(o, "state"));
    json_int_t t = json_integer_value(json_object_get(o, "t_ms"));
    json_int_t rate = json_integer_value(json_object_get(o, "rate_pm"));
    json_int_t at = json_integer_value(json_object_get(o, "at"));
    int64_t dur = d->show.duration_ms;

    /* A restart restores the same state: the same "at" too (a client's
     * position for a paused transport does not depend on it). */
    if (at > 0)
        d->tr_at = (uint64_t)at;

    if (state != NULL && strcmp(state, "stopped") != 0 && t >= 0 && t <= dur) {
        d->tr.state = HUB_TRANSPORT_PAUSED;
        d->tr.t_us = (int64_t)t * 1000;
        if (strcmp(state, "playing") == 0)
            hub_log(HUB_LOG_WARN, "show_resumed_paused", "{s:s,s:I}", "show", d->show.name, "t_ms",
                    (json_int_t)t);
    }
    if (rate >= 250 && rate <= 4000)
        d->tr.rate_pm = (int)rate;
    json_decref(o);
}

int show__load(void *ctx, hub_db_t *db, char *err, size_t errlen)
{
    hub_showdom_t *d = ctx;
    loaded_t l = {0};
    hub_error_t jerr;
    json_t *root;
    char file[HUB_SHOW_NAME_MAX + 16], why[512];
    hub_show_patch_t patch = show__patch(d);

    if (db->query(db, "SELECT key, value FROM show_meta", NULL, 0, on_meta, &l, err, errlen) != 0)
        return HUB_ESTORE;
    show__list_free(d->list, d->nlist);
    show__scan(d->dir, d->max_bytes, &patch, 1, &d->list, &d->nlist);
    if (!l.has_name)
        return 0;
    if (show__read_json(d->dir, l.name, d->max_bytes, &root, &jerr) != 0) {
        snprintf(why, sizeof(why), "%s", jerr.msg);
    } else {
        snprintf(file, sizeof(file), "%s%s", l.name, HUB_SHOW_FILE_SUFFIX);
        int rc = hub_show_from_json(root, file, &d->show, why, sizeof(why), NULL, 0);
        json_decref(root);
        if (rc == 0 && strcmp(d->show.name, l.name) != 0) {
            snprintf(why, sizeof(why), "%s: \"name\" is \"%s\" but the file is named for \"%s\"",
                     file, d->show.name, l.name);
            rc = HUB_EINVAL;
        }
        if (rc == 0)
            rc = hub_show_check(&d->show, file, &patch, why, sizeof(why), NULL, 0);
        if (rc == 0) {
            d->loaded = 1;
            restore_transport(d, l.transport);
            show__recompile(d);
            return 0;
        }
        hub_show_free(&d->show);
    }
    /* The hub still starts: the show is unloaded and the operator told why. */
    hub_log(HUB_LOG_WARN, "show_not_restored", "{s:s,s:s}", "show", l.name, "error", why);
    d->load_warning = hub_strdup(why);
    return 0;
}
