/* engine/pubtree.h - the published state: a tree of JSON texts.
 *
 * What snapshots show is the state as announced (durable), not the engine's
 * working state, which may hold intents still being committed. It is kept
 * as a tree whose leaves are the JSON texts of the announced changes:
 * "dmx.fixtures.par1" sets the leaf par1 under dmx → fixtures. Rendering
 * joins the texts; nothing is parsed. Children keep their insertion order.
 * Loop thread only.
 */
#ifndef HUB_ENGINE_PUBTREE_H
#define HUB_ENGINE_PUBTREE_H

#include <stddef.h>

#include "core/jbuf.h"

typedef struct hub_pubtree hub_pubtree_t;

hub_pubtree_t *hub_pubtree_new(void);
void hub_pubtree_free(hub_pubtree_t *t);
/* Set the node at path (segments separated by '.') to the JSON text json
 * (len bytes), creating the objects above it. The text "null" removes the
 * node instead (an entity that is gone). */
void hub_pubtree_set(hub_pubtree_t *t, const char *path, const char *json, size_t len);
/* The text of the leaf at path, or NULL (interior node or absent). */
const char *hub_pubtree_get(const hub_pubtree_t *t, const char *path, size_t *len);
/* Append the JSON object {root: value, …} of the named roots, in the order
 * given; a root with nothing under it reads {}. */
void hub_pubtree_render(const hub_pubtree_t *t, hub_jbuf_t *out, const char *const *roots,
                        size_t nroots);
/* Append the object at path ("{}" when absent) without its children named
 * in skip (nskip names): a root whose sub-room was not asked for. */
void hub_pubtree_render_without(const hub_pubtree_t *t, hub_jbuf_t *out, const char *path,
                                const char *const *skip, size_t nskip);
/* Append the JSON value of the node at path ("null" when absent). */
void hub_pubtree_render_at(const hub_pubtree_t *t, hub_jbuf_t *out, const char *path);

#endif
