/* tests/unit/test_inbox.c - core/inbox: many producers, one loop thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "core/inbox.h"
#include "core/mem.h"

#define PRODUCERS    4
#define PER_PRODUCER 20000
#define TOTAL        (PRODUCERS * PER_PRODUCER)

struct tmsg {
    hub_msg_t base; /* first: the inbox hands us &base */
    int producer;
    int n;
};

/* Everything fn observes; touched only on the loop thread. */
struct sink {
    pthread_t loop_thread;
    int next[PRODUCERS]; /* next n expected from each producer */
    int ran;             /* messages run */
    int wrong_thread;
    int out_of_order;
};

static void on_msg(hub_msg_t *msg, void *ud)
{
    struct sink *s = ud;
    struct tmsg *m = (struct tmsg *)msg;

    if (s == NULL) {
        /* ud must be what hub_inbox_new was given; we always give a sink. */
        abort();
    }
    if (!pthread_equal(pthread_self(), s->loop_thread))
        s->wrong_thread++;
    if (m->producer < 0 || m->producer >= PRODUCERS || m->n != s->next[m->producer])
        s->out_of_order++;
    else
        s->next[m->producer]++;
    s->ran++;
    hub_free(m);
}

static struct tmsg *new_msg(int producer, int n)
{
    struct tmsg *m = hub_calloc(1, sizeof(*m));
    m->base.fn = on_msg;
    m->producer = producer;
    m->n = n;
    return m;
}

struct producer {
    hub_inbox_t *inbox;
    int id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        hub_inbox_post(p->inbox, &new_msg(p->id, i)->base);
        if (i % 1000 == 0)
            sched_yield(); /* let the loop interleave with producers */
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Close the loop and prove no handle was left open. */
static void close_loop(uv_loop_t *loop)
{
    for (int i = 0; i < 100 && uv_loop_alive(loop); i++)
        uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_many_producers(void **state)
{
    uv_loop_t loop;
    hub_inbox_t *inbox = NULL;
    struct sink s;
    struct producer p[PRODUCERS];
    pthread_t t[PRODUCERS];

    memset(&s, 0, sizeof(s));
    s.loop_thread = pthread_self();
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(hub_inbox_new(&inbox, &loop, &s), 0);
    assert_non_null(inbox);

    for (int i = 0; i < PRODUCERS; i++) {
        p[i].inbox = inbox;
        p[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, produce, &p[i]), 0);
    }
    /* Turn the loop while producers run; bounded at ~20 s. */
    for (int iter = 0; iter < 20000 && s.ran < TOTAL; iter++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (s.ran < TOTAL)
            sleep_ms(1);
    }
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);

    assert_int_equal(s.ran, TOTAL);
    assert_int_equal(s.wrong_thread, 0);
    assert_int_equal(s.out_of_order, 0);
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(s.next[i], PER_PRODUCER);

    hub_inbox_close(inbox);
    close_loop(&loop);
}

static void test_drain_runs_queued_now(void **state)
{
    uv_loop_t loop;
    hub_inbox_t *inbox = NULL;
    struct sink s;

    memset(&s, 0, sizeof(s));
    s.loop_thread = pthread_self();
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(hub_inbox_new(&inbox, &loop, &s), 0);

    for (int i = 0; i < 3; i++)
        hub_inbox_post(inbox, &new_msg(0, i)->base);
    assert_int_equal(s.ran, 0); /* posting never runs fn */
    hub_inbox_drain(inbox);
    assert_int_equal(s.ran, 3);
    assert_int_equal(s.next[0], 3);
    hub_inbox_drain(inbox); /* nothing queued: nothing runs */
    assert_int_equal(s.ran, 3);

    hub_inbox_close(inbox);
    close_loop(&loop);
}

static void test_close_with_queued(void **state)
{
    uv_loop_t loop;
    hub_inbox_t *inbox = NULL;
    struct sink s;

    memset(&s, 0, sizeof(s));
    s.loop_thread = pthread_self();
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(hub_inbox_new(&inbox, &loop, &s), 0);

    for (int i = 0; i < 10; i++)
        hub_inbox_post(inbox, &new_msg(1, i)->base);
    /* Messages still queued are run first, in order, then the inbox frees
     * itself once the loop has closed the handle (ASan checks the frees). */
    hub_inbox_close(inbox);
    assert_int_equal(s.ran, 10);
    assert_int_equal(s.next[1], 10);
    assert_int_equal(s.out_of_order, 0);
    close_loop(&loop);
}

static void test_post_from_thread_while_loop_blocks(void **state)
{
    uv_loop_t loop;
    hub_inbox_t *inbox = NULL;
    struct sink s;
    struct producer p;
    pthread_t t;

    memset(&s, 0, sizeof(s));
    s.loop_thread = pthread_self();
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(hub_inbox_new(&inbox, &loop, &s), 0);

    p.inbox = inbox;
    p.id = 2;
    assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
    /* UV_RUN_ONCE blocks in epoll: only the async wake-up can return it. The
     * iteration cap bounds it; a lost wake-up shows as the ctest timeout. */
    for (int iter = 0; iter < 100000 && s.ran < PER_PRODUCER; iter++)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(s.ran, PER_PRODUCER);
    assert_int_equal(s.next[2], PER_PRODUCER);
    assert_int_equal(s.wrong_thread, 0);

    hub_inbox_close(inbox);
    close_loop(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_producers),
        cmocka_unit_test(test_drain_runs_queued_now),
        cmocka_unit_test(test_close_with_queued),
        cmocka_unit_test(test_post_from_thread_while_loop_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
