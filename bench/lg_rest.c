/* bench/lg_rest.c - POST /rgb (or /api/v1/intents) over a pool of keep-alive connections. */
#include "lg_rest.h"

#include <stdlib.h>
#include <string.h>

#include "lg_http.h"

#define FIFO_CAP (1u << 21)

typedef struct conn {
    lg_rest_t *r;
    lg_http_t *h;
    uint32_t k; /* command in flight */
    int busy;
    int parked; /* on the idle stack */
    int opened; /* connected at least once */
} conn_t;

struct lg_rest {
    lg_cmds_t *cmds;
    const char *src;
    int intents; /* POST /api/v1/intents instead of /rgb */
    lg_rest_done done;
    void *ud;
    conn_t *conns;
    int nconns, connected;
    conn_t **idle; /* stack of idle connections */
    int nidle;
    uint32_t *fifo; /* ring of queued command indexes */
    size_t head, count;
    size_t inflight;
    lg_hist_t hist;
    lg_rest_counts_t counts;
};

static void push_front(lg_rest_t *r, uint32_t k)
{
    r->head = (r->head + FIFO_CAP - 1) % FIFO_CAP;
    r->fifo[r->head] = k;
    r->count++;
}

/* Send k on c; if c cannot take it now, k goes back to the queue head. */
static int send_on(lg_rest_t *r, conn_t *c, uint32_t k)
{
    char body[256];
    size_t len = r->intents ? lg_cmds_intent_body(r->cmds, k, r->src, body, sizeof(body))
                            : lg_cmds_body(r->cmds, k, r->src, 0, body, sizeof(body));
    /* Mark busy first: a failed write answers -1 from inside lg_http_send. */
    c->k = k;
    c->busy = 1;
    r->inflight++;
    r->counts.sent++;
    if (lg_http_send(c->h, "POST", r->intents ? "/api/v1/intents" : "/rgb", body, len) < 0) {
        c->busy = 0;
        r->inflight--;
        r->counts.sent--;
        push_front(r, k);
        return -1;
    }
    return 0;
}

/* c is idle: give it the next queued command or park it. */
static void feed(lg_rest_t *r, conn_t *c)
{
    if (c->busy || c->parked || !lg_http_idle(c->h))
        return;
    if (r->count > 0) {
        uint32_t k = r->fifo[r->head];
        r->head = (r->head + 1) % FIFO_CAP;
        r->count--;
        send_on(r, c, k);
        return;
    }
    c->parked = 1;
    r->idle[r->nidle++] = c;
}

static int classify(int status, const char *body, size_t len)
{
    if (status < 0)
        return LG_ANS_NOCONN;
    if (status == 200) {
        if (body && memmem(body, len, "\"duplicate\"", 11))
            return LG_ANS_DUPLICATE;
        return LG_ANS_APPLIED;
    }
    if (status == 202)
        return LG_ANS_ACCEPTED;
    if (status == 503)
        return LG_ANS_OVERLOAD;
    return LG_ANS_ERROR;
}

static void on_resp(lg_http_t *h, int status, const char *body, size_t len, uint64_t t, void *ud)
{
    conn_t *c = ud;
    lg_rest_t *r = c->r;
    if (!c->busy)
        return;
    uint32_t k = c->k;
    int ans = classify(status, body, len);
    c->busy = 0;
    r->inflight--;
    r->counts.answered++;
    r->counts.by_ans[ans]++;
    if (ans == LG_ANS_ERROR)
        r->counts.status_other++;
    r->cmds->answer[k] = (uint8_t)ans;
    if (ans == LG_ANS_APPLIED) {
        double sq;
        if (lg_json_num(body, len, "seq", &sq) == 0)
            r->cmds->seq[k] = (uint64_t)sq;
    }
    uint64_t due = r->cmds->intended_ns[k];
    lg_hist_add(&r->hist, t > due ? t - due : 0);
    if (r->done)
        r->done(k, ans, t, r->ud);
    feed(r, c);
}

static void on_ready(lg_http_t *h, void *ud)
{
    conn_t *c = ud;
    if (!c->opened) {
        c->opened = 1;
        c->r->connected++;
    }
    feed(c->r, c);
}

lg_rest_t *lg_rest_new(uv_loop_t *loop, const lg_opts_t *o, lg_cmds_t *cmds, int nconns,
                       const char *src, lg_rest_done done, void *ud)
{
    lg_rest_t *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->cmds = cmds;
    r->src = src;
    r->done = done;
    r->ud = ud;
    r->nconns = nconns;
    r->conns = calloc((size_t)nconns, sizeof(*r->conns));
    r->idle = calloc((size_t)nconns, sizeof(*r->idle));
    r->fifo = malloc(FIFO_CAP * sizeof(uint32_t));
    if (!r->conns || !r->idle || !r->fifo)
        abort();
    lg_hist_init(&r->hist);
    for (int i = 0; i < nconns; i++) {
        r->conns[i].r = r;
        r->conns[i].h =
            lg_http_new(loop, &o->dst, lg_src_ip(o, (unsigned)i), on_resp, on_ready, &r->conns[i]);
    }
    return r;
}

void lg_rest_use_intents(lg_rest_t *r)
{
    r->intents = 1;
}

int lg_rest_submit(lg_rest_t *r, uint32_t k)
{
    while (r->nidle > 0) {
        conn_t *c = r->idle[--r->nidle];
        c->parked = 0;
        if (lg_http_idle(c->h)) {
            if (send_on(r, c, k) == 0)
                return 0;
            /* k went back to the queue head; take it off again and retry */
            r->head = (r->head + 1) % FIFO_CAP;
            r->count--;
        }
        /* not idle any more (reconnecting): on_ready will feed it */
    }
    if (r->count >= FIFO_CAP)
        return -1;
    r->fifo[(r->head + r->count) % FIFO_CAP] = k;
    r->count++;
    return 0;
}

size_t lg_rest_backlog(const lg_rest_t *r)
{
    return r->count;
}

size_t lg_rest_inflight(const lg_rest_t *r)
{
    return r->inflight;
}

int lg_rest_connected(const lg_rest_t *r)
{
    return r->connected;
}

lg_hist_t *lg_rest_hist(lg_rest_t *r)
{
    return &r->hist;
}

const lg_rest_counts_t *lg_rest_counts(const lg_rest_t *r)
{
    return &r->counts;
}

void lg_rest_free(lg_rest_t *r)
{
    for (int i = 0; i < r->nconns; i++)
        lg_http_close(r->conns[i].h);
    free(r->conns);
    free(r->idle);
    free(r->fifo);
    free(r);
}
