/* core/addr.h - "host[:port],…" lists of IPv4 UDP destinations.
 *
 * Art-Net and sACN targets, and the Art-Net listen address, are given this
 * way. Names are resolved once, when the list is parsed (start-up), so the
 * output thread never blocks on DNS.
 */
#ifndef HUB_CORE_ADDR_H
#define HUB_CORE_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hub_addr {
    struct sockaddr_in sin;
    char text[96]; /* "host:port" (the default port filled in; host cut at 80 bytes), for logs */
} hub_addr_t;

/* Parse a comma-separated list (blanks around items ignored; at most 64
 * items). A missing port is default_port. On success *out (hub_free) and *n;
 * an empty list gives n 0. On failure HUB_EINVAL and one line in err naming
 * the item and what is wrong. */
int hub_addr_parse_list(const char *list, uint16_t default_port, hub_addr_t **out, size_t *n,
                        char *err, size_t errlen);

#endif
