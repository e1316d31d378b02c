/* domains/scenes/store.c - runs in SQLite: a row when a run starts and when
 * it ends (the journal holds every step between), the last SCN_RUN_ROWS
 * kept. At start-up the last SCN_ENDED_KEEP come back into the state; a run
 * the hub was running when it stopped is marked interrupted: its clock did
 * not survive, so it is not resumed (docs/decisions/scenes.md).
 */
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "domains/scenes/scenes_int.h"

const hub_migration_t scn__migrations[] = {
    {"CREATE TABLE scene_runs("
     " id TEXT PRIMARY KEY, label TEXT NOT NULL, scene TEXT, room TEXT, status TEXT NOT NULL,"
     " started_at INTEGER NOT NULL, ended_at INTEGER, body TEXT NOT NULL);"
     "CREATE INDEX ix_scene_runs_started ON scene_runs(started_at DESC);",
     NULL},
};
const int scn__nmigrations = 1;

static const hub_stmt_t st_run = {
    "INSERT OR REPLACE INTO scene_runs(id, label, scene, room, status, started_at, ended_at, body)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    8};
static const hub_stmt_t st_trim = {
    "DELETE FROM scene_runs WHERE id IN (SELECT id FROM scene_runs ORDER BY started_at DESC"
    " LIMIT -1 OFFSET 1000)",
    0};

void scn__row_run(hub_apply_t *ap, const scn_run_t *r, const char *text, size_t len)
{
    char key[64];
    snprintf(key, sizeof(key), "scene_runs:%s", r->id);
    hub_val_t v[8] = {
        HUB_VAL_S(r->id, strlen(r->id)),
        HUB_VAL_S(r->label, strlen(r->label)),
        r->def.name[0] ? HUB_VAL_S(r->def.name, strlen(r->def.name)) : HUB_VAL_NONE,
        r->def.room[0] ? HUB_VAL_S(r->def.room, strlen(r->def.room)) : HUB_VAL_NONE,
        HUB_VAL_S(scn_run_status_names[r->status], strlen(scn_run_status_names[r->status])),
        HUB_VAL_I((int64_t)r->started_ms),
        r->ended_ms ? HUB_VAL_I((int64_t)r->ended_ms) : HUB_VAL_NONE,
        HUB_VAL_S(text, len)};
    hub_apply_row(ap, &st_run, key, v);
    if (r->status != SCN_RUN_RUNNING)
        hub_apply_row(ap, &st_trim, "scene_runs:trim", NULL);
}

typedef struct load_ctx {
    hub_scndom_t *d;
    json_t *rows; /* newest first */
} load_ctx_t;

static int on_row(void *ud, const hub_val_t *cols, int ncols)
{
    load_ctx_t *l = ud;
    if (ncols != 2 || cols[0].type != HUB_VAL_TEXT || cols[1].type != HUB_VAL_TEXT)
        return 0;
    json_t *body = json_loadb(cols[1].p, cols[1].n, 0, NULL);
    if (body != NULL)
        json_array_append_new(l->rows, body);
    return 0;
}

/* A run the hub was running when it stopped: interrupted, its waiting
 * actions skipped. */
static int interrupt(hub_db_t *db, json_t *body, char *err, size_t errlen)
{
    size_t i;
    json_t *a;
    json_object_set_new(body, "status", json_string("interrupted"));
    json_array_foreach(json_object_get(body, "actions"), i, a)
    {
        const char *st = json_string_value(json_object_get(a, "status"));
        if (st && (strcmp(st, "pending") == 0 || strcmp(st, "sent") == 0)) {
            json_object_set_new(a, "status", json_string("skipped"));
            json_object_set_new(a, "error",
                                json_string("the hub stopped while the run was running"));
        }
    }
    /* the counts as the actions now say */
    json_t *counts = json_object_get(body, "counts");
    const char *ckey;
    json_t *cval;
    json_object_foreach(counts, ckey, cval)
    {
        json_int_t n = 0;
        json_array_foreach(json_object_get(body, "actions"), i, a)
        {
            const char *st = json_string_value(json_object_get(a, "status"));
            n += st && strcmp(st, ckey) == 0;
        }
        (void)cval;
        json_object_set_new(counts, ckey, json_integer(n));
    }
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *id = json_string_value(json_object_get(body, "id"));
    hub_val_t v[2] = {HUB_VAL_S(text, strlen(text)), HUB_VAL_S(id ? id : "", id ? strlen(id) : 0)};
    int rc = db->query(db, "UPDATE scene_runs SET status = 'interrupted', body = ?1 WHERE id = ?2",
                       v, 2, NULL, NULL, err, errlen);
    free(text);
    return rc;
}

int scn__load(void *ctx, hub_db_t *db, char *err, size_t errlen)
{
    hub_scndom_t *d = ctx;
    load_ctx_t l = {d, json_array()};
    char sql[160];

    snprintf(sql, sizeof(sql), "SELECT id, body FROM scene_runs ORDER BY started_at DESC LIMIT %d",
             SCN_ENDED_KEEP);
    int rc = db->query(db, sql, NULL, 0, on_row, &l, err, errlen);
    for (size_t i = json_array_size(l.rows); rc == 0 && i-- > 0;) {
        json_t *body = json_array_get(l.rows, i);
        const char *st = json_string_value(json_object_get(body, "status"));
        const char *id = json_string_value(json_object_get(body, "id"));
        if (id == NULL || strlen(id) != SCN_RUN_ID_LEN)
            continue;
        if (st && strcmp(st, "running") == 0) {
            rc = interrupt(db, body, err, errlen);
        }
        char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        scn__ended_push(d, id, text, strlen(text), NULL);
        free(text);
    }
    json_decref(l.rows);
    return rc;
}
