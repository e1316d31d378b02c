/* domains/dmx/store.c - the dmx tables: schema steps, rows, start-up load.
 *
 * The patch (fixture definitions, universes, POIs) is the patch file's, read
 * at every start; the tables hold what operators changed: each fixture's arm
 * state and manual values (by role name, so a re-patched fixture keeps the
 * values of the roles it still has), raw channels and blackout.
 *
 *   dmx_fixture(name PK, armed, vals JSON {role: 0-255|null}, seq, ts_ms)
 *   dmx_channels(universe PK, vals BLOB[512], mask BLOB[512])
 *   dmx_meta(key PK, value)            -- "blackout": 0/1
 *
 * Version 1 also imports a seed-000 database (its universe/fixture tables,
 * renamed legacy_* by the store's own migration): the demo fixture's red,
 * green and blue, with the state's seq and ts.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "domains/dmx/dmx_int.h"

static const hub_stmt_t st_fixture_put = {
    "INSERT INTO dmx_fixture(name, armed, vals, seq, ts_ms) VALUES(?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT(name) DO UPDATE SET armed = excluded.armed, vals = excluded.vals, "
    "seq = excluded.seq, ts_ms = excluded.ts_ms",
    5};
static const hub_stmt_t st_fixture_del = {"DELETE FROM dmx_fixture WHERE name = ?1", 1};
static const hub_stmt_t st_channels_put = {
    "INSERT INTO dmx_channels(universe, vals, mask) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(universe) DO UPDATE SET vals = excluded.vals, mask = excluded.mask",
    3};
static const hub_stmt_t st_channels_del = {"DELETE FROM dmx_channels WHERE universe = ?1", 1};
static const hub_stmt_t st_meta_put = {"INSERT INTO dmx_meta(key, value) VALUES(?1, ?2) "
                                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                       2};

/* ---- rows --------------------------------------------------------------------- */

void dmx__row_fixture(hub_apply_t *ap, const dmx__fixture_t *f)
{
    char key[96];
    hub_jbuf_t *b = hub_apply_scratch(ap);

    dmx__render_values(b, f);
    hub_val_t v[5] = {HUB_VAL_S(f->def.name, strlen(f->def.name)), HUB_VAL_I(f->armed),
                      HUB_VAL_S(b->p, b->len), HUB_VAL_I((int64_t)f->seq),
                      HUB_VAL_I((int64_t)f->ts_ms)};
    hub_str_join(key, sizeof(key), "dmx_fixture:", f->def.name, NULL);
    hub_apply_row(ap, &st_fixture_put, key, v);
}

void dmx__row_fixture_delete(hub_apply_t *ap, const char *name)
{
    char key[96];
    hub_val_t v[1] = {HUB_VAL_S(name, strlen(name))};
    hub_str_join(key, sizeof(key), "dmx_fixture:", name, NULL);
    hub_apply_row(ap, &st_fixture_del, key, v);
}

void dmx__row_channels(hub_apply_t *ap, const dmx__channels_t *c)
{
    char key[48];
    hub_val_t v[3] = {HUB_VAL_I(c->universe), HUB_VAL_B(c->val, HUB_DMX_SLOTS),
                      HUB_VAL_B(c->set, HUB_DMX_SLOTS)};
    snprintf(key, sizeof(key), "dmx_channels:%d", c->universe);
    hub_apply_row(ap, &st_channels_put, key, v);
}

void dmx__row_channels_delete(hub_apply_t *ap, int universe)
{
    char key[48];
    hub_val_t v[1] = {HUB_VAL_I(universe)};
    snprintf(key, sizeof(key), "dmx_channels:%d", universe);
    hub_apply_row(ap, &st_channels_del, key, v);
}

void dmx__row_blackout(hub_apply_t *ap, int on)
{
    hub_val_t v[2] = {HUB_VAL_S("blackout", 8), HUB_VAL_I(on)};
    hub_apply_row(ap, &st_meta_put, "dmx_meta:blackout", v);
}

