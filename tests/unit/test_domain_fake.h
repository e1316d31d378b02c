/* tests/unit/test_domain_fake.h - two small domains for engine tests.
 *
 * Header-only (static), included by tests/unit/test_engine.c. Both follow
 * engine/domain.h the way a real domain must: apply validates first, then
 * changes the working state and reports whole entities as changes plus the
 * rows the store writes; announce only ever looks at the changes it is given
 * (the working state may already be ahead of what is durable).
 *
 * "counter" (roots "counter" and "tally", frame room "counter.live"):
 *   counter.add {name, n}  -> counter.items.<name> = {"name":…,"total":T}
 *                             (native: fake_counter_native_t) and
 *                             tally.sum = S (the sum of all totals);
 *                             rows: counter_put (key "counter:<name>") and
 *                             counter_log (no key: seq, name, n).
 *                             prepare: {name, n_text:"5"} -> {name, n:5}.
 *   counter.reset {name}   -> counter.items.<name> = null, tally.sum;
 *                             row counter_del (key "counter:<name>").
 *   counter.fail {}        -> always refused (conflict).
 *   announce: retained MQTT test/counter/<name> = the item (an empty
 *   payload when it is gone), MQTT test/tally (not retained), view
 *   "counter.last", a frame to room "counter.live", an event on reset.
 *
 * "notes" (root "notes", the default: its name):
 *   notes.put {id, text}   -> notes.<id> = {"text":…}; row note_put (key "note:<id>").
 *   notes.del {id}         -> notes.<id> = null; row note_del (same key);
 *                             not_found when absent.
 *   announce: keeps its own announced set and the view "notes.count".
 *
 * Contract checks made inside the hooks are counted in errors (why: the
 * first); the test asserts them.
 */
#ifndef HUB_TEST_DOMAIN_FAKE_H
#define HUB_TEST_DOMAIN_FAKE_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/jbuf.h"
#include "engine/domain.h"
#include "engine/intent.h"
#include "engine/rows.h"

#define FAKE_MAX_ITEMS 512
#define FAKE_NAME_MAX  15
#define FAKE_TEXT_MAX  63

static const hub_stmt_t fake_st_counter_put = {
    "INSERT OR REPLACE INTO counter(name,total) VALUES(?1,?2)", 2};
static const hub_stmt_t fake_st_counter_del = {"DELETE FROM counter WHERE name = ?1", 1};
static const hub_stmt_t fake_st_counter_log = {
    "INSERT INTO counter_log(seq,name,n) VALUES(?1,?2,?3)", 3};
static const hub_stmt_t fake_st_note_put = {"INSERT OR REPLACE INTO note(id,text) VALUES(?1,?2)",
                                            2};
static const hub_stmt_t fake_st_note_del = {"DELETE FROM note WHERE id = ?1", 1};

/* A short name for a statement, for row texts in assertions. */
static inline const char *fake_stmt_name(const hub_stmt_t *s)
{
    if (s == &fake_st_counter_put)
        return "counter_put";
    if (s == &fake_st_counter_del)
        return "counter_del";
    if (s == &fake_st_counter_log)
        return "counter_log";
    if (s == &fake_st_note_put)
        return "note_put";
    if (s == &fake_st_note_del)
        return "note_del";
    return "?";
}

/* "counter_put counter:a a 5": statement, key ("-" for none), values. */
static inline void fake_row_text(const hub_row_t *row, char *out, size_t n)
{
    size_t l = (size_t)snprintf(out, n, "%s %s", fake_stmt_name(row->stmt),
                                row->key != NULL ? row->key : "-");
    for (int i = 0; i < row->stmt->nparams && l < n; i++) {
        const hub_val_t *v = &row->vals[i];
        if (v->type == HUB_VAL_INT)
            l += (size_t)snprintf(out + l, n - l, " %" PRId64, v->i);
        else if (v->type == HUB_VAL_TEXT)
            l += (size_t)snprintf(out + l, n - l, " %.*s", (int)v->n, (const char *)v->p);
        else
            l += (size_t)snprintf(out + l, n - l, " null");
    }
}

static inline int fake_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FAKE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

typedef struct fake_checks {
    int errors;
    char why[200];
} fake_checks_t;

