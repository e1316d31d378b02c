/* output/sacn_pkt.c - E1.31-2018 packet layouts (see sacn_pkt.h).
 *
 * Offsets are written out per field, in the order of E1.31 Tables 4-1 and
 * 4-3, rather than through a packed struct: the layout then does not depend
 * on compiler packing or host byte order.
 */
#include "output/sacn_pkt.h"

#include <string.h>

#define VECTOR_ROOT_E131_DATA                   0x00000004u
#define VECTOR_ROOT_E131_EXTENDED               0x00000008u
#define VECTOR_E131_DATA_PACKET                 0x00000002u
#define VECTOR_E131_EXTENDED_DISCOVERY          0x00000002u
#define VECTOR_UNIVERSE_DISCOVERY_UNIVERSE_LIST 0x00000001u
#define VECTOR_DMP_SET_PROPERTY                 0x02
#define DMP_ADDRESS_DATA_TYPE                   0xa1

/* Where each layer starts (E1.31 Tables 4-1 and 4-3). */
#define ROOT_PDU         16  /* root layer Flags and Length, after the preamble */
#define FRAMING_PDU      38  /* after the root layer's vector and CID */
#define DMP_PDU          115 /* data packet: after the framing layer */
#define DISCOVERY_PDU    112 /* discovery packet: after its shorter framing layer */
#define DATA_HEADER      126 /* data packet bytes up to and including the START code */
#define DISCOVERY_HEADER 120
#define SOURCE_NAME_LEN  64

/* ACN Packet Identifier (E1.31 section 5.3): "ASC-E1.17" and three NULs. */
static const uint8_t acn_id[12] = {'A', 'S', 'C', '-', 'E', '1', '.', '1', '7', 0, 0, 0};

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)(v & 0xFF);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Flags and Length of a PDU starting at offset `at` in a packet of total
 * bytes: the PDU runs to the end of the packet, since each of ours holds
 * exactly one PDU per layer. */
static void put_flags_length(uint8_t *buf, size_t at, size_t total)
{
    put_u16(buf + at, (uint16_t)(0x7000 | (total - at)));
}

static int flags_length_ok(const uint8_t *buf, size_t at, size_t total)
{
    uint16_t v = get_u16(buf + at);

    return (v >> 12) == 0x7 && (v & 0x0FFF) == total - at;
}

/* Source Name (E1.31 section 6.2.2): 64 bytes, UTF-8, NUL-terminated. A
 * name cut at byte 63 could end in half a character, which receivers would
 * show as garbage, so the cut moves back to the start of that character. */
