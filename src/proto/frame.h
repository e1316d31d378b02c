/* proto/frame.h - pre-framed WebSocket text frames, shared across threads.
 *
 * A server frame is unmasked (RFC 6455 5.2), so its bytes are the same for
 * every client: a state is framed once and the same buffer goes to every
 * session, on every network context. A broadcast buffer holds the states of
 * one group commit, seqs seq0, seq0 + 1, ...; offs[i] is where frame i
 * starts, so a session that already has some of them can start later.
 *
 * Threading: built on one thread while refs is 0, then only read; refs is
 * atomic, and the last hub__frame_unref frees it on whichever thread.
 */
#ifndef HUB_PROTO_FRAME_H
#define HUB_PROTO_FRAME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "proto/proto_int.h"

struct hub_frame {
    atomic_int refs;
    int broadcast;       /* states: counts toward broadcast latency */
    unsigned nframes;    /* WebSocket frames in buf */
    uint64_t seq0;       /* broadcast: seq of frame 0 */
    uint32_t *offs;      /* broadcast: start of each frame in buf */
    size_t len, cap;     /* bytes after LWS_PRE, and room for them */
    uint64_t t_us;       /* when its first frame was made */
    unsigned char buf[]; /* LWS_PRE headroom, then len bytes */
};

/* Append one text frame holding data to *fp (created or grown as needed;
 * only while nobody holds a reference). seq is recorded for broadcasts. */
void hub__frame_append(hub_frame_t **fp, const char *data, size_t len, int broadcast, uint64_t seq);
/* A new single text frame (refs 0). */
hub_frame_t *hub__frame_new(const char *data, size_t len);
/* The frames of f from seq on, as a new frame (refs 0); NULL if none. */
hub_frame_t *hub__frame_tail(const hub_frame_t *f, uint64_t seq);
void hub__frame_ref(hub_frame_t *f, int n);
void hub__frame_unref(hub_frame_t *f);
/* Free a frame nobody references (refs 0). */
void hub__frame_free(hub_frame_t *f);

#endif