static inline void fake_error(fake_checks_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void fake_error(fake_checks_t *c, const char *fmt, ...)
{
    if (c->errors++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, sizeof(c->why), fmt, ap);
        va_end(ap);
    }
}

/* ---- counter ------------------------------------------------------------- */

typedef struct fake_counter_native {
    char name[FAKE_NAME_MAX + 1];
    int64_t total;
} fake_counter_native_t;

typedef struct fake_item {
    char name[FAKE_NAME_MAX + 1];
    int64_t total;
    int live;
} fake_item_t;

typedef struct fake_counter {
    fake_item_t items[FAKE_MAX_ITEMS]; /* working state; slots are reused by name */
    size_t nitems;
    int64_t sum;
    size_t applied, rejected; /* apply calls by result */
    size_t prepare_calls;
    size_t announce_calls;  /* one per announced intent */
    size_t announced_calls; /* one per group commit that touched it */
    size_t publish_all_calls;
    size_t mine_total; /* changes received by announce */
    fake_checks_t chk;
} fake_counter_t;

static inline fake_item_t *fake_counter_find(fake_counter_t *c, const char *name, int create)
{
    for (size_t i = 0; i < c->nitems; i++)
        if (strcmp(c->items[i].name, name) == 0)
            return &c->items[i];
    if (!create || c->nitems == FAKE_MAX_ITEMS)
        return NULL;
    fake_item_t *it = &c->items[c->nitems++];
    memset(it, 0, sizeof(*it));
    snprintf(it->name, sizeof(it->name), "%s", name);
    return it;
}

static inline void fake_counter_render_item(hub_jbuf_t *b, const char *name, int64_t total)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "name");
    hub_jbuf_str(b, name);
    hub_jbuf_key(b, "total");
    hub_jbuf_int(b, total);
    hub_jbuf_close(b, '}');
}

/* Seed the working state directly (as a load step would). */
static inline void fake_counter_seed(fake_counter_t *c, const char *name, int64_t total)
{
    fake_item_t *it = fake_counter_find(c, name, 1);
    if (it == NULL)
        return;
    c->sum += total - (it->live ? it->total : 0);
    it->total = total;
    it->live = 1;
}

static void fake_counter_change_sum(fake_counter_t *c, hub_apply_t *ap)
{
    hub_jbuf_t *b = hub_apply_scratch(ap);
    hub_jbuf_int(b, c->sum);
    hub_apply_change(ap, "tally.sum", b->p, b->len, NULL, 0);
}

static int fake_counter_add(void *ctx, hub_apply_t *ap, const json_t *p)
{
    fake_counter_t *c = ctx;
    const json_t *jn = json_object_get(p, "name"), *jv = json_object_get(p, "n");
    char path[64], name[FAKE_NAME_MAX + 1];

    if (!json_is_string(jn) || !fake_name_ok(json_string_value(jn))) {
        c->rejected++;
        return hub_apply_fail(ap, HUB_ERR_INVALID, "name", "name: 1-15 of [a-z0-9_]");
    }
    if (!json_is_integer(jv)) {
        c->rejected++;
        return hub_apply_fail(ap, HUB_ERR_INVALID, "n", "n: an integer");
    }
    snprintf(name, sizeof(name), "%s", json_string_value(jn));
    fake_item_t *it = fake_counter_find(c, name, 1);
    if (it == NULL) {
        c->rejected++;
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "name", "too many counters");
    }
    /* Validated: now change. */
    int64_t n = (int64_t)json_integer_value(jv);
    if (!it->live) {
        it->live = 1;
        it->total = 0;
    }
    it->total += n;
    c->sum += n;
    c->applied++;

    fake_counter_native_t nat;
    memset(&nat, 0, sizeof(nat));
    snprintf(nat.name, sizeof(nat.name), "%s", name);
    nat.total = it->total;
    hub_jbuf_t *b = hub_apply_scratch(ap);
    fake_counter_render_item(b, name, it->total);
    snprintf(path, sizeof(path), "counter.items.%s", name);
    hub_apply_change(ap, path, b->p, b->len, &nat, sizeof(nat));
    fake_counter_change_sum(c, ap);

    char key[64];
    snprintf(key, sizeof(key), "counter:%s", name);
    hub_val_t put[2] = {HUB_VAL_S(name, strlen(name)), HUB_VAL_I(it->total)};
    hub_apply_row(ap, &fake_st_counter_put, key, put);
    hub_val_t log[3] = {HUB_VAL_I((int64_t)hub_apply_seq(ap)), HUB_VAL_S(name, strlen(name)),
                        HUB_VAL_I(n)};
    hub_apply_row(ap, &fake_st_counter_log, NULL, log);
    return 0;
}

