/* engine/rows.h - how a domain talks to the store without knowing it.
 *
 * A domain owns tables (created and migrated by its own schema steps) and
 * hands the store rows to write inside the group commit: a row is one
 * prepared statement (hub_stmt_t, static in the domain) with its bound
 * values. The store prepares each statement once and knows no table. At
 * start-up a domain reads its tables through hub_db_t, a synchronous handle
 * the store lends it before its writer thread starts.
 */
#ifndef HUB_ENGINE_ROWS_H
#define HUB_ENGINE_ROWS_H

#include <stddef.h>
#include <stdint.h>

enum { HUB_VAL_NULL = 0, HUB_VAL_INT, HUB_VAL_TEXT, HUB_VAL_BLOB };

typedef struct hub_val {
    int type; /* HUB_VAL_* */
    int64_t i;
    const void *p; /* text (UTF-8) or blob; not NUL-terminated necessarily */
    size_t n;
} hub_val_t;

#define HUB_VAL_I(v)      ((hub_val_t){.type = HUB_VAL_INT, .i = (v)})
#define HUB_VAL_S(s, len) ((hub_val_t){.type = HUB_VAL_TEXT, .p = (s), .n = (len)})
#define HUB_VAL_B(b, len) ((hub_val_t){.type = HUB_VAL_BLOB, .p = (b), .n = (len)})
#define HUB_VAL_NONE      ((hub_val_t){.type = HUB_VAL_NULL})

/* A statement a domain writes with. Static storage: the store caches its
 * prepared form by address. nparams: values every row binds (?1..?n). */
typedef struct hub_stmt {
    const char *sql;
    int nparams;
} hub_stmt_t;

/* One row of a batch: stmt with its values. key ("table:pk") lets a later
 * row of the same key in the same batch replace it (an upsert followed by a
 * delete of the same fixture writes only the delete); NULL: never replaced. */
typedef struct hub_row {
    const hub_stmt_t *stmt;
    const char *key;
    const hub_val_t *vals; /* stmt->nparams of them */
} hub_row_t;

/* A file the store writes in the group commit, before the transaction
 * commits (core/fileio.h: temp file, fsync, rename, fsync of the
 * directory), so a file a domain owns (a show file) is durable before the
 * change that wrote it is announced. Rows of this statement bind ?1 the
 * path (text) and ?2 the bytes (blob), or NULL to remove the file; key
 * "file:<path>" lets a later write of the same file in a batch replace an
 * earlier one. */
extern const hub_stmt_t hub_stmt_file;

/* The store, as a domain's schema and load steps see it (synchronous, on the
 * thread that opens the store). err gets SQLite's message on failure. */
typedef struct hub_db hub_db_t;
typedef int (*hub_db_row_fn)(void *ud, const hub_val_t *cols, int ncols);
struct hub_db {
    /* Run one or more statements. 0 or HUB_ESTORE. */
    int (*exec)(hub_db_t *db, const char *sql, char *err, size_t errlen);
    /* Run a query with binds; row() is called per row (return non-zero to
     * stop early) with at most 32 columns. 0 or HUB_ESTORE. */
    int (*query)(hub_db_t *db, const char *sql, const hub_val_t *binds, int nbinds,
                 hub_db_row_fn row, void *ud, char *err, size_t errlen);
    /* 1 if a table of that name exists. */
    int (*has_table)(hub_db_t *db, const char *name);
};

/* Reads a domain runs while the hub runs (rows too many to keep in memory,
 * such as device logs): fn(ud, db) on the store's reader thread, on a
 * read-only connection that sees every committed batch, then done(ud, rc)
 * on the loop thread (rc HUB_ESHUTDOWN: the store stopped; fn did not run). */
typedef struct hub_db_reader {
    void (*run)(void *rctx, void (*fn)(void *ud, hub_db_t *db), void (*done)(void *ud, int rc),
                void *ud);
    void *rctx;
} hub_db_reader_t;

/* One schema step of a domain: version N is migrations[N-1]. Either sql
 * (run as is) or fn (for steps that need logic, e.g. importing an older
 * layout), run in one transaction with the version bump. */
typedef struct hub_migration {
    const char *sql;
    int (*fn)(void *ctx, hub_db_t *db, char *err, size_t errlen);
} hub_migration_t;

#endif
