/* domains/show/player.c - playback ticks: which show time, when, into what.
 *
 * The player keeps one 512-slot value and set buffer per universe of its
 * program and a cursor on that program, so the render of a tick moving
 * forward costs O(1) per channel and nothing is allocated per tick.
 *
 * Tick arithmetic is exact integer math (a product split around the
 * divisor, saturating instead of overflowing), so the show time of tick k
 * depends only on (transport, k, fps): the player, the tests and any other
 * caller get the same bytes for the same tick.
 *
 * Threading: one thread (the output thread); see player.h.
 */
#include "domains/show/player.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct hub_player {
    int fps;
    hub_show_prog_t *prog;
    hub_show_cursor_t *cursor;
    const int *universes; /* the program's, ascending */
    size_t nunis;
    uint8_t *vals, *set; /* nunis * HUB_SHOW_SLOTS each */
    hub_transport_t tr;
    int dirty;     /* a new program or transport not rendered yet */
    int valid;     /* vals/set hold a render of prog */
    int have_last; /* a tick of this transport was rendered: last_k */
    uint64_t last_k;
    uint64_t ticks;
    int64_t last_time;
};

/* floor(a * b / c) for c > 0, UINT64_MAX when it does not fit. Exact:
 * a = q c + r gives a b / c = q b + r b / c; r b < c b must fit (it does
 * for b, c below 2^32). */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t q = a / c, r = a % c, hi, lo;

    if (b != 0 && q > UINT64_MAX / b)
        return UINT64_MAX;
    hi = q * b;
    lo = r * b / c;
    return hi > UINT64_MAX - lo ? UINT64_MAX : hi + lo;
}

static int64_t clamp_time(int64_t t, int64_t duration_us)
{
    if (t > duration_us)
        t = duration_us;
    return t < 0 ? 0 : t;
}

/* t + sign * mag, saturating. */
static int64_t add_signed(int64_t t, int neg, uint64_t mag)
{
    if (neg)
        return mag > (uint64_t)t - (uint64_t)INT64_MIN ? INT64_MIN : (int64_t)((uint64_t)t - mag);
    return mag > (uint64_t)INT64_MAX - (uint64_t)t ? INT64_MAX : (int64_t)((uint64_t)t + mag);
}

static uint64_t rate_abs(int rate_pm)
{
    return rate_pm < 0 ? (uint64_t)(-(int64_t)rate_pm) : (uint64_t)rate_pm;
}

int64_t hub_transport_tick_time(const hub_transport_t *tr, uint64_t k, int fps, int64_t duration_us)
{
    /* k * 1e6 * rate / (1000 * fps), reduced by 1000: the same quotient. */
    uint64_t d = muldiv(k, 1000 * rate_abs(tr->rate_pm), (uint64_t)(fps > 0 ? fps : 1));

    return clamp_time(add_signed(tr->t_us, tr->rate_pm < 0, d), duration_us);
}

uint64_t hub_transport_tick_mono(const hub_transport_t *tr, uint64_t k, int fps)
{
    uint64_t d = muldiv(k, 1000000, (uint64_t)(fps > 0 ? fps : 1));

    return d > UINT64_MAX - tr->mono_us ? UINT64_MAX : tr->mono_us + d;
}

int64_t hub_transport_time_at(const hub_transport_t *tr, uint64_t now_us, int64_t duration_us)
{
    uint64_t elapsed, d;
    int back;

    if (tr->state != HUB_TRANSPORT_PLAYING)
        return clamp_time(tr->t_us, duration_us);
    back = now_us < tr->mono_us;
    elapsed = back ? tr->mono_us - now_us : now_us - tr->mono_us;
    d = muldiv(elapsed, rate_abs(tr->rate_pm), 1000);
    return clamp_time(add_signed(tr->t_us, back != (tr->rate_pm < 0), d), duration_us);
}

/* The newest tick due at now (now >= tr->mono_us). */
static uint64_t newest_due(const hub_transport_t *tr, int fps, uint64_t now)
{
    /* An estimate from below (floor(elapsed * fps / 1e6)), then at most a
     * step or two to the exact k: due(k) rounds k * 1e6 / fps down. */
    uint64_t k = muldiv(now - tr->mono_us, (uint64_t)fps, 1000000);

    for (int i = 0; i < 4 && hub_transport_tick_mono(tr, k + 1, fps) <= now; i++)
        k++;
    while (k > 0 && hub_transport_tick_mono(tr, k, fps) > now)
        k--;
    return k;
}

hub_player_t *hub_player_new(int fps)
{
    hub_player_t *p = hub_calloc(1, sizeof(*p));

    p->fps = fps > 0 ? fps : 1;
    p->tr.state = HUB_TRANSPORT_STOPPED;
    p->tr.rate_pm = HUB_RATE_ONE;
    p->last_time = -1;
    return p;
}

void hub_player_free(hub_player_t *p)
{
    if (p == NULL)
        return;
    hub_show_cursor_free(p->cursor);
    hub_show_prog_unref(p->prog);
    hub_free(p->vals);
    hub_free(p->set);
    hub_free(p);
}

