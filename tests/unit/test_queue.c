/* tests/unit/test_queue.c - engine/queue: FIFO, drop-oldest-ui, refuse, ui list. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ulid.h"
#include "engine/intent.h"
#include "engine/queue.h"

/* An intent whose name carries a tag n (0..65535) so tests can tell them apart. */
static hub_intent_t *mk(const char *src, int n)
{
    uint8_t rnd[10] = {0};
    char id[HUB_ULID_LEN + 1], name[16];

    rnd[8] = (uint8_t)(n >> 8);
    rnd[9] = (uint8_t)n;
    hub_ulid_encode(id, 1700000000000ULL, rnd);
    snprintf(name, sizeof(name), "t.%d", n);
    return hub_intent_new(id, src, name);
}

static int tag(const hub_intent_t *c)
{
    return atoi(c->name + 2);
}

/* Check both lists against the expected tags, forwards and backwards. */
static void check(const hub_queue_t *q, const int *want, size_t n)
{
    size_t i = 0, nui = 0;
    const hub_intent_t *prev = NULL;

    assert_int_equal(q->len, n);
    for (const hub_intent_t *c = q->head; c != NULL; prev = c, c = c->next, i++) {
        assert_true(i < n);
        if (tag(c) != want[i])
            fail_msg("position %zu: tag %d, want %d", i, tag(c), want[i]);
        assert_ptr_equal(c->prev, prev);
    }
    assert_int_equal(i, n);
    assert_ptr_equal(q->tail, prev);
    if (n == 0)
        assert_null(q->head);

    /* The ui list is exactly the ui commands of the main list, same order. */
    const hub_intent_t *u = q->ui_head, *uprev = NULL;
    for (const hub_intent_t *c = q->head; c != NULL; c = c->next) {
        if (!c->is_ui)
            continue;
        assert_ptr_equal(u, c);
        assert_ptr_equal(u->ui_prev, uprev);
        uprev = u;
        u = u->ui_next;
        nui++;
    }
    assert_null(u);
    assert_ptr_equal(q->ui_tail, uprev);
    if (nui == 0)
        assert_null(q->ui_head);
}

static void push_ok(hub_queue_t *q, hub_intent_t *c)
{
    hub_intent_t *dropped = (hub_intent_t *)(uintptr_t)1;
    assert_int_equal(hub_queue_push(q, c, &dropped), 0);
    assert_null(dropped);
}

static void free_all(hub_queue_t *q)
{
    hub_intent_t *c;
    while ((c = hub_queue_pop(q)) != NULL)
        hub_intent_free(c);
}

static void test_fifo(void **state)
{
    hub_queue_t q;
    static const int want[] = {1, 2, 3, 4, 5};

    hub_queue_init(&q, 8);
    assert_null(hub_queue_pop(&q));
    check(&q, NULL, 0);
    push_ok(&q, mk("api", 1));
    push_ok(&q, mk("ui", 2));
    push_ok(&q, mk("mqtt", 3));
    push_ok(&q, mk("ui", 4));
    push_ok(&q, mk("api", 5));
    check(&q, want, 5);
    for (int i = 1; i <= 5; i++) {
        hub_intent_t *c = hub_queue_pop(&q);
        assert_non_null(c);
        assert_int_equal(tag(c), i);
        assert_null(c->next);
        assert_null(c->ui_next);
        hub_intent_free(c);
        check(&q, want + i, (size_t)(5 - i));
    }
    assert_null(hub_queue_pop(&q));
}

static void test_overflow_drops_oldest_ui(void **state)
{
    hub_queue_t q;
    hub_intent_t *dropped = NULL;
    hub_intent_t *ui1, *ui2;

    hub_queue_init(&q, 4);
    push_ok(&q, mk("api", 1));
    push_ok(&q, ui1 = mk("ui", 2));
    push_ok(&q, mk("api", 3));
    push_ok(&q, ui2 = mk("ui", 4));

    assert_int_equal(hub_queue_push(&q, mk("mqtt", 5), &dropped), 0);
    assert_ptr_equal(dropped, ui1); /* the oldest ui one, and only it */
    assert_null(dropped->next);
    assert_null(dropped->ui_next);
    hub_intent_free(dropped);
    static const int want1[] = {1, 3, 4, 5};
    check(&q, want1, 4);

    /* A new ui command may push out the remaining (older) ui one. */
    assert_int_equal(hub_queue_push(&q, mk("ui", 6), &dropped), 0);
    assert_ptr_equal(dropped, ui2);
    hub_intent_free(dropped);
    static const int want2[] = {1, 3, 5, 6};
    check(&q, want2, 4);

    /* And then itself be the victim of the next overflow. */
    assert_int_equal(hub_queue_push(&q, mk("api", 7), &dropped), 0);
    assert_non_null(dropped);
    assert_int_equal(tag(dropped), 6);
    hub_intent_free(dropped);
    static const int want3[] = {1, 3, 5, 7};
    check(&q, want3, 4);
    free_all(&q);
}