static void put_source_name(uint8_t *field, const char *name)
{
    size_t n = name ? strnlen(name, SOURCE_NAME_LEN) : 0;

    if (n == SOURCE_NAME_LEN) {
        n = SOURCE_NAME_LEN - 1;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(field, name ? name : "", n);
    memset(field + n, 0, SOURCE_NAME_LEN - n);
}

/* Root layer (E1.31 section 5, Table 5-1): preamble, post-amble, ACN
 * packet identifier, Flags and Length, vector, CID. */
static void put_root(uint8_t *buf, size_t total, uint32_t vector, const uint8_t cid[16])
{
    put_u16(buf + 0, 0x0010); /* Preamble Size */
    put_u16(buf + 2, 0x0000); /* Post-amble Size */
    memcpy(buf + 4, acn_id, sizeof(acn_id));
    put_flags_length(buf, ROOT_PDU, total);
    put_u32(buf + 18, vector);
    memcpy(buf + 22, cid, 16);
}

size_t hub_sacn_build_data(uint8_t buf[HUB_SACN_DATA_LEN], const uint8_t cid[16],
                           const char *source_name, uint8_t priority, uint16_t sync_address,
                           uint8_t sequence, uint8_t options, uint16_t universe,
                           const uint8_t slots[512])
{
    const size_t total = HUB_SACN_DATA_LEN;

    /* Section 6.2.3: "No priority outside the range of 0 to 200 shall be
     * transmitted"; sections 6.2.4 and 6.2.7: universes 1..63999. */
    if (priority > HUB_SACN_MAX_PRIORITY || sync_address > HUB_SACN_MAX_UNIVERSE || universe < 1 ||
        universe > HUB_SACN_MAX_UNIVERSE)
        return 0;
    put_root(buf, total, VECTOR_ROOT_E131_DATA, cid);

    /* Framing layer (section 6, Table 6-1). */
    put_flags_length(buf, FRAMING_PDU, total);
    put_u32(buf + 40, VECTOR_E131_DATA_PACKET);
    put_source_name(buf + 44, source_name);
    buf[108] = priority;
    put_u16(buf + 109, sync_address);
    buf[111] = sequence;
    buf[112] = options;
    put_u16(buf + 113, universe);

    /* DMP layer (section 7, Table 7-1): one Set Property message whose 513
     * values are the START code and the slots. */
    put_flags_length(buf, DMP_PDU, total);
    buf[117] = VECTOR_DMP_SET_PROPERTY;
    buf[118] = DMP_ADDRESS_DATA_TYPE;
    put_u16(buf + 119, 0x0000); /* First Property Address */
    put_u16(buf + 121, 0x0001); /* Address Increment */
    put_u16(buf + 123, 513);    /* Property value count */
    buf[125] = 0x00;            /* NULL START code: dimmer levels */
    memcpy(buf + DATA_HEADER, slots, 512);
    return total;
}

size_t hub_sacn_build_discovery(uint8_t *buf, size_t cap, const uint8_t cid[16],
                                const char *source_name, uint8_t page, uint8_t last_page,
                                const uint16_t *universes, size_t n)
{
    size_t total = DISCOVERY_HEADER + 2 * n;

    if (n > 512 || cap < total || page > last_page)
        return 0;
    /* Section 8.5: "Universe numbers shall be sorted from lowest to highest". */
    for (size_t i = 0; i < n; i++) {
        if (universes[i] < 1 || universes[i] > HUB_SACN_MAX_UNIVERSE)
            return 0;
        if (i > 0 && universes[i] <= universes[i - 1])
            return 0;
    }
    put_root(buf, total, VECTOR_ROOT_E131_EXTENDED, cid);

    /* Framing layer (section 6, Table 6-3): no priority, sequence or
     * universe, just four reserved bytes after the name. */
    put_flags_length(buf, FRAMING_PDU, total);
    put_u32(buf + 40, VECTOR_E131_EXTENDED_DISCOVERY);
    put_source_name(buf + 44, source_name);
    memset(buf + 108, 0, 4); /* Reserved */

    /* Universe discovery layer (section 8, Table 8-1). */
    put_flags_length(buf, DISCOVERY_PDU, total);
    put_u32(buf + 114, VECTOR_UNIVERSE_DISCOVERY_UNIVERSE_LIST);
    buf[118] = page;
    buf[119] = last_page;
    for (size_t i = 0; i < n; i++)
        put_u16(buf + DISCOVERY_HEADER + 2 * i, universes[i]);
    return total;
}

void hub_sacn_multicast_addr(uint16_t universe, uint8_t ip[4])
{
    ip[0] = 239;
    ip[1] = 255;
    ip[2] = (uint8_t)(universe >> 8);
    ip[3] = (uint8_t)(universe & 0xFF);
}

int hub_sacn_parse_data(const uint8_t *buf, size_t len, uint16_t *universe, uint8_t *sequence,
                        uint8_t *options, uint8_t *priority, const uint8_t **slots, size_t *nslots,
                        uint8_t cid[16])
{
    uint16_t u;

    if (buf == NULL || len < DATA_HEADER || len > HUB_SACN_DATA_LEN)
        return -1;
    /* Root layer (section 5). */
    if (get_u16(buf + 0) != 0x0010 || get_u16(buf + 2) != 0x0000 ||
        memcmp(buf + 4, acn_id, sizeof(acn_id)) != 0 || !flags_length_ok(buf, ROOT_PDU, len) ||
        get_u32(buf + 18) != VECTOR_ROOT_E131_DATA)
        return -1;
    /* Framing layer (section 6). */
    u = get_u16(buf + 113);
    if (!flags_length_ok(buf, FRAMING_PDU, len) || get_u32(buf + 40) != VECTOR_E131_DATA_PACKET ||
        u < 1 || u > HUB_SACN_MAX_UNIVERSE)
        return -1;
    /* DMP layer (section 7): the value count covers the START code and the
     * slots, so it too must reach exactly to the end of the packet. */
    if (!flags_length_ok(buf, DMP_PDU, len) || buf[117] != VECTOR_DMP_SET_PROPERTY ||
        buf[118] != DMP_ADDRESS_DATA_TYPE || get_u16(buf + 119) != 0x0000 ||
        get_u16(buf + 121) != 0x0001 || get_u16(buf + 123) != len - (DATA_HEADER - 1) ||
        buf[125] != 0x00)
        return -1;
    *universe = u;
    *sequence = buf[111];
    *options = buf[112];
    *priority = buf[108];
    *slots = buf + DATA_HEADER;
    *nslots = len - DATA_HEADER;
    memcpy(cid, buf + 22, 16);
    return 0;
}