void dmx__row_patch(hub_apply_t *ap, const dmx__state_t *work, int demo_universe)
{
    hub_jbuf_t *b = hub_apply_scratch(ap);
    dmx__render_patch(b, work, demo_universe);
    hub_val_t v[2] = {HUB_VAL_S("patch", 5), HUB_VAL_S(b->p, b->len)};
    hub_apply_row(ap, &st_meta_put, "dmx_meta:patch", v);
}

/* ---- schema -------------------------------------------------------------------- */

struct legacy {
    int universe, channel;
    int have;
    unsigned char rgb[3];
    int64_t seq, ts;
};

static int legacy_demo_row(void *ud, const hub_val_t *cols, int ncols)
{
    struct legacy *l = ud;
    const unsigned char *slots = cols[2].p;
    if (ncols < 3 || cols[2].type != HUB_VAL_BLOB || cols[2].n != HUB_DMX_SLOTS)
        return 0;
    int ch = (int)cols[1].i;
    if (ch < 1 || ch + 2 > HUB_DMX_SLOTS)
        return 0;
    memcpy(l->rgb, slots + ch - 1, 3);
    l->have = 1;
    return 1;
}

static int meta_row(void *ud, const hub_val_t *cols, int ncols)
{
    struct legacy *l = ud;
    if (ncols >= 2 && cols[0].type == HUB_VAL_TEXT && cols[1].type == HUB_VAL_INT) {
        if (cols[0].n == 3 && memcmp(cols[0].p, "seq", 3) == 0)
            l->seq = cols[1].i;
        else if (cols[0].n == 5 && memcmp(cols[0].p, "ts_ms", 5) == 0)
            l->ts = cols[1].i;
    }
    return 0;
}

static int migrate_v1(void *ctx, hub_db_t *db, char *err, size_t errlen)
{
    static const char *const create =
        "CREATE TABLE dmx_fixture(name TEXT PRIMARY KEY, armed INTEGER NOT NULL,"
        " vals TEXT NOT NULL, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL);"
        "CREATE TABLE dmx_channels(universe INTEGER PRIMARY KEY, vals BLOB NOT NULL,"
        " mask BLOB NOT NULL);"
        "CREATE TABLE dmx_meta(key TEXT PRIMARY KEY, value);";
    struct legacy l;
    char sql[256];
    int rc;

    (void)ctx;
    rc = db->exec(db, create, err, errlen);
    if (rc != 0 || !db->has_table(db, "legacy_fixture") || !db->has_table(db, "legacy_universe"))
        return rc;
    memset(&l, 0, sizeof(l));
    rc = db->query(db,
                   "SELECT f.universe, f.channel, u.slots FROM legacy_fixture f "
                   "JOIN legacy_universe u ON u.id = f.universe WHERE f.name = 'demo'",
                   NULL, 0, legacy_demo_row, &l, err, errlen);
    if (rc == 0 && db->has_table(db, "meta"))
        rc = db->query(db, "SELECT key, value FROM meta", NULL, 0, meta_row, &l, err, errlen);
    if (rc == 0 && l.have) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO dmx_fixture(name, armed, vals, seq, ts_ms) VALUES('demo', 1, "
                 "'{\"red\":%u,\"green\":%u,\"blue\":%u}', %lld, %lld)",
                 l.rgb[0], l.rgb[1], l.rgb[2], (long long)l.seq, (long long)l.ts);
        rc = db->exec(db, sql, err, errlen);
        hub_log(HUB_LOG_INFO, "dmx_imported_seed000", "{s:i,s:i,s:i,s:I}", "r", l.rgb[0], "g",
                l.rgb[1], "b", l.rgb[2], "seq", (json_int_t)l.seq);
    }
    if (rc == 0)
        rc = db->exec(db, "DROP TABLE legacy_fixture; DROP TABLE legacy_universe;", err, errlen);
    return rc;
}

const hub_migration_t hub__dmx_migrations[] = {
    {NULL, migrate_v1},
};
const int hub__dmx_nmigrations = 1;

/* ---- load ---------------------------------------------------------------------- */

struct load {
    hub_dmx_t *d;
    char **stale; /* fixture rows not in the patch */
    size_t nstale;
    int *stale_u; /* channel rows of universes not in the patch */
    size_t nstale_u;
};

