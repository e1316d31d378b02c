/* output/sacn_pkt.h - sACN (ANSI E1.31-2018) packets: build data and
 * universe discovery packets, parse data packets, multicast addresses.
 *
 * Pure functions over caller-owned buffers: no sockets, no clock, no state,
 * so any thread may call them. Layouts follow E1.31-2018 Table 4-1 (data
 * packet) and Table 4-3 (universe discovery packet), i.e. the root layer
 * (section 5), framing layer (section 6), DMP layer (section 7) and
 * universe discovery layer (section 8). All multi-byte fields are
 * big-endian. Every PDU starts with Flags and Length: 0x7 in the top
 * nibble, then the PDU's length in octets counted from that field to the
 * end of the packet.
 */
#ifndef HUB_OUTPUT_SACN_PKT_H
#define HUB_OUTPUT_SACN_PKT_H

#include <stddef.h>
#include <stdint.h>

#define HUB_SACN_PORT               5568
#define HUB_SACN_DATA_LEN           638 /* 126-byte header ending in the START code + 512 slots */
#define HUB_SACN_DISCOVERY_UNIVERSE 64214
#define HUB_SACN_DISCOVERY_MAX_LEN  (120 + 2 * 512)
#define HUB_SACN_MAX_UNIVERSE       63999
#define HUB_SACN_MAX_PRIORITY       200
#define HUB_SACN_OPT_PREVIEW        0x80 /* Preview_Data: for visualisers, not for output */
#define HUB_SACN_OPT_TERMINATED     0x40 /* Stream_Terminated: the source stops sending */
#define HUB_SACN_OPT_FORCE_SYNC     0x20 /* Force_Synchronization */

/* Build a data packet carrying a NULL START code and 512 slots into buf.
 * cid is the source's UUID (core/uuid.h). source_name is UTF-8, cut to at
 * most 63 bytes at a character boundary, then NUL-filled to 64; NULL means
 * empty. priority is 0..200, sync_address 0 (no synchronisation) or
 * 1..63999, universe 1..63999, options a set of HUB_SACN_OPT_*.
 * Returns HUB_SACN_DATA_LEN, or 0 (buf untouched) if priority, sync_address
 * or universe is out of range. */
size_t hub_sacn_build_data(uint8_t buf[HUB_SACN_DATA_LEN], const uint8_t cid[16],
                           const char *source_name, uint8_t priority, uint16_t sync_address,
                           uint8_t sequence, uint8_t options, uint16_t universe,
                           const uint8_t slots[512]);

/* Build page `page` of 0..last_page of a universe discovery packet (E1.31
 * section 8) into buf[0..cap): the n universes are the ones this page
 * lists, strictly ascending, each 1..63999, at most 512. Send it to
 * HUB_SACN_DISCOVERY_UNIVERSE's group. Returns its length, 120 + 2 * n, or 0
 * (buf untouched) if cap is too small, n is above 512, page exceeds
 * last_page or the list is not ascending or out of range. */
size_t hub_sacn_build_discovery(uint8_t *buf, size_t cap, const uint8_t cid[16],
                                const char *source_name, uint8_t page, uint8_t last_page,
                                const uint16_t *universes, size_t n);

/* IPv4 multicast group of universe: 239.255.hi.lo (E1.31 section 9.3.1,
 * Table 9-1), e.g. 1 -> 239.255.0.1, 256 -> 239.255.1.0. */
void hub_sacn_multicast_addr(uint16_t universe, uint8_t ip[4]);

/* Parse a data packet (for tests and the benchmark receiver). On success
 * returns 0 and sets universe, sequence, options, priority, cid, slots
 * (pointing into buf, after the START code) and nslots (0..512). Returns
 * -1, writing nothing, unless buf[0..len) is exactly one E1.31 data packet:
 * preamble and post-amble sizes, ACN packet identifier, root vector
 * VECTOR_ROOT_E131_DATA, framing vector VECTOR_E131_DATA_PACKET, universe
 * 1..63999, DMP vector, address/data type 0xa1, first address 0, increment
 * 1, every Flags and Length agreeing with len and a NULL START code (other
 * START codes, such as 0xDD per-address priority, carry no levels and are
 * rejected too). Never reads past len. */
int hub_sacn_parse_data(const uint8_t *buf, size_t len, uint16_t *universe, uint8_t *sequence,
                        uint8_t *options, uint8_t *priority, const uint8_t **slots, size_t *nslots,
                        uint8_t cid[16]);

#endif