static int fake_counter_reset(void *ctx, hub_apply_t *ap, const json_t *p)
{
    fake_counter_t *c = ctx;
    const json_t *jn = json_object_get(p, "name");
    char path[64], key[64];

    if (!json_is_string(jn) || !fake_name_ok(json_string_value(jn))) {
        c->rejected++;
        return hub_apply_fail(ap, HUB_ERR_INVALID, "name", "name: 1-15 of [a-z0-9_]");
    }
    const char *name = json_string_value(jn);
    fake_item_t *it = fake_counter_find(c, name, 0);
    if (it == NULL || !it->live) {
        c->rejected++;
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "name", "no counter \"%s\"", name);
    }
    c->sum -= it->total;
    it->total = 0;
    it->live = 0;
    c->applied++;
    snprintf(path, sizeof(path), "counter.items.%s", name);
    hub_apply_change(ap, path, "null", 4, NULL, 0);
    fake_counter_change_sum(c, ap);
    snprintf(key, sizeof(key), "counter:%s", name);
    hub_val_t del[1] = {HUB_VAL_S(name, strlen(name))};
    hub_apply_row(ap, &fake_st_counter_del, key, del);
    return 0;
}

static int fake_counter_fail(void *ctx, hub_apply_t *ap, const json_t *p)
{
    ((fake_counter_t *)ctx)->rejected++;
    return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "counter.fail always refuses");
}

/* {name, n_text:"5"} becomes {name, n:5}, as a prepare step that reads a
 * file would put what it read into the payload. */
static int fake_counter_prepare(void *ctx, hub_intent_t *in, hub_error_t *err)
{
    fake_counter_t *c = ctx;
    const json_t *t = json_object_get(in->payload, "n_text");
    char *end;

    c->prepare_calls++;
    if (t == NULL)
        return 0;
    if (!json_is_string(t) || json_string_value(t)[0] == '\0')
        return hub_error_set(err, HUB_ERR_INVALID, "n_text", "n_text: a decimal integer");
    long long v = strtoll(json_string_value(t), &end, 10);
    if (*end != '\0')
        return hub_error_set(err, HUB_ERR_INVALID, "n_text", "n_text: a decimal integer");
    json_t *np = json_object();
    json_t *name = json_object_get(in->payload, "name");
    if (name != NULL)
        json_object_set(np, "name", name);
    json_object_set_new(np, "n", json_integer((json_int_t)v));
    hub_intent_set_payload(in, np);
    return 0;
}

static void fake_counter_entities(void *ctx, hub_entity_fn emit, void *ud)
{
    fake_counter_t *c = ctx;
    hub_jbuf_t b;
    char path[64];

    hub_jbuf_init(&b);
    for (size_t i = 0; i < c->nitems; i++) {
        if (!c->items[i].live)
            continue;
        hub_jbuf_reset(&b);
        fake_counter_render_item(&b, c->items[i].name, c->items[i].total);
        snprintf(path, sizeof(path), "counter.items.%s", c->items[i].name);
        emit(ud, path, b.p, b.len);
    }
    hub_jbuf_reset(&b);
    hub_jbuf_int(&b, c->sum);
    emit(ud, "tally.sum", b.p, b.len);
    hub_jbuf_free(&b);
}

