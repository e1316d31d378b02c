/* proto/frame.h - pre-framed WebSocket text frames, shared across threads.
 *
 * A server frame is unmasked (RFC 6455 5.2), so its bytes are the same for
 * every client: a message is framed once and the same buffer goes to every
 * session, on every network context. A buffer holds several frames (one
 * group commit's patches, state frames and results, or one tick's DMX
 * frames); each frame has metadata saying who it is for: the rooms it goes
 * to, its seq (a session skips what it already has), a single target
 * session (a result), or a universe (room "frames"). A session that wants
 * every frame gets the buffer itself; others get a selection, built once
 * per distinct need.
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

#define HUB_FRAME_SEQ      1u /* sequenced: a session that has seq already skips it */
#define HUB_FRAME_PRIVATE  2u /* for target only */
#define HUB_FRAME_UNIVERSE 4u /* a DMX frame: sessions may narrow room "frames" by universe */

typedef struct hub_frame_meta {
    uint32_t off, len; /* where it is in buf (after LWS_PRE), header included */
    uint64_t seq;      /* HUB_FRAME_SEQ */
    uint64_t rooms;    /* room bits it goes to (not PRIVATE) */
    uint64_t target;   /* HUB_FRAME_PRIVATE: the id of the peer it is for */
    int universe;      /* HUB_FRAME_UNIVERSE */
    unsigned flags;
} hub_frame_meta_t;

typedef struct hub_frame {
    atomic_int refs;
    int broadcast;          /* counts toward broadcast latency */
    unsigned nframes;       /* WebSocket frames in buf */
    hub_frame_meta_t *meta; /* one per frame */
    size_t len, cap;        /* bytes after LWS_PRE, and room for them */
    uint64_t t_us;          /* when its first frame was made */
    uint64_t max_seq;       /* highest seq of its sequenced frames, 0 if none */
    unsigned char buf[];    /* LWS_PRE headroom, then len bytes */
} hub_frame_t;

/* Append one text frame holding data to *fp (created or grown as needed;
 * only while nobody holds a reference). m gives seq/rooms/target/universe/
 * flags (off and len are filled in); NULL: a private, unsequenced frame
 * with no target (for a buffer sent to one session). */
void hub__frame_append(hub_frame_t **fp, const char *data, size_t len, const hub_frame_meta_t *m);
/* A new single text frame (refs 0). */
hub_frame_t *hub__frame_new(const char *data, size_t len);
/* The frames of f for which keep() is true: f itself when all are, NULL
 * when none is, else a new buffer (refs 0) with just those, in order. */
hub_frame_t *hub__frame_select(hub_frame_t *f, int (*keep)(const hub_frame_meta_t *m, void *ud),
                               void *ud);
void hub__frame_ref(hub_frame_t *f, int n);
void hub__frame_unref(hub_frame_t *f);
/* Free a frame nobody references (refs 0). */
void hub__frame_free(hub_frame_t *f);

#endif
