/* store/store_schema.c - the schema: the store's own tables and every
 * domain's, step by step.
 *
 * The store's tables are versioned by PRAGMA user_version:
 *   1  seed 000's layout: state, universe, fixture, journal(cmd_id, r, g, b)
 *   2  the general core: meta(key, value), journal(seq, req_id, src, name,
 *      payload, patches, rooms, ts_ms), domain_schema(domain, version); the
 *      seed-000 journal is converted (its rows become fixture.set_values of
 *      "demo"), its state row becomes meta, and its universe/fixture tables
 *      are renamed legacy_* for the dmx domain's first step to import.
 * A new database runs both, so there is one path. Each domain's tables are
 * versioned in domain_schema and migrated by its own steps (hub_migration_t),
 * one transaction each, then loaded through hub_db_t.
 *
 * Threading: the thread that opens the store, before it starts.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store_int.h"

#define SCHEMA_VERSION 2

int hub__exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* The single integer a PRAGMA or count query returns; -1 on error. */
int64_t hub__query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static const char *const migration_v1 =
    "CREATE TABLE state(id INTEGER PRIMARY KEY CHECK(id = 1), seq INTEGER, ts_ms INTEGER);"
    "CREATE TABLE universe(id INTEGER PRIMARY KEY, slots BLOB NOT NULL);"
    "CREATE TABLE fixture(name TEXT PRIMARY KEY, universe INTEGER, channel INTEGER,"
    " nchannels INTEGER);"
    "CREATE TABLE journal(seq INTEGER PRIMARY KEY, cmd_id TEXT NOT NULL, src TEXT NOT NULL,"
    " r INTEGER, g INTEGER, b INTEGER, ts_ms INTEGER NOT NULL);";

static const char *const migration_v2 =
    "ALTER TABLE journal RENAME TO journal_v1;"
    "CREATE TABLE journal(seq INTEGER PRIMARY KEY, req_id TEXT NOT NULL, src TEXT NOT NULL,"
    " name TEXT NOT NULL, payload TEXT NOT NULL, patches TEXT, rooms TEXT NOT NULL DEFAULT '',"
    " ts_ms INTEGER NOT NULL);"
    "INSERT INTO journal(seq, req_id, src, name, payload, patches, rooms, ts_ms)"
    " SELECT seq, cmd_id, src, 'fixture.set_values',"
    " '{\"fixture\":\"demo\",\"values\":{\"red\":' || r || ',\"green\":' || g ||"
    " ',\"blue\":' || b || '}}', NULL, 'dmx', ts_ms FROM journal_v1;"
    "DROP TABLE journal_v1;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
    "INSERT INTO meta(key, value) SELECT 'seq', seq FROM state WHERE id = 1;"
    "INSERT INTO meta(key, value) SELECT 'ts_ms', ts_ms FROM state WHERE id = 1;"
    "DROP TABLE state;"
    "ALTER TABLE universe RENAME TO legacy_universe;"
    "ALTER TABLE fixture RENAME TO legacy_fixture;"
    "CREATE TABLE domain_schema(domain TEXT PRIMARY KEY, version INTEGER NOT NULL);";

static const char *const migrations[SCHEMA_VERSION + 1] = {
    [1] = migration_v1,
    [2] = migration_v2,
};

int hub__store_migrate(hub_store_t *s, char *err, size_t errlen)
{
    int64_t version = hub__query_int(s->db, "PRAGMA user_version");

    if (version < 0) {
        snprintf(err, errlen, "cannot read the schema version of %s: %s", s->path,
                 sqlite3_errmsg(s->db));
        return HUB_ESTORE;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "%s: database schema version %lld is newer than this showhub supports (%d); "
                 "upgrade showhub or use another DMX_DATA_DIR",
                 s->path, (long long)version, SCHEMA_VERSION);
        return HUB_ESTORE;
    }
    if (version == 0 && hub__query_int(s->db, "SELECT count(*) FROM sqlite_master") > 0) {
        /* Someone else's SQLite file: creating our tables in it would mix data. */
        snprintf(err, errlen,
                 "%s is an SQLite database but not a showhub one (user_version 0 with "
                 "tables); move it away or use another DMX_DATA_DIR",
                 s->path);
        return HUB_ESTORE;
    }
    for (int64_t v = version + 1; v <= SCHEMA_VERSION; v++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)v);
        if (hub__exec(s->db, "BEGIN IMMEDIATE") != SQLITE_OK ||
            hub__exec(s->db, migrations[v]) != SQLITE_OK || hub__exec(s->db, sql) != SQLITE_OK ||
            hub__exec(s->db, "COMMIT") != SQLITE_OK) {
            snprintf(err, errlen, "cannot migrate %s to schema version %lld: %s", s->path,
                     (long long)v, sqlite3_errmsg(s->db));
            if (!sqlite3_get_autocommit(s->db))
                hub__exec(s->db, "ROLLBACK");
            return HUB_ESTORE;
        }
        if (version > 0) /* an existing database moved forward: worth a line */
            hub_log(HUB_LOG_INFO, "store_migrated", "{s:s,s:I}", "path", s->path, "version",
                    (json_int_t)v);
    }
    return 0;
}

/* ---- hub_db_t: what a domain's schema steps and load see ------------------------ */

static int db_exec(hub_db_t *db, const char *sql, char *err, size_t errlen)
{
    sqlite3 *sq = ((hub__db_t *)db)->sq;
    if (hub__exec(sq, sql) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "%s", sqlite3_errmsg(sq));
    return HUB_ESTORE;
}