static void test_overflow_without_ui_refuses(void **state)
{
    hub_queue_t q;
    hub_intent_t *dropped = NULL;

    hub_queue_init(&q, 3);
    push_ok(&q, mk("api", 1));
    push_ok(&q, mk("mqtt", 2));
    push_ok(&q, mk("UI", 3)); /* not "ui": not droppable */

    hub_intent_t *c = mk("api", 4);
    assert_int_equal(hub_queue_push(&q, c, &dropped), HUB_EOVERLOAD);
    assert_null(dropped);
    static const int want[] = {1, 2, 3};
    check(&q, want, 3);
    /* A new ui command is refused too: only queued ui commands are dropped. */
    hub_intent_t *u = mk("ui", 5);
    assert_int_equal(hub_queue_push(&q, u, &dropped), HUB_EOVERLOAD);
    assert_null(dropped);
    check(&q, want, 3);
    /* The caller kept both. */
    hub_intent_free(c);
    hub_intent_free(u);

    /* Room again after a pop. */
    hub_intent_free(hub_queue_pop(&q));
    push_ok(&q, mk("api", 6));
    static const int want2[] = {2, 3, 6};
    check(&q, want2, 3);
    free_all(&q);
}

static void test_ui_list_after_pops(void **state)
{
    hub_queue_t q;
    hub_intent_t *dropped = NULL;

    hub_queue_init(&q, 5);
    push_ok(&q, mk("ui", 1));
    push_ok(&q, mk("ui", 2));
    push_ok(&q, mk("api", 3));
    push_ok(&q, mk("ui", 4));
    push_ok(&q, mk("ui", 5));
    /* Popping ui commands from the head must unlink them from the ui list. */
    hub_intent_free(hub_queue_pop(&q));
    hub_intent_free(hub_queue_pop(&q));
    static const int want[] = {3, 4, 5};
    check(&q, want, 3);
    push_ok(&q, mk("api", 6));
    push_ok(&q, mk("api", 7));
    /* Full: the oldest remaining ui one is 4, not the popped 1. */
    assert_int_equal(hub_queue_push(&q, mk("api", 8), &dropped), 0);
    assert_non_null(dropped);
    assert_int_equal(tag(dropped), 4);
    hub_intent_free(dropped);
    static const int want2[] = {3, 5, 6, 7, 8};
    check(&q, want2, 5);
    free_all(&q);
}

static void test_take_all(void **state)
{
    hub_queue_t q;

    hub_queue_init(&q, 10);
    assert_null(hub_queue_take_all(&q));
    for (int i = 1; i <= 6; i++)
        push_ok(&q, mk(i % 2 ? "ui" : "api", i));
    hub_intent_t *all = hub_queue_take_all(&q);
    check(&q, NULL, 0);
    assert_null(q.ui_head);
    assert_null(q.ui_tail);
    int i = 1;
    while (all != NULL) {
        hub_intent_t *next = all->next;
        assert_int_equal(tag(all), i++);
        hub_intent_free(all);
        all = next;
    }
    assert_int_equal(i, 7);
    /* Usable again afterwards. */
    push_ok(&q, mk("ui", 9));
    static const int want[] = {9};
    check(&q, want, 1);
    free_all(&q);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Random pushes and pops against an array model of the policy. */
static void test_model(void **state)
{
    enum { CAP = 16, OPS = 100000 };
    hub_queue_t q;
    int model[CAP];
    int model_ui[CAP];
    size_t n = 0;
    uint64_t seed = 42;
    int next_tag = 0;

    hub_queue_init(&q, CAP);
    for (int op = 0; op < OPS; op++) {
        unsigned r = (unsigned)(rng_next(&seed) % 100);
        if (r < 55) {
            int is_ui = rng_next(&seed) % 3 == 0;
            int t = next_tag++ & 0xffff;
            hub_intent_t *c = mk(is_ui ? "ui" : "api", t);
            hub_intent_t *dropped = NULL;
            int rc = hub_queue_push(&q, c, &dropped);
            /* Model: full -> drop oldest ui, or refuse. */
            int victim = -1;
            if (n == CAP) {
                for (size_t i = 0; i < n; i++)
                    if (model_ui[i]) {
                        victim = (int)i;
                        break;
                    }
                if (victim < 0) {
                    assert_int_equal(rc, HUB_EOVERLOAD);
                    assert_null(dropped);
                    hub_intent_free(c);
                    continue;
                }
                assert_non_null(dropped);
                assert_int_equal(tag(dropped), model[victim]);
                hub_intent_free(dropped);
                memmove(&model[victim], &model[victim + 1], (n - (size_t)victim - 1) * sizeof(int));
                memmove(&model_ui[victim], &model_ui[victim + 1],
                        (n - (size_t)victim - 1) * sizeof(int));
                n--;
            } else {
                assert_null(dropped);
            }
            assert_int_equal(rc, 0);
            model[n] = t;
            model_ui[n] = is_ui;
            n++;
        } else if (r < 98) {
            hub_intent_t *c = hub_queue_pop(&q);
            if (n == 0) {
                assert_null(c);
                continue;
            }
            assert_non_null(c);
            assert_int_equal(tag(c), model[0]);
            hub_intent_free(c);
            memmove(&model[0], &model[1], (n - 1) * sizeof(int));
            memmove(&model_ui[0], &model_ui[1], (n - 1) * sizeof(int));
            n--;
        } else {
            hub_intent_t *all = hub_queue_take_all(&q);
            for (size_t i = 0; i < n; i++) {
                assert_non_null(all);
                assert_int_equal(tag(all), model[i]);
                hub_intent_t *next = all->next;
                hub_intent_free(all);
                all = next;
            }
            assert_null(all);
            n = 0;
        }
        if (op % 97 == 0)
            check(&q, model, n);
    }
    check(&q, model, n);
    free_all(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_overflow_drops_oldest_ui),
        cmocka_unit_test(test_overflow_without_ui_refuses),
        cmocka_unit_test(test_ui_list_after_pops),
        cmocka_unit_test(test_take_all),
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
