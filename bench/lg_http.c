/* bench/lg_http.c - minimal HTTP/1.1 keep-alive client (see lg_http.h). */
#include "lg_http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lg_cmd.h"

enum { ST_CONNECTING, ST_IDLE, ST_BUSY, ST_WAIT, ST_DEAD };
#define MAX_FAILS 20 /* consecutive failed connects before giving up */
#define RETRY_MS  50

struct lg_http {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t retry;
    struct sockaddr_in dst, src;
    int has_src;
    int state;
    int closing;      /* lg_http_close called */
    int open_handles; /* handles not yet closed */
    int fails;
    uint64_t tag;
    char *wbuf;
    size_t wcap;
    char *rbuf;
    size_t rlen, rcap;
    lg_http_resp_cb on_resp;
    lg_http_ready_cb on_ready;
    void *ud;
};

static void start_connect(lg_http_t *c);

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        abort();
    }
    return p;
}

static void on_handle_closed(uv_handle_t *h)
{
    lg_http_t *c = h->data;
    if (--c->open_handles > 0)
        return;
    free(c->wbuf);
    free(c->rbuf);
    free(c);
}

static void on_retry(uv_timer_t *t)
{
    start_connect(t->data);
}

static void on_tcp_closed_retry(uv_handle_t *h)
{
    lg_http_t *c = h->data;
    if (c->closing) {
        on_handle_closed(h);
        return;
    }
    c->open_handles--;
    if (c->state == ST_DEAD)
        return;
    uv_timer_start(&c->retry, on_retry, c->fails ? RETRY_MS : 0, 0);
}

/* The connection broke or the server asked to close: fail what is in
 * flight, then reconnect unless we gave up. */
static void drop_conn(lg_http_t *c)
{
    int was_busy = c->state == ST_BUSY;
    c->state = c->fails >= MAX_FAILS ? ST_DEAD : ST_WAIT;
    c->rlen = 0;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed_retry);
    if (was_busy && !c->closing)
        c->on_resp(c, -1, NULL, 0, lg_now_ns(), c->ud);
}

/* Parse one complete response at the head of rbuf. Returns bytes consumed,
 * 0 if incomplete, -1 if malformed. */
static long parse_resp(lg_http_t *c, int *status, char **body, size_t *blen, int *close_after)
{
    char *hend = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!hend)
        return c->rlen > 65536 ? -1 : 0;
    size_t hlen = (size_t)(hend - c->rbuf) + 4;
    if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(c->rbuf + 9);
    long clen = -1;
    int chunked = 0;
    *close_after = 0;
    for (char *p = memchr(c->rbuf, '\n', hlen); p && p < hend;) {
        p++;
        char *eol = memchr(p, '\n', (size_t)(hend + 2 - p));
        size_t ll = eol ? (size_t)(eol - p) : (size_t)(hend - p);
        if (ll > 15 && !strncasecmp(p, "content-length:", 15))
            clen = strtol(p + 15, NULL, 10);
        else if (ll > 18 && !strncasecmp(p, "transfer-encoding:", 18) &&
                 memmem(p, ll, "chunked", 7))
            chunked = 1;
        else if (ll > 11 && !strncasecmp(p, "connection:", 11) && memmem(p, ll, "close", 5))
            *close_after = 1;
        p = eol;
    }
    if (!chunked) {
        if (clen < 0)
            clen = 0;
        if (c->rlen < hlen + (size_t)clen)
            return 0;
        *body = c->rbuf + hlen;
        *blen = (size_t)clen;
        return (long)(hlen + (size_t)clen);
    }
    /* Chunked: decode in place behind the headers once all chunks are in. */
    size_t in = hlen, out = hlen;
    for (;;) {
        char *eol = memmem(c->rbuf + in, c->rlen - in, "\r\n", 2);
        if (!eol)
            return 0;
        size_t n = strtoul(c->rbuf + in, NULL, 16);
        size_t data = (size_t)(eol - c->rbuf) + 2;
        if (c->rlen < data + n + 2)
            return 0;
        if (n == 0) {
            char *tend = memmem(c->rbuf + data - 2, c->rlen - data + 2, "\r\n\r\n", 4);
            if (!tend)
                return 0;
            *body = c->rbuf + hlen;
            *blen = out - hlen;
            return (long)((size_t)(tend - c->rbuf) + 4);
        }
        memmove(c->rbuf + out, c->rbuf + data, n);
        out += n;
        in = data + n + 2;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    lg_http_t *c = h->data;
    if (c->rcap - c->rlen < 16384) {
        c->rcap = c->rcap ? c->rcap * 2 : 32768;
        c->rbuf = xrealloc(c->rbuf, c->rcap);
    }
    buf->base = c->rbuf + c->rlen;
    buf->len = c->rcap - c->rlen;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    lg_http_t *c = s->data;
    if (nread < 0) {
        drop_conn(c);
        return;
    }
    c->rlen += (size_t)nread;
    while (c->rlen > 0 && c->state == ST_BUSY) {
        int status = 0, close_after = 0;
        char *body = NULL;
        size_t blen = 0;
        long used = parse_resp(c, &status, &body, &blen, &close_after);
        if (used == 0)
            return;
        if (used < 0) {
            drop_conn(c);
            return;
        }
        uint64_t t = lg_now_ns();
        c->state = close_after ? ST_WAIT : ST_IDLE;
        c->on_resp(c, status, body, blen, t, c->ud);
        if (c->closing)
            return;
        memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
        c->rlen -= (size_t)used;
        if (close_after) {
            c->rlen = 0;
            if (!uv_is_closing((uv_handle_t *)&c->tcp))
                uv_close((uv_handle_t *)&c->tcp, on_tcp_closed_retry);
            return;
        }
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    lg_http_t *c = req->data;
    if (c->closing)
        return;
    if (status < 0) {
        c->fails++;
        drop_conn(c);
        return;
    }
    c->fails = 0;
    c->state = ST_IDLE;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (c->on_ready)
        c->on_ready(c, c->ud);
}

static void start_connect(lg_http_t *c)
{
    if (c->closing)
        return;
    uv_tcp_init(c->loop, &c->tcp);
    c->tcp.data = c;
    c->open_handles++;
    c->state = ST_CONNECTING;
    uv_tcp_nodelay(&c->tcp, 1);
    if (c->has_src)
        uv_tcp_bind(&c->tcp, (const struct sockaddr *)&c->src, 0);
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&c->dst, on_connect);
    if (rc < 0) {
        c->fails++;
        drop_conn(c);
    }
}