static void bind_val(sqlite3_stmt *st, int i, const hub_val_t *v)
{
    switch (v->type) {
    case HUB_VAL_INT: sqlite3_bind_int64(st, i, v->i); break;
    case HUB_VAL_TEXT: sqlite3_bind_text(st, i, v->p, (int)v->n, SQLITE_STATIC); break;
    case HUB_VAL_BLOB: sqlite3_bind_blob(st, i, v->p, (int)v->n, SQLITE_STATIC); break;
    default: sqlite3_bind_null(st, i); break;
    }
}

static int db_query(hub_db_t *db, const char *sql, const hub_val_t *binds, int nbinds,
                    hub_db_row_fn row, void *ud, char *err, size_t errlen)
{
    sqlite3 *sq = ((hub__db_t *)db)->sq;
    sqlite3_stmt *st;
    hub_val_t cols[32];
    int rc;

    if (sqlite3_prepare_v2(sq, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(sq));
        return HUB_ESTORE;
    }
    for (int i = 0; i < nbinds; i++)
        bind_val(st, i + 1, &binds[i]);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int n = sqlite3_column_count(st);
        if (n > 32)
            n = 32;
        for (int i = 0; i < n; i++) {
            memset(&cols[i], 0, sizeof(cols[i]));
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                cols[i].type = HUB_VAL_INT;
                cols[i].i = sqlite3_column_int64(st, i);
                break;
            case SQLITE_TEXT:
                cols[i].type = HUB_VAL_TEXT;
                cols[i].p = sqlite3_column_text(st, i);
                cols[i].n = (size_t)sqlite3_column_bytes(st, i);
                break;
            case SQLITE_BLOB:
                cols[i].type = HUB_VAL_BLOB;
                cols[i].p = sqlite3_column_blob(st, i);
                cols[i].n = (size_t)sqlite3_column_bytes(st, i);
                break;
            case SQLITE_FLOAT:
                cols[i].type = HUB_VAL_INT; /* our tables hold no reals */
                cols[i].i = (int64_t)sqlite3_column_double(st, i);
                break;
            default: cols[i].type = HUB_VAL_NULL; break;
            }
        }
        if (row != NULL && row(ud, cols, n) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(sq));
        sqlite3_finalize(st);
        return HUB_ESTORE;
    }
    sqlite3_finalize(st);
    return 0;
}

static int db_has_table(hub_db_t *db, const char *name)
{
    sqlite3 *sq = ((hub__db_t *)db)->sq;
    sqlite3_stmt *st;
    int found = 0;

    if (sqlite3_prepare_v2(sq, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

void hub__db_init(hub__db_t *db, sqlite3 *sq)
{
    db->api.exec = db_exec;
    db->api.query = db_query;
    db->api.has_table = db_has_table;
    db->sq = sq;
}

static int64_t domain_version(hub_store_t *s, const char *name)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(s->db, "SELECT version FROM domain_schema WHERE domain = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        v = 0;
    sqlite3_finalize(st);
    return v;
}

int hub__store_attach(hub_store_t *s, const hub_domain_def_t *def, void *ctx, char *err,
                      size_t errlen)
{
    hub__db_t db;
    hub__db_init(&db, s->db);
    char why[256] = "";
    int64_t version = domain_version(s, def->name);

    if (version < 0) {
        snprintf(err, errlen, "cannot read the schema version of domain %s in %s: %s", def->name,
                 s->path, sqlite3_errmsg(s->db));
        return HUB_ESTORE;
    }
    if (version > def->nmigrations) {
        snprintf(err, errlen,
                 "the %s tables in %s are at schema version %lld, newer than this showhub "
                 "supports (%d); upgrade showhub or use another DMX_DATA_DIR",
                 def->name, s->path, (long long)version, def->nmigrations);
        return HUB_ESTORE;
    }
    for (int64_t v = version + 1; v <= def->nmigrations; v++) {
        const hub_migration_t *m = &def->migrations[v - 1];
        char sql[160];
        int rc = hub__exec(s->db, "BEGIN IMMEDIATE") == SQLITE_OK ? 0 : HUB_ESTORE;
        if (rc == 0 && m->sql != NULL)
            rc = db_exec(&db.api, m->sql, why, sizeof(why));
        if (rc == 0 && m->fn != NULL)
            rc = m->fn(ctx, &db.api, why, sizeof(why));
        snprintf(sql, sizeof(sql),
                 "INSERT INTO domain_schema(domain, version) VALUES('%s', %lld) ON CONFLICT(domain)"
                 " DO UPDATE SET version = excluded.version",
                 def->name, (long long)v);
        if (rc == 0 && hub__exec(s->db, sql) != SQLITE_OK)
            rc = HUB_ESTORE;
        if (rc == 0 && hub__exec(s->db, "COMMIT") != SQLITE_OK)
            rc = HUB_ESTORE;
        if (rc != 0) {
            snprintf(err, errlen, "cannot migrate the %s tables of %s to version %lld: %s",
                     def->name, s->path, (long long)v, why[0] ? why : sqlite3_errmsg(s->db));
            if (!sqlite3_get_autocommit(s->db))
                hub__exec(s->db, "ROLLBACK");
            return HUB_ESTORE;
        }
    }
    if (def->load != NULL && def->load(ctx, &db.api, why, sizeof(why)) != 0) {
        snprintf(err, errlen,
                 "cannot read the %s state from %s: %s; move the file away to start fresh",
                 def->name, s->path, why);
        return HUB_ESTORE;
    }
    return 0;
}
