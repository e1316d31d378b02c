/* output/artnet_pkt.c - Art-Net 4 packet layouts (see artnet_pkt.h).
 *
 * Offsets are written out per field, in the order of the spec's packet
 * definition tables, rather than through a packed struct: the layout then
 * does not depend on compiler packing or host byte order.
 */
#include "output/artnet_pkt.h"

#include <string.h>

#define OP_POLL          0x2000
#define OP_POLL_REPLY    0x2100
#define OP_DMX           0x5000
#define OP_SYNC          0x5200
#define PROT_VER         14
#define MAX_PORT_ADDRESS 0x7FFF
#define DMX_HEADER_LEN   18
#define POLL_MIN_LEN     14

/* "Art-Net" and its NUL: the ID field that opens every packet. */
static const uint8_t artnet_id[8] = {'A', 'r', 't', '-', 'N', 'e', 't', 0};

/* ID, OpCode (low byte first) and ProtVer (high byte first): the first 12
 * bytes of ArtDmx, ArtSync and ArtPoll. ArtPollReply has no ProtVer. */
static void put_id_opcode(uint8_t *buf, uint16_t opcode)
{
    memcpy(buf, artnet_id, sizeof(artnet_id));
    buf[8] = (uint8_t)(opcode & 0xFF);
    buf[9] = (uint8_t)(opcode >> 8);
}

static void put_header(uint8_t *buf, uint16_t opcode)
{
    put_id_opcode(buf, opcode);
    buf[10] = 0;
    buf[11] = PROT_VER;
}

/* The checks every receiver makes (spec: "Receivers must check this field
 * is correct"; "good packet test: ProtVer >= 14"). len >= 12 is the caller's. */
static int header_is(const uint8_t *buf, uint16_t opcode)
{
    if (memcmp(buf, artnet_id, sizeof(artnet_id)) != 0)
        return 0;
    if ((uint16_t)(buf[8] | buf[9] << 8) != opcode)
        return 0;
    return (buf[10] << 8 | buf[11]) >= PROT_VER;
}

/* Copy s into a fixed field of size bytes: at most size - 1 bytes, then
 * zeros to the end, so the field is always NUL-terminated. */
static void put_string(uint8_t *field, size_t size, const char *s)
{
    size_t n = s ? strnlen(s, size - 1) : 0;

    memcpy(field, s ? s : "", n);
    memset(field + n, 0, size - n);
}

int hub_artnet_port_address(int universe)
{
    if (universe < 1 || universe > MAX_PORT_ADDRESS + 1)
        return -1;
    return universe - 1;
}

size_t hub_artnet_build_dmx(uint8_t buf[HUB_ARTDMX_LEN], uint16_t port_address, uint8_t sequence,
                            uint8_t physical, const uint8_t slots[512])
{
    if (port_address > MAX_PORT_ADDRESS)
        return 0;
    put_header(buf, OP_DMX);
    buf[12] = sequence;
    buf[13] = physical;
    buf[14] = (uint8_t)(port_address & 0xFF); /* SubUni: Sub-Net and Universe */
    buf[15] = (uint8_t)(port_address >> 8);   /* Net, 7 bits */
    buf[16] = 512 >> 8;                       /* Length, high byte first */
    buf[17] = 512 & 0xFF;
    memcpy(buf + DMX_HEADER_LEN, slots, 512);
    return HUB_ARTDMX_LEN;
}

size_t hub_artnet_build_sync(uint8_t buf[HUB_ARTSYNC_LEN])
{
    put_header(buf, OP_SYNC);
    buf[12] = 0; /* Aux1 */
    buf[13] = 0; /* Aux2 */
    return HUB_ARTSYNC_LEN;
}

int hub_artnet_is_poll(const uint8_t *buf, size_t len)
{
    /* 14 bytes, not the 12 of ID + OpCode + ProtVer: the spec says consumers
     * "must accept a packet of length 14 bytes or larger" (ArtPoll, Minimum
     * Packet Length), so Flags and DiagPriority are always there. OLA drops
     * shorter ArtPolls too. */
    if (buf == NULL || len < POLL_MIN_LEN)
        return 0;
    return header_is(buf, OP_POLL);
}

int hub_artnet_poll_target(const uint8_t *buf, size_t len, uint16_t *bottom, uint16_t *top)
{
    /* Flags at 12; TargetPortAddressTop Hi/Lo at 14-15, Bottom at 16-17. */
    if (!hub_artnet_is_poll(buf, len) || len < 18 || (buf[12] & 0x20) == 0)
        return 0;
    *top = (uint16_t)((buf[14] << 8) | buf[15]);
    *bottom = (uint16_t)((buf[16] << 8) | buf[17]);
    return 1;
}