void hub_player_set_prog(hub_player_t *p, hub_show_prog_t *prog)
{
    hub_show_cursor_free(p->cursor);
    hub_show_prog_unref(p->prog);
    hub_free(p->vals);
    hub_free(p->set);
    p->prog = prog;
    p->cursor = NULL;
    p->universes = NULL;
    p->nunis = 0;
    p->vals = p->set = NULL;
    p->valid = 0;
    p->dirty = 1;
    if (prog == NULL)
        return;
    p->cursor = hub_show_cursor_new(prog);
    p->universes = hub_show_prog_universes(prog, &p->nunis);
    p->vals = hub_calloc(p->nunis + 1, HUB_SHOW_SLOTS);
    p->set = hub_calloc(p->nunis + 1, HUB_SHOW_SLOTS);
}

void hub_player_set_transport(hub_player_t *p, const hub_transport_t *tr)
{
    p->tr = *tr;
    p->dirty = 1;
    p->have_last = 0;
    p->last_k = 0;
    p->ticks = 0;
    p->last_time = -1;
    /* Playing or paused, the previous render stays up until the next tick
     * replaces it; stopped, there is no layer at all. */
    if (tr->state == HUB_TRANSPORT_STOPPED)
        p->valid = 0;
}

/* Playing: a new transport waits for its tick 0 (normally already due);
 * a new program with the transport running re-renders the current tick. */
uint64_t hub_player_next_us(const hub_player_t *p)
{
    if (p->prog == NULL || p->tr.state == HUB_TRANSPORT_STOPPED)
        return UINT64_MAX;
    if (p->tr.state == HUB_TRANSPORT_PAUSED)
        return p->dirty ? 0 : UINT64_MAX;
    if (!p->have_last)
        return p->tr.mono_us;
    if (p->dirty)
        return 0;
    return hub_transport_tick_mono(&p->tr, p->last_k + 1, p->fps);
}

static void render(hub_player_t *p, int64_t t)
{
    for (size_t u = 0; u < p->nunis; u++)
        hub_show_render_universe(p->prog, p->cursor, p->universes[u], t,
                                 p->vals + u * HUB_SHOW_SLOTS, p->set + u * HUB_SHOW_SLOTS);
    p->dirty = 0;
    p->valid = 1;
    p->ticks++;
    p->last_time = t;
}

/* Playing: the newest due tick, unless it is the one already shown. Skipped
 * counts only ticks missed after the transport's first render: a hand-over
 * that arrives a few periods after mono_us starts at the newest due tick,
 * and the ticks before it were never this player's to miss. With a new
 * program and the same transport the current tick renders again
 * (k == last_k), so the new show is up without waiting a period. */
static int tick_playing(hub_player_t *p, uint64_t now_us, uint64_t *late_us, uint64_t *skipped)
{
    uint64_t k;

    if (now_us < p->tr.mono_us)
        return 0;
    k = newest_due(&p->tr, p->fps, now_us);
    if (p->have_last && (k < p->last_k || (k == p->last_k && !p->dirty)))
        return 0;
    *skipped = p->have_last && k > p->last_k ? k - p->last_k - 1 : 0;
    *late_us = now_us - hub_transport_tick_mono(&p->tr, k, p->fps);
    render(p, hub_transport_tick_time(&p->tr, k, p->fps, hub_show_prog_duration_us(p->prog)));
    p->have_last = 1;
    p->last_k = k;
    return 1;
}

int hub_player_tick(hub_player_t *p, uint64_t now_us, uint64_t *late_us, uint64_t *skipped)
{
    uint64_t late = 0, sk = 0;

    if (p->prog == NULL || p->tr.state == HUB_TRANSPORT_STOPPED)
        return 0;
    if (p->tr.state == HUB_TRANSPORT_PAUSED) {
        if (!p->dirty)
            return 0;
        render(p, clamp_time(p->tr.t_us, hub_show_prog_duration_us(p->prog)));
    } else if (!tick_playing(p, now_us, &late, &sk)) {
        return 0;
    }
    if (late_us)
        *late_us = late;
    if (skipped)
        *skipped = sk;
    return 1;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int hub_player_layer(const hub_player_t *p, int universe, const uint8_t **vals, const uint8_t **set)
{
    const int *hit;
    size_t u;

    if (p->prog == NULL || p->tr.state == HUB_TRANSPORT_STOPPED || !p->valid)
        return 0;
    hit = bsearch(&universe, p->universes, p->nunis, sizeof(*p->universes), cmp_int);
    if (hit == NULL)
        return 0;
    u = (size_t)(hit - p->universes);
    *vals = p->vals + u * HUB_SHOW_SLOTS;
    *set = p->set + u * HUB_SHOW_SLOTS;
    return 1;
}

uint64_t hub_player_ticks(const hub_player_t *p)
{
    return p->ticks;
}

int64_t hub_player_last_time(const hub_player_t *p)
{
    return p->last_time;
}
