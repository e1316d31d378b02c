/* tests/unit/show_rig.h - the helpers test_show.c and test_show_store.c share.
 *
 * Header-only (static inline, so a file that uses only part of it still
 * builds with -Werror). It is included after the test file's fixture, which
 * it reaches through macros the file defines first:
 *   SHOW_RIG        the fixture object (T, H), with at least
 *                       hub_engine_t *e;
 *                       hub_show_prog_t *prog; hub_transport_t tr; int nprog, ntr;
 *                       char seen[N];     applied intents, "name(src) "
 *                       int outcome; hub_error_t err;
 *   SHOW_RIG_SHOWS  the shows directory (a string);
 *   SHOW_RIG_HEARD(what)  optional: called with "P"/"p" (a program / none)
 *                   and "T0" to "T2" (a transport's state) as the sink hears
 *                   them; nothing by default.
 * The file also defines run(name, payload), which submits the intent and
 * waits for its answer (the two wait differently); ok() calls it.
 * Payloads are written with single quotes (turned into double quotes) and
 * parsed with HUB_JSON_FLAGS, as the adapters do. */
#ifndef HUB_TEST_SHOW_RIG_H
#define HUB_TEST_SHOW_RIG_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/err.h"
#include "core/jbuf.h"
#include "domains/show/show.h"
#include "engine/engine.h"
#include "engine/intent.h"

#ifndef SHOW_RIG_HEARD
#define SHOW_RIG_HEARD(what) ((void)(what))
#endif

static int run(const char *name, const char *payload);

/* par1 slots 0-3 (red green blue dimmer), par2 slots 4-7, mover1 19-21 of
 * universe 2 (the implicit "demo" holds channels 1-3 of universe 1). */
__attribute__((unused)) static const char *const PATCH =
    "{'universes':[2],'fixtures':["
    "{'name':'par1','universe':2,'address':1,'channels':['red','green','blue','dimmer']},"
    "{'name':'par2','universe':2,'address':5,'channels':['red','green','blue','dimmer']},"
    "{'name':'mover1','universe':2,'address':20,'channels':['pan','tilt','dimmer']}],"
    "'pois':[{'name':'stage_center','pan':128,'tilt':60}]}";

/* ---- files ---------------------------------------------------------------------- */

/* s with ' turned into " (free it). */
static inline char *dq(const char *s)
{
    char *o = strdup(s);
    assert_non_null(o);
    for (char *p = o; *p; p++)
        if (*p == '\'')
            *p = '"';
    return o;
}

static inline void write_path(const char *path, const char *text)
{
    char *t = dq(text);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(t, f);
    fclose(f);
    free(t);
}

static inline void show_file(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.cue.json", SHOW_RIG_SHOWS, name);
}

static inline void write_show(const char *name, const char *text)
{
    char p[256];
    show_file(name, p, sizeof(p));
    write_path(p, text);
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the sink and the subscriber ---------------------------------------------------- */

static inline void sink_prog(void *ud, hub_show_prog_t *prog)
{
    (void)ud;
    hub_show_prog_unref(SHOW_RIG.prog);
    SHOW_RIG.prog = prog;
    SHOW_RIG.nprog++;
    SHOW_RIG_HEARD(prog ? "P" : "p");
}

static inline void sink_transport(void *ud, const hub_transport_t *tr)
{
    static const char *const names[] = {"T0", "T1", "T2"};
    (void)ud;
    assert_non_null(tr);
    SHOW_RIG.tr = *tr;
    SHOW_RIG.ntr++;
    SHOW_RIG_HEARD(names[tr->state]);
}

/* The program first, then the transport: the order the output takes them. */
static inline void sink_playback(void *ud, int has_prog, hub_show_prog_t *prog,
                                 const hub_transport_t *tr)
{
    if (has_prog)
        sink_prog(ud, prog);
    if (tr != NULL)
        sink_transport(ud, tr);
}

static inline void on_state(void *ud, const hub_announce_t *ann)
{
    size_t n = strlen(SHOW_RIG.seen);
    (void)ud;
    snprintf(SHOW_RIG.seen + n, sizeof(SHOW_RIG.seen) - n, "%s(%s) ", ann->intent->name,
             ann->intent->src);
}

/* ---- intents -------------------------------------------------------------------- */

/* Prepare name with payload (single-quoted JSON) as intent id, answered to
 * done, and submit it; the caller waits. Returns 0, or -1 when prepare
 * refused it (outcome rejected, err says why). */
static inline int submit_intent(const char *id, const char *name, const char *payload,
                                hub_intent_done_cb done)
{
    hub_error_t err;
    char *text = dq(payload);
    json_t *p = json_loads(text, HUB_JSON_FLAGS, NULL);
    free(text);
    assert_non_null(p);
    hub_intent_t *in = hub_intent_new(id, "test", name);
    hub_intent_set_payload(in, p);
    in->done = done;
    SHOW_RIG.outcome = -999;
    if (hub_engine_prepare(SHOW_RIG.e, in, &err) != 0) {
        SHOW_RIG.outcome = HUB_INTENT_REJECTED;
        SHOW_RIG.err = err;
        hub_intent_free(in);
        return -1;
    }
    assert_int_equal(hub_engine_submit(SHOW_RIG.e, in), 0);
    return 0;
}

static inline void ok(const char *name, const char *payload)
{
    if (run(name, payload) != HUB_INTENT_APPLIED)
        fail_msg("%s %s: %d %s (%s: %s)", name, payload, SHOW_RIG.outcome,
                 hub_errcode_name(SHOW_RIG.err.code), SHOW_RIG.err.field, SHOW_RIG.err.msg);
}

/* ---- the published state ------------------------------------------------------------ */

/* What the engine publishes for every room, parsed (new reference). */
static inline json_t *published(void)
{
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    hub_engine_render_state(SHOW_RIG.e, hub_engine_state_rooms(SHOW_RIG.e), &b);
    json_t *j = json_loadb(b.p, b.len, 0, NULL);
    hub_jbuf_free(&b);
    assert_non_null(j);
    return j;
}

/* The published state.show (new reference). */
static inline json_t *show_state(void)
{
    json_t *j = published();
    json_t *show = json_incref(json_object_get(json_object_get(j, "state"), "show"));
    json_decref(j);
    assert_non_null(show);
    return show;
}

static inline const char *tr_state(void)
{
    static char buf[16];
    json_t *s = show_state();
    snprintf(buf, sizeof(buf), "%s",
             json_string_value(json_object_get(json_object_get(s, "transport"), "state")));
    json_decref(s);
    return buf;
}

static inline int64_t tr_t_ms(void)
{
    json_t *s = show_state();
    json_t *v = json_object_get(json_object_get(s, "transport"), "t_ms");
    assert_true(json_is_integer(v));
    int64_t t = json_integer_value(v);
    json_decref(s);
    return t;
}

/* The list entry of name in show.list (new reference), or NULL. */
static inline json_t *list_entry(const char *name)
{
    json_t *s = show_state(), *found = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(s, "list"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
            found = json_incref(v);
    }
    json_decref(s);
    return found;
}

#endif