lg_http_t *lg_http_new(uv_loop_t *loop, const struct sockaddr_in *dst, const char *src_ip,
                       lg_http_resp_cb on_resp, lg_http_ready_cb on_ready, void *ud)
{
    lg_http_t *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->loop = loop;
    c->dst = *dst;
    if (src_ip) {
        uv_ip4_addr(src_ip, 0, &c->src);
        c->has_src = 1;
    }
    c->on_resp = on_resp;
    c->on_ready = on_ready;
    c->ud = ud;
    uv_timer_init(loop, &c->retry);
    c->retry.data = c;
    c->open_handles = 1;
    start_connect(c);
    return c;
}

static void on_written(uv_write_t *req, int status)
{
    lg_http_t *c = req->data;
    if (status < 0 && !c->closing && c->state == ST_BUSY)
        drop_conn(c);
}

int lg_http_send(lg_http_t *c, const char *method, const char *path, const char *body, size_t len)
{
    if (c->state != ST_IDLE)
        return -1;
    size_t need = len + 256 + strlen(path);
    if (c->wcap < need) {
        c->wcap = need;
        c->wbuf = xrealloc(c->wbuf, need);
    }
    int h =
        body
            ? snprintf(c->wbuf, c->wcap,
                       "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n",
                       method, path, len)
            : snprintf(c->wbuf, c->wcap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    size_t total = (size_t)h;
    if (body) {
        memcpy(c->wbuf + total, body, len);
        total += len;
    }
    c->state = ST_BUSY;
    uv_buf_t b = uv_buf_init(c->wbuf, (unsigned)total);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)total)
        return 0;
    if (n < 0 && n != UV_EAGAIN) {
        drop_conn(c);
        return 0; /* answered -1 through the callback */
    }
    if (n > 0) {
        b.base += n;
        b.len -= (size_t)n;
    }
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        drop_conn(c);
    return 0;
}

int lg_http_idle(const lg_http_t *c)
{
    return c->state == ST_IDLE;
}

int lg_http_dead(const lg_http_t *c)
{
    return c->state == ST_DEAD;
}

uint64_t *lg_http_tag(lg_http_t *c)
{
    return &c->tag;
}

void lg_http_close(lg_http_t *c)
{
    c->closing = 1;
    uv_timer_stop(&c->retry);
    int tcp_open = c->state != ST_WAIT && c->state != ST_DEAD;
    if (tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    /* Otherwise tcp is closed, or closing with on_tcp_closed_retry, which
     * sees `closing` and finishes the count. */
    uv_close((uv_handle_t *)&c->retry, on_handle_closed);
}
