/* engine/kv.h - an insertion-ordered map from names to texts.
 *
 * The engine keeps the current value of every named view ("rgb") and every
 * retained MQTT topic here, so an adapter can serve or republish them
 * without asking a domain. Loop thread only.
 */
#ifndef HUB_ENGINE_KV_H
#define HUB_ENGINE_KV_H

#include <stddef.h>
#include <stdint.h>

typedef struct hub_kv hub_kv_t;

hub_kv_t *hub_kv_new(void);
void hub_kv_free(hub_kv_t *kv);
/* Set key to text (copied); aux is kept with it (e.g. QoS). */
void hub_kv_set(hub_kv_t *kv, const char *key, const char *text, size_t len, int aux);
/* The text of key or NULL. */
const char *hub_kv_get(const hub_kv_t *kv, const char *key, size_t *len);
void hub_kv_del(hub_kv_t *kv, const char *key);
size_t hub_kv_count(const hub_kv_t *kv);
/* Call fn for every entry in insertion order. */
void hub_kv_foreach(const hub_kv_t *kv,
                    void (*fn)(void *ud, const char *key, const char *text, size_t len, int aux),
                    void *ud);

#endif
