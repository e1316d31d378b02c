/* bench/lg_http.h - minimal HTTP/1.1 keep-alive client on a libuv loop.
 *
 * One request in flight per connection (no pipelining), Content-Length and
 * chunked bodies, automatic reconnect (bounded) when the server closes.
 * Loop thread only.
 */
#ifndef LG_HTTP_H
#define LG_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <uv.h>

typedef struct lg_http lg_http_t;

/* Answer to the request in flight: status >= 100, or -1 when the connection
 * broke before the answer (body NULL). t_ns: when the answer was complete. */
typedef void (*lg_http_resp_cb)(lg_http_t *c, int status, const char *body, size_t len,
                                uint64_t t_ns, void *ud);
/* The connection is (again) open and idle. */
typedef void (*lg_http_ready_cb)(lg_http_t *c, void *ud);

/* src_ip: NULL or an address to bind to (spreads ephemeral ports). */
lg_http_t *lg_http_new(uv_loop_t *loop, const struct sockaddr_in *dst, const char *src_ip,
                       lg_http_resp_cb on_resp, lg_http_ready_cb on_ready, void *ud);
/* Send one request. Returns 0, or -1 when not idle (connecting or busy). */
int lg_http_send(lg_http_t *c, const char *method, const char *path, const char *body, size_t len);
int lg_http_idle(const lg_http_t *c);
/* 1 once reconnecting has been given up. */
int lg_http_dead(const lg_http_t *c);
/* Slot for the caller (e.g. the command in flight). */
uint64_t *lg_http_tag(lg_http_t *c);
/* Close and free (after the loop runs the close callbacks). No callbacks after. */
void lg_http_close(lg_http_t *c);

#endif