static int fixture_row(void *ud, const hub_val_t *cols, int ncols)
{
    struct load *ld = ud;
    char name[HUB_DMX_NAME_MAX + 1];
    json_t *vals;
    const char *role;
    json_t *v;

    if (ncols < 5 || cols[0].type != HUB_VAL_TEXT || cols[0].n > HUB_DMX_NAME_MAX)
        return 0;
    memcpy(name, cols[0].p, cols[0].n);
    name[cols[0].n] = '\0';
    dmx__fixture_t *f = dmx__state_fixture(&ld->d->work, name);
    if (f == NULL) {
        ld->stale = hub_realloc(ld->stale, (ld->nstale + 1) * sizeof(*ld->stale));
        ld->stale[ld->nstale++] = hub_strdup(name);
        return 0;
    }
    f->armed = cols[1].i != 0;
    f->seq = (uint64_t)cols[3].i;
    f->ts_ms = (uint64_t)cols[4].i;
    if (cols[2].type != HUB_VAL_TEXT)
        return 0;
    vals = json_loadb(cols[2].p, cols[2].n, 0, NULL);
    if (!json_is_object(vals)) {
        hub_log(HUB_LOG_WARN, "dmx_bad_row", "{s:s,s:s}", "fixture", name, "action",
                "values ignored");
        json_decref(vals);
        return 0;
    }
    json_object_foreach(vals, role, v)
    {
        int r = hub_dmx_role_parse(role, strlen(role));
        int c = r >= 0 ? hub_patch_role_channel(&f->def, r) : -1;
        if (c < 0 || !json_is_integer(v))
            continue; /* a role the fixture no longer has, or released */
        json_int_t n = json_integer_value(v);
        f->val[c] = (uint8_t)(n < 0 ? 0 : n > 255 ? 255 : n);
        f->set[c] = 1;
    }
    json_decref(vals);
    return 0;
}

static int channels_row(void *ud, const hub_val_t *cols, int ncols)
{
    struct load *ld = ud;
    dmx__state_t *w = &ld->d->work;
    long ui;

    if (ncols < 3 || cols[0].type != HUB_VAL_INT)
        return 0;
    ui = dmx__state_universe_index(w, (int)cols[0].i);
    if (ui < 0) {
        ld->stale_u = hub_realloc(ld->stale_u, (ld->nstale_u + 1) * sizeof(int));
        ld->stale_u[ld->nstale_u++] = (int)cols[0].i;
        return 0;
    }
    if (cols[1].type != HUB_VAL_BLOB || cols[1].n != HUB_DMX_SLOTS ||
        cols[2].type != HUB_VAL_BLOB || cols[2].n != HUB_DMX_SLOTS)
        return 0;
    const uint8_t *val = cols[1].p, *set = cols[2].p;
    for (int s = 0; s < HUB_DMX_SLOTS; s++)
        if (set[s] && dmx__state_owner(w, (size_t)ui, s + 1) == NULL) {
            w->chans[ui].val[s] = val[s];
            w->chans[ui].set[s] = 1;
        }
    return 0;
}

static int blackout_row(void *ud, const hub_val_t *cols, int ncols)
{
    struct load *ld = ud;
    if (ncols >= 1 && cols[0].type == HUB_VAL_INT)
        ld->d->work.blackout = cols[0].i != 0;
    return 0;
}

static int text_row(void *ud, const hub_val_t *cols, int ncols)
{
    char **out = ud;
    if (ncols >= 1 && cols[0].type == HUB_VAL_TEXT && *out == NULL)
        *out = hub_strndup(cols[0].p, cols[0].n);
    return 0;
}

/* The state was saved with the patch in dmx_meta 'patch'. When the file now
 * says otherwise, load the state with the stored patch (what clients last
 * saw) and let the file's arrive as a reload at start: journaled, with its
 * patches and a seq, so hello{since} resyncs. With no stored patch (a new
 * data dir) the file's is stored as it is. */
