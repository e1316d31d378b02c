/* bench/lg_ws.h - WebSocket clients (libwebsockets) on the loadgen's loop.
 *
 * lws joins the libuv loop as a foreign loop, so HTTP, timers and thousands
 * of WS clients share one thread. Each client is an lg_wsc_t owned by the
 * lg_ws_t that made it; callbacks run on the loop thread. Text frames are
 * delivered whole (fragments are joined), stamped when lws hands them over.
 */
#ifndef LG_WS_H
#define LG_WS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct lg_ws lg_ws_t;
typedef struct lg_wsc lg_wsc_t;

typedef struct lg_ws_ops {
    void (*on_open)(lg_wsc_t *c, void *ud);
    void (*on_text)(lg_wsc_t *c, const char *txt, size_t len, uint64_t t_ns, void *ud);
    /* Failed to connect (was_open 0) or closed (1); close_code 0 if none. */
    void (*on_close)(lg_wsc_t *c, int was_open, int close_code, void *ud);
} lg_ws_ops_t;

lg_ws_t *lg_ws_new(uv_loop_t *loop, const lg_ws_ops_t *ops, void *ud);
/* Start connecting to ws://host:port/path; src_ip NULL or an address to bind.
 * Never NULL: a client that fails reports through on_close. */
lg_wsc_t *lg_ws_connect(lg_ws_t *w, const char *host, int port, const char *path,
                        const char *src_ip, uint32_t id);
uint32_t lg_wsc_id(const lg_wsc_t *c);
int lg_wsc_open(const lg_wsc_t *c);
/* Queue a text frame. Returns -1 if the client is not open. */
int lg_wsc_send(lg_wsc_t *c, const char *txt, size_t len);
size_t lg_wsc_queued(const lg_wsc_t *c);
/* Close every client and free everything (runs the loop until lws is done). */
void lg_ws_free(lg_ws_t *w);

#endif