static void fake_counter_announce(void *ctx, const hub_announce_t *ann, const hub_change_t *mine,
                                  size_t nmine, hub_outbox_t *out)
{
    fake_counter_t *c = ctx;
    char topic[96];

    c->announce_calls++;
    c->mine_total += nmine;
    if (nmine == 0)
        fake_error(&c->chk, "counter: announced seq %" PRIu64 " without changes", ann->seq);
    for (size_t i = 0; i < nmine; i++) {
        const hub_change_t *ch = &mine[i];
        if (strncmp(ch->path, "counter.items.", 14) == 0) {
            const char *name = ch->path + 14;
            int gone = ch->value_len == 4 && memcmp(ch->value, "null", 4) == 0;
            if (!gone) {
                /* The native form travels with the text: same entity. */
                const fake_counter_native_t *nat = ch->native;
                hub_jbuf_t b;
                hub_jbuf_init(&b);
                if (nat == NULL || ch->native_len != sizeof(*nat)) {
                    fake_error(&c->chk, "counter: %s without its native form", ch->path);
                } else {
                    fake_counter_render_item(&b, nat->name, nat->total);
                    if (b.len != ch->value_len || memcmp(b.p, ch->value, b.len) != 0 ||
                        strcmp(nat->name, name) != 0)
                        fake_error(&c->chk, "counter: native %s/%" PRId64 " is not %.*s", nat->name,
                                   nat->total, (int)ch->value_len, ch->value);
                }
                hub_jbuf_free(&b);
                hub_outbox_view(out, "counter.last", ch->value, ch->value_len);
            } else {
                if (ch->native != NULL || ch->native_len != 0)
                    fake_error(&c->chk, "counter: a removal with a native form");
                hub_outbox_event(out, HUB_EVENT_INFO, "counter", "reset %s", name);
            }
            snprintf(topic, sizeof(topic), "test/counter/%s", name);
            hub_outbox_mqtt(out, topic, gone ? "" : ch->value, gone ? 0 : ch->value_len, 1, 1, 0);
            hub_outbox_frame(out, "counter.live", ch->value, ch->value_len);
        } else if (strcmp(ch->path, "tally.sum") == 0) {
            if (ch->native != NULL || ch->native_len != 0)
                fake_error(&c->chk, "counter: tally.sum with a native form it never gave");
            hub_outbox_mqtt(out, "test/tally", ch->value, ch->value_len, 0, 0, HUB_OUT_CONFLATE);
        } else {
            fake_error(&c->chk, "counter: got a change outside its roots: %s", ch->path);
        }
    }
}

static void fake_counter_announced(void *ctx)
{
    ((fake_counter_t *)ctx)->announced_calls++;
}

static void fake_counter_publish_all(void *ctx, hub_outbox_t *out)
{
    fake_counter_t *c = ctx;
    hub_jbuf_t b;
    char topic[96];

    c->publish_all_calls++;
    hub_jbuf_init(&b);
    for (size_t i = 0; i < c->nitems; i++) {
        if (!c->items[i].live)
            continue;
        hub_jbuf_reset(&b);
        fake_counter_render_item(&b, c->items[i].name, c->items[i].total);
        snprintf(topic, sizeof(topic), "test/counter/%s", c->items[i].name);
        hub_outbox_mqtt(out, topic, b.p, b.len, 1, 1, 0);
    }
    hub_jbuf_free(&b);
}

static const hub_intent_def_t fake_counter_intents[] = {
    {"counter.add", fake_counter_add, fake_counter_prepare},
    {"counter.reset", fake_counter_reset, NULL},
    {"counter.fail", fake_counter_fail, NULL},
    {NULL, NULL, NULL},
};
static const char *const fake_counter_roots[] = {"counter", "tally", NULL};
static const char *const fake_counter_frame_rooms[] = {"counter.live", NULL};

static const hub_domain_def_t fake_counter_def = {
    .name = "counter",
    .roots = fake_counter_roots,
    .frame_rooms = fake_counter_frame_rooms,
    .intents = fake_counter_intents,
    .entities = fake_counter_entities,
    .announce = fake_counter_announce,
    .announced = fake_counter_announced,
    .publish_all = fake_counter_publish_all,
};

/* ---- notes ----------------------------------------------------------------- */

typedef struct fake_note {
    char id[FAKE_NAME_MAX + 1];
    char text[FAKE_TEXT_MAX + 1];
    int live;
    int published; /* as announced */
} fake_note_t;

typedef struct fake_notes {
    fake_note_t notes[FAKE_MAX_ITEMS];
    size_t nnotes;
    size_t published; /* how many notes the announcements so far leave */
    size_t applied, rejected;
    size_t announce_calls, announced_calls, publish_all_calls;
    fake_checks_t chk;
} fake_notes_t;

