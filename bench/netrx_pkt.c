/* bench/netrx_pkt.c - ArtDmx and E1.31 data packets, read and written.
 *
 * Written from the specifications, independently of src/output/ (a bench
 * that shared the hub's packet code would approve whatever the hub sends):
 * Art-Net 4 (Artistic Licence, "Art-Net 4 Specification", ArtDmx) and
 * ANSI E1.31-2018 (section 4 layouts, tables 4-1 and 4-3). Field offsets
 * are written out; nothing depends on struct packing or host byte order.
 */
#include "netrx.h"

#include <string.h>

#define ART_OP_DMX    0x5000
#define ART_PROT_VER  14
#define ART_HEADER    18
#define E131_HEADER   126 /* through the DMX START code */
#define E131_MAX_PRIO 200

static const uint8_t art_id[8] = {'A', 'r', 't', '-', 'N', 'e', 't', '\0'};
static const uint8_t acn_pid[12] = {'A', 'S', 'C', '-', 'E', '1', '.', '1', '7', 0, 0, 0};

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

netrx_kind_t netrx_parse_artnet(const uint8_t *buf, size_t len, netrx_dmx_t *out)
{
    if (len < 12 || memcmp(buf, art_id, sizeof(art_id)) != 0)
        return NETRX_PKT_MALFORMED;
    /* OpCode is the one little-endian field of Art-Net. */
    uint16_t op = (uint16_t)(buf[8] | buf[9] << 8);
    if (op != ART_OP_DMX)
        return NETRX_PKT_OTHER;
    if (len < ART_HEADER || be16(buf + 10) < ART_PROT_VER)
        return NETRX_PKT_MALFORMED;
    uint16_t n = be16(buf + 16);
    /* Length: even, 2..512, and all of it present. */
    if (n < 2 || n > NETRX_SLOTS || (n & 1) || len < (size_t)ART_HEADER + n)
        return NETRX_PKT_MALFORMED;
    if (buf[15] & 0x80) /* Net is 7 bits */
        return NETRX_PKT_MALFORMED;
    out->universe = (buf[15] << 8 | buf[14]) + 1; /* port-address + 1 */
    out->seq = buf[12];
    out->options = 0;
    out->nslots = n;
    out->slots = buf + ART_HEADER;
    return NETRX_PKT_DMX;
}

/* Flags (high nibble 0x7) and Length of the PDU at `at`, which must run to
 * the end of the datagram (one PDU per layer). */
static int pdu_ok(const uint8_t *buf, size_t len, size_t at)
{
    uint16_t v = be16(buf + at);
    return (v >> 12) == 0x7 && (size_t)(v & 0x0FFF) == len - at;
}

netrx_kind_t netrx_parse_e131(const uint8_t *buf, size_t len, netrx_dmx_t *out)
{
    if (len < 38 || be16(buf) != 0x0010 || be16(buf + 2) != 0 ||
        memcmp(buf + 4, acn_pid, sizeof(acn_pid)) != 0 || !pdu_ok(buf, len, 16))
        return NETRX_PKT_MALFORMED;
    uint32_t root = be32(buf + 18);
    if (root == 0x00000008) /* VECTOR_ROOT_E131_EXTENDED: sync, discovery */
        return NETRX_PKT_OTHER;
    if (root != 0x00000004 || len < E131_HEADER || !pdu_ok(buf, len, 38) ||
        be32(buf + 40) != 0x00000002 || buf[108] > E131_MAX_PRIO || !pdu_ok(buf, len, 115) ||
        buf[117] != 0x02 || buf[118] != 0xa1 || be16(buf + 119) != 0 || be16(buf + 121) != 1)
        return NETRX_PKT_MALFORMED;
    uint16_t count = be16(buf + 123); /* START code + slots */
    uint16_t universe = be16(buf + 113);
    if (count < 1 || count > NETRX_SLOTS + 1 || (size_t)count != len - 125 || universe < 1 ||
        universe > NETRX_MAX_UNIVERSE)
        return NETRX_PKT_MALFORMED;
    if (buf[125] != 0) /* an alternate START code: not dimmer data */
        return NETRX_PKT_OTHER;
    out->universe = universe;
    out->seq = buf[111];
    out->options = buf[112];
    out->nslots = (size_t)count - 1;
    out->slots = buf + E131_HEADER;
    return NETRX_PKT_DMX;
}

size_t netrx_build_artdmx(uint8_t buf[NETRX_ARTDMX_LEN], int universe, uint8_t seq,
                          const uint8_t slots[NETRX_SLOTS])
{
    int pa = universe - 1;
    memcpy(buf, art_id, sizeof(art_id));
    buf[8] = (uint8_t)(ART_OP_DMX & 0xFF);
    buf[9] = (uint8_t)(ART_OP_DMX >> 8);
    put16(buf + 10, ART_PROT_VER);
    buf[12] = seq;
    buf[13] = 0;
    buf[14] = (uint8_t)(pa & 0xFF);
    buf[15] = (uint8_t)((pa >> 8) & 0x7F);
    put16(buf + 16, NETRX_SLOTS);
    memcpy(buf + ART_HEADER, slots, NETRX_SLOTS);
    return NETRX_ARTDMX_LEN;
}

size_t netrx_build_e131(uint8_t buf[NETRX_E131_LEN], const uint8_t cid[16], int universe,
                        uint8_t seq, const uint8_t slots[NETRX_SLOTS])
{
    const size_t len = NETRX_E131_LEN;
    memset(buf, 0, E131_HEADER);
    /* Root layer. */
    put16(buf, 0x0010);
    memcpy(buf + 4, acn_pid, sizeof(acn_pid));
    put16(buf + 16, (uint16_t)(0x7000 | (len - 16)));
    put32(buf + 18, 0x00000004);
    memcpy(buf + 22, cid, 16);
    /* Framing layer: source name "netrx-floor", priority 100, no sync. */
    put16(buf + 38, (uint16_t)(0x7000 | (len - 38)));
    put32(buf + 40, 0x00000002);
    memcpy(buf + 44, "netrx-floor", 11);
    buf[108] = 100;
    buf[111] = seq;
    put16(buf + 113, (uint16_t)universe);
    /* DMP layer: one Set Property of START code + 512 slots. */
    put16(buf + 115, (uint16_t)(0x7000 | (len - 115)));
    buf[117] = 0x02;
    buf[118] = 0xa1;
    put16(buf + 121, 1);
    put16(buf + 123, NETRX_SLOTS + 1);
    memcpy(buf + E131_HEADER, slots, NETRX_SLOTS);
    return len;
}
