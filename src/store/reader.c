/* store/reader.c - journal queries on a thread and connection of their own.
 *
 * A client that resyncs (WS hello{since}) or pages the journal (GET
 * /api/v1/journal) may read thousands of rows; doing that on the writer
 * would hold up every commit behind it. WAL lets a reader see the last
 * committed state beside the writer, and every seq anyone was told of is
 * committed, so this read-only connection answers those queries. Each
 * result goes back to the loop through the inbox, where the caller's
 * callback runs.
 *
 * Threading: hub__reader_read on the loop thread; the queries on the reader
 * thread; callbacks on the loop thread.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "engine/arena.h"
#include "store/store_int.h"

#define BUSY_TIMEOUT_MS 5000

typedef struct read_job {
    hub_msg_t msg; /* first: posted back to the loop */
    struct read_job *next;
    uint64_t since;
    size_t limit;
    hub_journal_cb cb;
    void *ud;
    hub_journal_page_t *page;
    /* a domain's job instead of a journal page */
    void (*fn)(void *ud, hub_db_t *db);
    void (*done)(void *ud, int rc);
    int rc;
} read_job_t;

struct hub__reader {
    sqlite3 *db;
    sqlite3_stmt *q_rows, *q_oldest;
    hub_inbox_t *inbox;
    pthread_t thread;
    pthread_mutex_t lock; /* guards head, tail, stopping */
    pthread_cond_t cond;
    read_job_t *head, *tail;
    int stopping;
};

static const char *dup_col(hub_arena_t *a, sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (t == NULL)
        return NULL;
    return hub_arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

static void run_query(hub__reader_t *r, read_job_t *j)
{
    hub_journal_page_t *p = hub_calloc(1, sizeof(*p));
    hub_arena_t *a = hub_malloc(sizeof(*a));
    size_t cap = 0;
    int rc;

    hub_arena_init(a);
    p->_mem = a;
    p->since = j->since;
    if (sqlite3_step(r->q_oldest) == SQLITE_ROW)
        p->oldest = (uint64_t)sqlite3_column_int64(r->q_oldest, 0);
    sqlite3_reset(r->q_oldest);
    sqlite3_bind_int64(r->q_rows, 1, (sqlite3_int64)j->since);
    sqlite3_bind_int64(r->q_rows, 2, (sqlite3_int64)j->limit);
    while ((rc = sqlite3_step(r->q_rows)) == SQLITE_ROW) {
        if (p->n == cap) {
            cap = cap ? cap * 2 : 64;
            p->entries = hub_realloc(p->entries, cap * sizeof(*p->entries));
        }
        hub_journal_entry_t *e = &p->entries[p->n++];
        e->seq = (uint64_t)sqlite3_column_int64(r->q_rows, 0);
        e->req_id = dup_col(a, r->q_rows, 1);
        e->src = dup_col(a, r->q_rows, 2);
        e->name = dup_col(a, r->q_rows, 3);
        e->payload = dup_col(a, r->q_rows, 4);
        e->patches = dup_col(a, r->q_rows, 5);
        e->rooms = dup_col(a, r->q_rows, 6);
        e->ts_ms = (uint64_t)sqlite3_column_int64(r->q_rows, 7);
        if (e->req_id == NULL || e->src == NULL || e->name == NULL || e->payload == NULL ||
            e->rooms == NULL) {
            e->req_id = e->req_id ? e->req_id : "";
            e->src = e->src ? e->src : "";
            e->name = e->name ? e->name : "";
            e->payload = e->payload ? e->payload : "{}";
            e->rooms = e->rooms ? e->rooms : "";
        }
    }
    if (rc != SQLITE_DONE) {
        p->rc = HUB_ESTORE;
        hub_log(HUB_LOG_ERROR, "journal_read_failed", "{s:s,s:I}", "error", sqlite3_errmsg(r->db),
                "since", (json_int_t)j->since);
    }
    sqlite3_reset(r->q_rows);
    j->page = p;
}

static void on_read_done(hub_msg_t *msg, void *ud)
{
    read_job_t *j = (read_job_t *)msg;
    (void)ud;
    if (j->fn != NULL)
        j->done(j->ud, j->rc);
    else
        j->cb(j->page, j->ud);
    hub_free(j);
}

static void run_job(hub__reader_t *r, read_job_t *j)
{
    hub__db_t db;
    hub__db_init(&db, r->db);
    /* One snapshot for the whole job: its queries agree with each other. */
    sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);
    j->fn(j->ud, &db.api);
    sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
}

static void *reader_main(void *arg)
{
    hub__reader_t *r = arg;

    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (r->head == NULL && !r->stopping)
            pthread_cond_wait(&r->cond, &r->lock);
        read_job_t *j = r->head;
        if (j == NULL)
            break;
        r->head = j->next;
        if (r->head == NULL)
            r->tail = NULL;
        int stopping = r->stopping;
        pthread_mutex_unlock(&r->lock);
        if (stopping && j->fn != NULL) {
            j->rc = HUB_ESHUTDOWN;
        } else if (stopping) {
            j->page = hub_calloc(1, sizeof(*j->page));
            j->page->rc = HUB_ESHUTDOWN;
            j->page->since = j->since;
        } else if (j->fn != NULL) {
            run_job(r, j);
        } else {
            run_query(r, j);
        }
        j->msg.fn = on_read_done;
        hub_inbox_post(r->inbox, &j->msg);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int hub__reader_new(hub__reader_t **out, const char *path, hub_inbox_t *inbox, char *err,
                    size_t errlen)
{
    hub__reader_t *r = hub_calloc(1, sizeof(*r));
    int rc;

    r->inbox = inbox;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS);
        rc = sqlite3_prepare_v3(r->db,
                                "SELECT seq, req_id, src, name, payload, patches, rooms, ts_ms "
                                "FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                                -1, SQLITE_PREPARE_PERSISTENT, &r->q_rows, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(r->db, "SELECT coalesce(min(seq), 0) FROM journal", -1,
                                SQLITE_PREPARE_PERSISTENT, &r->q_oldest, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s for reading: %s", path,
                 r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
        goto fail;
    }
    rc = pthread_create(&r->thread, NULL, reader_main, r);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the journal reader thread: %s", strerror(rc));
        goto fail;
    }
    *out = r;
    return 0;

fail:
    sqlite3_finalize(r->q_rows);
    sqlite3_finalize(r->q_oldest);
    sqlite3_close(r->db);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    hub_free(r);
    return HUB_ESTORE;
}

static void enqueue(hub__reader_t *r, read_job_t *j);

void hub__reader_job(hub__reader_t *r, void (*fn)(void *ud, hub_db_t *db),
                     void (*done)(void *ud, int rc), void *ud)
{
    read_job_t *j = hub_calloc(1, sizeof(*j));

    j->fn = fn;
    j->done = done;
    j->ud = ud;
    enqueue(r, j);
}

void hub__reader_read(hub__reader_t *r, uint64_t since, size_t limit, hub_journal_cb cb, void *ud)
{
    read_job_t *j = hub_calloc(1, sizeof(*j));

    j->since = since;
    j->limit = limit;
    j->cb = cb;
    j->ud = ud;
    enqueue(r, j);
}

static void enqueue(hub__reader_t *r, read_job_t *j)
{
    pthread_mutex_lock(&r->lock);
    if (r->tail != NULL)
        r->tail->next = j;
    else
        r->head = j;
    r->tail = j;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void hub__reader_free(hub__reader_t *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    sqlite3_finalize(r->q_rows);
    sqlite3_finalize(r->q_oldest);
    sqlite3_close(r->db);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    hub_free(r);
}