size_t hub_artnet_build_poll_reply(uint8_t buf[HUB_ARTPOLLREPLY_LEN], const hub_artnet_node_t *node,
                                   uint16_t port_address, uint8_t bind_index)
{
    uint16_t esta;

    if (port_address > MAX_PORT_ADDRESS || bind_index == 0)
        return 0;
    /* Everything not set below (Ubea, GoodOutputA/B, SwOut, AcnPriority,
     * SwMacro, SwRemote, Spare, Status3, DefaultRespUID, User, RefreshRate,
     * BackgroundQueuePolicy, Filler) is zero: features a controller without
     * DMX outputs or RDM does not have. */
    memset(buf, 0, HUB_ARTPOLLREPLY_LEN);
    put_id_opcode(buf, OP_POLL_REPLY);
    memcpy(buf + 10, node->ip, 4);
    buf[14] = HUB_ARTNET_PORT & 0xFF; /* Port, low byte first */
    buf[15] = HUB_ARTNET_PORT >> 8;
    /* 16-17 VersInfoH/L: firmware revision, 0. */
    buf[18] = (uint8_t)((port_address >> 8) & 0x7F); /* NetSwitch: Port-Address bits 14..8 */
    buf[19] = (uint8_t)((port_address >> 4) & 0x0F); /* SubSwitch: bits 7..4 */
    buf[20] = 0x00;                                  /* OemHi, Oem: 0x00FF is OemUnknown, */
    buf[21] = 0xFF;                                  /* for products without an OEM code */
    /* Status1: indicators unknown (bits 7-6 = 00: we have none); Port-Address
     * set "by network or Web browser" (bits 5-4 = 10: it comes from our
     * REST/web configuration, not from switches); no RDM, no UBEA. */
    buf[23] = 0x20;
    /* EstaManLo, EstaManHi: low byte first, unlike Oem. 0 is ESTA's own
     * code, so it stands for "not set" and becomes the prototype code. */
    esta = node->esta_man ? node->esta_man : HUB_ARTNET_ESTA_PROTOTYPE;
    buf[24] = (uint8_t)(esta & 0xFF);
    buf[25] = (uint8_t)(esta >> 8);
    put_string(buf + 26, 18, node->short_name);
    put_string(buf + 44, 64, node->long_name);
    put_string(buf + 108, 64, node->node_report);
    buf[172] = 0; /* NumPortsHi */
    buf[173] = 1; /* NumPortsLo: one port per reply (Art-Net 4 binding) */
    /* Port 0 describes our one port (spec, ArtPollReply fields PortTypes,
     * GoodInput, SwIn). The hub sends DMX onto the network, which the spec
     * calls an input: PortTypes bit 6 "can input onto the Art-Net Network",
     * bit 7 (output from the network) clear, bits 5-0 = 000000 DMX512.
     * GoodInput = 0: bit 3 clear means the input is enabled; bit 7 (data
     * received) and the error bits describe live traffic, which a stateless
     * builder cannot know, and bit 0 clear means Art-Net, not sACN.
     * SwIn[0] holds Port-Address bits 3..0; the rest of the address is in
     * NetSwitch and SubSwitch above. Ports 1-3 stay zero: not present. */
    buf[174] = 0x40;
    buf[178] = 0x00;
    buf[186] = (uint8_t)(port_address & 0x0F);
    buf[200] = 0x01; /* Style: StController, "a lighting console" */
    memcpy(buf + 201, node->mac, 6);
    /* BindIp: the root device's address; we are our own root. */
    memcpy(buf + 207, node->ip, 4);
    buf[211] = bind_index;
    /* Status2 bit 3: 15-bit Port-Addresses (Art-Net 3 and 4). We claim no
     * web configuration (bit 0) since the hub's web UI need not be on port
     * 80, nor DHCP (bits 1-2), which is the host's business. */
    buf[212] = 0x08;
    return HUB_ARTPOLLREPLY_LEN;
}

int hub_artnet_parse_dmx(const uint8_t *buf, size_t len, uint16_t *port_address, uint8_t *sequence,
                         const uint8_t **data, size_t *ndata)
{
    size_t length;

    if (buf == NULL || len < DMX_HEADER_LEN || !header_is(buf, OP_DMX))
        return -1;
    length = (size_t)buf[16] << 8 | buf[17];
    /* The spec asks senders for an even Length of 2..512 but receivers
     * should not be fussier than that: accept any 1..512 that is present. */
    if (length == 0 || length > 512 || length > len - DMX_HEADER_LEN)
        return -1;
    *port_address = (uint16_t)((buf[15] & 0x7F) << 8 | buf[14]);
    *sequence = buf[12];
    *data = buf + DMX_HEADER_LEN;
    *ndata = length;
    return 0;
}