static inline fake_note_t *fake_notes_find(fake_notes_t *d, const char *id, int create)
{
    for (size_t i = 0; i < d->nnotes; i++)
        if (strcmp(d->notes[i].id, id) == 0)
            return &d->notes[i];
    if (!create || d->nnotes == FAKE_MAX_ITEMS)
        return NULL;
    fake_note_t *n = &d->notes[d->nnotes++];
    memset(n, 0, sizeof(*n));
    snprintf(n->id, sizeof(n->id), "%s", id);
    return n;
}

static inline void fake_note_render(hub_jbuf_t *b, const char *text)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "text");
    hub_jbuf_str(b, text);
    hub_jbuf_close(b, '}');
}

static inline void fake_notes_seed(fake_notes_t *d, const char *id, const char *text)
{
    fake_note_t *n = fake_notes_find(d, id, 1);
    if (n == NULL)
        return;
    snprintf(n->text, sizeof(n->text), "%s", text);
    n->live = 1;
}

static int fake_notes_put(void *ctx, hub_apply_t *ap, const json_t *p)
{
    fake_notes_t *d = ctx;
    const json_t *ji = json_object_get(p, "id"), *jt = json_object_get(p, "text");
    char path[64], key[64];

    if (!json_is_string(ji) || !fake_name_ok(json_string_value(ji))) {
        d->rejected++;
        return hub_apply_fail(ap, HUB_ERR_INVALID, "id", "id: 1-15 of [a-z0-9_]");
    }
    if (!json_is_string(jt) || json_string_length(jt) > FAKE_TEXT_MAX) {
        d->rejected++;
        return hub_apply_fail(ap, HUB_ERR_INVALID, "text", "text: a string of at most 63 bytes");
    }
    fake_note_t *n = fake_notes_find(d, json_string_value(ji), 1);
    if (n == NULL) {
        d->rejected++;
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "id", "too many notes");
    }
    snprintf(n->text, sizeof(n->text), "%s", json_string_value(jt));
    n->live = 1;
    d->applied++;
    hub_jbuf_t *b = hub_apply_scratch(ap);
    fake_note_render(b, n->text);
    snprintf(path, sizeof(path), "notes.%s", n->id);
    hub_apply_change(ap, path, b->p, b->len, NULL, 0);
    snprintf(key, sizeof(key), "note:%s", n->id);
    hub_val_t v[2] = {HUB_VAL_S(n->id, strlen(n->id)), HUB_VAL_S(n->text, strlen(n->text))};
    hub_apply_row(ap, &fake_st_note_put, key, v);
    return 0;
}

static int fake_notes_del(void *ctx, hub_apply_t *ap, const json_t *p)
{
    fake_notes_t *d = ctx;
    const json_t *ji = json_object_get(p, "id");
    char path[64], key[64];

    if (!json_is_string(ji) || !fake_name_ok(json_string_value(ji))) {
        d->rejected++;
        return hub_apply_fail(ap, HUB_ERR_INVALID, "id", "id: 1-15 of [a-z0-9_]");
    }
    fake_note_t *n = fake_notes_find(d, json_string_value(ji), 0);
    if (n == NULL || !n->live) {
        d->rejected++;
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "id", "no note \"%s\"", json_string_value(ji));
    }
    n->live = 0;
    d->applied++;
    snprintf(path, sizeof(path), "notes.%s", n->id);
    hub_apply_change(ap, path, "null", 4, NULL, 0);
    snprintf(key, sizeof(key), "note:%s", n->id);
    hub_val_t v[1] = {HUB_VAL_S(n->id, strlen(n->id))};
    hub_apply_row(ap, &fake_st_note_del, key, v);
    return 0;
}

static void fake_notes_entities(void *ctx, hub_entity_fn emit, void *ud)
{
    fake_notes_t *d = ctx;
    hub_jbuf_t b;
    char path[64];

    hub_jbuf_init(&b);
    for (size_t i = 0; i < d->nnotes; i++) {
        if (!d->notes[i].live)
            continue;
        hub_jbuf_reset(&b);
        fake_note_render(&b, d->notes[i].text);
        snprintf(path, sizeof(path), "notes.%s", d->notes[i].id);
        emit(ud, path, b.p, b.len);
    }
    hub_jbuf_free(&b);
}

