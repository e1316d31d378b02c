/* output/artnet_pkt.h - Art-Net 4 packets: build ArtDmx, ArtSync, ArtPollReply;
 * recognise ArtPoll; parse ArtDmx.
 *
 * Pure functions over caller-owned buffers: no sockets, no clock, no state,
 * so any thread may call them. Layouts follow the Art-Net 4 specification
 * (Artistic Licence, "Art-Net 4", packet definition tables for ArtPoll,
 * ArtPollReply, ArtDmx and ArtSync). Byte order as the spec fixes it:
 * OpCode and ArtPollReply's Port low byte first, ProtVer and Length high
 * byte first.
 *
 * Universes: a hub universe u (1-based, 1..32768) is Art-Net Port-Address
 * u - 1 (15 bits: Net = bits 14..8, Sub-Net = bits 7..4, Universe =
 * bits 3..0), the numbering QLC+ shows. See hub_artnet_port_address().
 */
#ifndef HUB_OUTPUT_ARTNET_PKT_H
#define HUB_OUTPUT_ARTNET_PKT_H

#include <stddef.h>
#include <stdint.h>

#define HUB_ARTNET_PORT           6454 /* UDP port, 0x1936 */
#define HUB_ARTDMX_LEN            530  /* 18-byte header + 512 slots */
#define HUB_ARTSYNC_LEN           14
#define HUB_ARTPOLLREPLY_LEN      239
#define HUB_ARTNET_ESTA_PROTOTYPE 0x7FF0 /* ESTA codes 0x7FF0..0x7FFF are for prototypes */

/* Port-Address of hub universe universe (1-based): universe - 1, or -1 when
 * universe is outside 1..32768. */
int hub_artnet_port_address(int universe);

/* Build a full-universe ArtDmx into buf: ProtVer 14, Length 512, the given
 * Sequence (1..255; 0 tells receivers not to reorder) and Physical (an
 * informational input-port number), and a copy of slots. Returns
 * HUB_ARTDMX_LEN, or 0 (buf untouched) if port_address is above 32767. */
size_t hub_artnet_build_dmx(uint8_t buf[HUB_ARTDMX_LEN], uint16_t port_address, uint8_t sequence,
                            uint8_t physical, const uint8_t slots[512]);

/* Build an ArtSync into buf. Returns HUB_ARTSYNC_LEN. */
size_t hub_artnet_build_sync(uint8_t buf[HUB_ARTSYNC_LEN]);

/* 1 if buf[0..len) is an ArtPoll: the "Art-Net" ID, OpCode OpPoll, ProtVer
 * at least 14 and at least 14 bytes (ID, OpCode, ProtVer, Flags,
 * DiagPriority: the spec's minimum; newer ArtPolls are longer and their
 * extra fields are ignored). Else 0. Never reads past len. */
int hub_artnet_is_poll(const uint8_t *buf, size_t len);

/* For an ArtPoll (hub_artnet_is_poll): 1 when it is targeted (Flags bit 5,
 * Art-Net 4, with its TargetPortAddressTop/Bottom present: 18 bytes or
 * more) and only Port-Addresses bottom..top are to answer; 0 when every
 * port answers. */
int hub_artnet_poll_target(const uint8_t *buf, size_t len, uint16_t *bottom, uint16_t *top);

/* What an ArtPollReply says about this node. Strings are copied, never
 * kept; NULL means empty. */
typedef struct hub_artnet_node {
    uint8_t ip[4];           /* node's IPv4 address, network order */
    uint8_t mac[6];          /* all zero if unknown */
    const char *short_name;  /* truncated to 17 chars + NUL */
    const char *long_name;   /* truncated to 63 chars + NUL */
    const char *node_report; /* truncated to 63 chars + NUL; spec form "#xxxx [yyyy] text" */
    uint16_t esta_man;       /* ESTA manufacturer code; 0 means HUB_ARTNET_ESTA_PROTOTYPE */
} hub_artnet_node_t;

/* Build one ArtPollReply describing one port that transmits DMX onto the
 * network for port_address (an Art-Net "input" port, in the spec's
 * words), as bound node bind_index (1..255; Art-Net 4 sends one reply per
 * port, told apart by BindIndex). Returns HUB_ARTPOLLREPLY_LEN, or 0 (buf
 * untouched) if port_address is above 32767 or bind_index is 0. */
size_t hub_artnet_build_poll_reply(uint8_t buf[HUB_ARTPOLLREPLY_LEN], const hub_artnet_node_t *node,
                                   uint16_t port_address, uint8_t bind_index);

/* Parse an ArtDmx (for tests and the benchmark receiver). On success
 * returns 0 and sets the 15-bit port_address, sequence, data (pointing
 * into buf) and ndata (the Length field, 1..512). Returns -1, writing
 * nothing, if buf[0..len) is not an ArtDmx: short header, wrong ID or
 * OpCode, ProtVer below 14, Length 0 or above 512, or Length larger than
 * the bytes present. Never reads past len. */
int hub_artnet_parse_dmx(const uint8_t *buf, size_t len, uint16_t *port_address, uint8_t *sequence,
                         const uint8_t **data, size_t *ndata);

#endif
