/* bench/lg_pace.c - open-loop pacing on a timerfd (see lg_pace.h). */
#include "lg_pace.h"

#include <stdio.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lg_cmd.h"

#define MAX_PER_WAKE 20000 /* bound one wake-up; the rest go next time */

static uint64_t due_at(const lg_pace_t *p, uint64_t k)
{
    return p->t0_ns + (uint64_t)((double)k * 1e9 / p->rate);
}

static void arm(lg_pace_t *p, uint64_t at_ns)
{
    struct itimerspec its = {{0, 0},
                             {(time_t)(at_ns / 1000000000ull), (long)(at_ns % 1000000000ull)}};
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    timerfd_settime(p->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void on_tick(uv_poll_t *h, int status, int events)
{
    lg_pace_t *p = h->data;
    uint64_t exp;
    if (read(p->tfd, &exp, sizeof(exp)) < 0) {
        /* EAGAIN: spurious wake-up; fall through and re-check the time. */
    }
    if (!p->running)
        return;
    uint64_t now = lg_now_ns();
    unsigned n = 0;
    while (p->emitted < p->limit && n < MAX_PER_WAKE) {
        uint64_t due = due_at(p, p->emitted);
        if (due >= p->end_ns) {
            p->limit = p->emitted;
            break;
        }
        if (due > now)
            break;
        lg_hist_add(&p->lag, now - due);
        p->emit(p->emitted++, due, p->ud);
        n++;
        if ((n & 255) == 0)
            now = lg_now_ns();
        if (!p->running)
            return;
    }
    if (p->emitted >= p->limit) {
        p->running = 0;
        uv_poll_stop(&p->poll);
        return;
    }
    arm(p, n >= MAX_PER_WAKE ? now : due_at(p, p->emitted));
}

int lg_pace_init(lg_pace_t *p, uv_loop_t *loop)
{
    p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->tfd < 0)
        return -1;
    uv_poll_init(loop, &p->poll, p->tfd);
    p->poll.data = p;
    p->running = 0;
    lg_hist_init(&p->lag);
    return 0;
}

void lg_pace_start(lg_pace_t *p, double rate, uint64_t limit, uint64_t dur_ns, lg_pace_emit emit,
                   void *ud)
{
    p->rate = rate > 0 ? rate : 1;
    p->t0_ns = lg_now_ns();
    p->end_ns = p->t0_ns + dur_ns;
    p->emitted = 0;
    p->limit = limit;
    p->emit = emit;
    p->ud = ud;
    p->running = 1;
    uv_poll_start(&p->poll, UV_READABLE, on_tick);
    arm(p, p->t0_ns);
}

void lg_pace_stop(lg_pace_t *p)
{
    p->running = 0;
    uv_poll_stop(&p->poll);
}

int lg_pace_done(const lg_pace_t *p)
{
    return !p->running;
}

static void on_closed(uv_handle_t *h)
{
    lg_pace_t *p = h->data;
    close(p->tfd);
}

void lg_pace_close(lg_pace_t *p)
{
    lg_pace_stop(p);
    uv_close((uv_handle_t *)&p->poll, on_closed);
}