static void fake_notes_publish_count(fake_notes_t *d, hub_outbox_t *out)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%zu", d->published);
    hub_outbox_view(out, "notes.count", text, (size_t)n);
}

static void fake_notes_announce(void *ctx, const hub_announce_t *ann, const hub_change_t *mine,
                                size_t nmine, hub_outbox_t *out)
{
    fake_notes_t *d = ctx;

    d->announce_calls++;
    if (nmine != 1)
        fake_error(&d->chk, "notes: seq %" PRIu64 " has %zu changes, want 1", ann->seq, nmine);
    for (size_t i = 0; i < nmine; i++) {
        if (strncmp(mine[i].path, "notes.", 6) != 0) {
            fake_error(&d->chk, "notes: got a change outside its root: %s", mine[i].path);
            continue;
        }
        fake_note_t *n = fake_notes_find(d, mine[i].path + 6, 0);
        if (n == NULL) {
            fake_error(&d->chk, "notes: announced %s it never applied", mine[i].path);
            continue;
        }
        int gone = mine[i].value_len == 4 && memcmp(mine[i].value, "null", 4) == 0;
        if (gone && n->published) {
            n->published = 0;
            d->published--;
        } else if (!gone && !n->published) {
            n->published = 1;
            d->published++;
        }
    }
    fake_notes_publish_count(d, out);
}

static void fake_notes_announced(void *ctx)
{
    ((fake_notes_t *)ctx)->announced_calls++;
}

static void fake_notes_publish_all(void *ctx, hub_outbox_t *out)
{
    fake_notes_t *d = ctx;

    d->publish_all_calls++;
    d->published = 0;
    for (size_t i = 0; i < d->nnotes; i++) {
        d->notes[i].published = d->notes[i].live;
        d->published += d->notes[i].live != 0;
    }
    fake_notes_publish_count(d, out);
}

static const hub_intent_def_t fake_notes_intents[] = {
    {"notes.put", fake_notes_put, NULL},
    {"notes.del", fake_notes_del, NULL},
    {NULL, NULL, NULL},
};

static const hub_domain_def_t fake_notes_def = {
    .name = "notes", /* roots NULL: its root is its name */
    .intents = fake_notes_intents,
    .entities = fake_notes_entities,
    .announce = fake_notes_announce,
    .announced = fake_notes_announced,
    .publish_all = fake_notes_publish_all,
};

/* ---- the domains' own state as JSON ------------------------------------------ */

/* {"counter":{"items":{…}},"tally":{"sum":S},"notes":{…}} from the working
 * state, built independently of the engine's tree. New reference. */
static inline json_t *fake_state_json(const fake_counter_t *c, const fake_notes_t *d)
{
    json_t *root = json_object(), *items = json_object(), *notes = json_object();

    for (size_t i = 0; i < c->nitems; i++)
        if (c->items[i].live)
            json_object_set_new(items, c->items[i].name,
                                json_pack("{s:s,s:I}", "name", c->items[i].name, "total",
                                          (json_int_t)c->items[i].total));
    json_object_set_new(root, "counter", json_pack("{s:o}", "items", items));
    json_object_set_new(root, "tally", json_pack("{s:I}", "sum", (json_int_t)c->sum));
    for (size_t i = 0; i < d->nnotes; i++)
        if (d->notes[i].live)
            json_object_set_new(notes, d->notes[i].id,
                                json_pack("{s:s}", "text", d->notes[i].text));
    json_object_set_new(root, "notes", notes);
    return root;
}

/* Drop empty objects, recursively: "an object with no entities" and "no
 * object" are the same state. In place; returns 1 if v itself is now empty. */
static inline int fake_json_prune(json_t *v)
{
    const char *key;
    json_t *child;
    void *tmp;

    if (!json_is_object(v))
        return 0;
    json_object_foreach_safe(v, tmp, key, child)
    {
        if (fake_json_prune(child))
            json_object_del(v, key);
    }
    return json_object_size(v) == 0;
}

#endif