static int stored_patch(hub_dmx_t *d, hub_db_t *db, char *err, size_t errlen)
{
    static const char *const put = "INSERT INTO dmx_meta(key, value) VALUES('patch', ?1) "
                                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value";
    char *text = NULL, perr[256];
    hub_jbuf_t now, was;
    hub_patch_t sp;
    json_t *root;
    int rc;

    rc = db->query(db, "SELECT value FROM dmx_meta WHERE key = 'patch'", NULL, 0, text_row, &text,
                   err, errlen);
    if (rc != 0)
        return rc;
    hub_jbuf_init(&now);
    dmx__render_patch(&now, &d->work, d->cfg.demo_universe);
    root = text ? json_loads(text, 0, NULL) : NULL;
    const json_t *du = json_object_get(root, "demo_universe");
    if (root != NULL && json_is_integer(du) &&
        hub_patch_from_json(json_object_get(root, "patch"), "the stored patch",
                            (int)json_integer_value(du), &sp, perr, sizeof(perr)) == 0) {
        dmx__state_t st;
        dmx__state_init(&st);
        dmx__state_set_patch(&st, &sp);
        hub_jbuf_init(&was);
        dmx__render_patch(&was, &st, (int)json_integer_value(du));
        if (was.len != now.len || memcmp(was.p, now.p, now.len) != 0) {
            dmx__state_set_patch(&d->work, &sp);
            d->patch_changed = 1;
            hub_log(HUB_LOG_INFO, "dmx_patch_changed", "{s:s,s:s}", "file", d->file, "action",
                    "applied as dmx.reload_fixtures at start");
        }
        hub_jbuf_free(&was);
        dmx__state_free(&st);
        hub_patch_free(&sp);
    } else {
        if (text != NULL)
            hub_log(HUB_LOG_WARN, "dmx_bad_row", "{s:s,s:s}", "row", "dmx_meta patch", "action",
                    "replaced by the patch file's");
        hub_val_t v = HUB_VAL_S(now.p, now.len);
        rc = db->query(db, put, &v, 1, NULL, NULL, err, errlen);
    }
    json_decref(root);
    hub_free(text);
    hub_jbuf_free(&now);
    return rc;
}

int dmx__load(void *ctx, hub_db_t *db, char *err, size_t errlen)
{
    hub_dmx_t *d = ctx;
    struct load ld = {d, NULL, 0, NULL, 0};
    int rc;

    rc = stored_patch(d, db, err, errlen);
    if (rc == 0)
        rc = db->query(db, "SELECT name, armed, vals, seq, ts_ms FROM dmx_fixture", NULL, 0,
                       fixture_row, &ld, err, errlen);
    if (rc == 0)
        rc = db->query(db, "SELECT universe, vals, mask FROM dmx_channels", NULL, 0, channels_row,
                       &ld, err, errlen);
    if (rc == 0)
        rc = db->query(db, "SELECT value FROM dmx_meta WHERE key = 'blackout'", NULL, 0,
                       blackout_row, &ld, err, errlen);
    /* Rows of fixtures and universes the patch file no longer has. */
    for (size_t i = 0; rc == 0 && i < ld.nstale; i++) {
        hub_val_t v = HUB_VAL_S(ld.stale[i], strlen(ld.stale[i]));
        rc = db->query(db, "DELETE FROM dmx_fixture WHERE name = ?1", &v, 1, NULL, NULL, err,
                       errlen);
    }
    for (size_t i = 0; rc == 0 && i < ld.nstale_u; i++) {
        hub_val_t v = HUB_VAL_I(ld.stale_u[i]);
        rc = db->query(db, "DELETE FROM dmx_channels WHERE universe = ?1", &v, 1, NULL, NULL, err,
                       errlen);
    }
    if (ld.nstale > 0 || ld.nstale_u > 0)
        hub_log(HUB_LOG_INFO, "dmx_dropped_rows", "{s:I,s:I,s:s}", "fixtures",
                (json_int_t)ld.nstale, "universes", (json_int_t)ld.nstale_u, "why",
                "no longer in the patch file");
    for (size_t i = 0; i < ld.nstale; i++)
        hub_free(ld.stale[i]);
    hub_free(ld.stale);
    hub_free(ld.stale_u);
    dmx__state_copy(&d->pub, &d->work);
    return rc;
}
