/* tests/unit/test_sacn_pkt.c - output/sacn_pkt: byte-exact E1.31-2018 packets.
 *
 * Every expected packet is written out here by hand from ANSI E1.31-2018
 * Table 4-1 (data packet) and Table 4-3 (universe discovery packet), never
 * produced by the code under test. Flags and Length values are worked out
 * in the comments: 0x7 in the top nibble, then the PDU length from that
 * field to the end of the packet.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/sacn_pkt.h"

static const uint8_t cid[16] = {0x5c, 0x1e, 0x2a, 0x40, 0x8d, 0x3b, 0x4f, 0x11,
                                0x9e, 0x0c, 0x77, 0x61, 0xa2, 0x05, 0xd3, 0xf8};

static void bytes_equal(const uint8_t *got, const uint8_t *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s: first difference at offset %zu: got 0x%02x, want 0x%02x", what, i, got[i],
                     want[i]);
    assert_int_equal(memcmp(got, want, n), 0);
}

static void fill_pattern(uint8_t slots[512], unsigned seed)
{
    for (unsigned i = 0; i < 512; i++)
        slots[i] = (uint8_t)(i * 13 + seed);
}

/* ---- data packet ------------------------------------------------------ */

/* Table 4-1 / Table 5-1 root layer, octets 0-21: Preamble Size 0x0010,
 * Post-amble Size 0x0000, ACN Packet Identifier "ASC-E1.17\0\0\0",
 * Flags and Length 0x7000 | (638 - 16 = 622 = 0x26e), Vector
 * VECTOR_ROOT_E131_DATA 0x00000004. Octets 22-37 are the CID. */
/* clang-format off */
static const uint8_t data_root[22] = {
    0x00, 0x10,                                             /* Preamble Size */
    0x00, 0x00,                                             /* Post-amble Size */
    'A', 'S', 'C', '-', 'E', '1', '.', '1', '7', 0, 0, 0,   /* ACN Packet Identifier */
    0x72, 0x6e,                                             /* Flags and Length */
    0x00, 0x00, 0x00, 0x04,                                 /* Vector */
};
/* clang-format on */
/* Table 6-1 framing layer, octets 38-43: Flags and Length
 * 0x7000 | (638 - 38 = 600 = 0x258), Vector VECTOR_E131_DATA_PACKET
 * 0x00000002. Octets 44-107 are Source Name; 108 Priority, 109-110
 * Synchronization Address, 111 Sequence Number, 112 Options, 113-114
 * Universe. */
static const uint8_t data_framing[6] = {0x72, 0x58, 0x00, 0x00, 0x00, 0x02};
/* Table 7-1 DMP layer, octets 115-125: Flags and Length
 * 0x7000 | (638 - 115 = 523 = 0x20b), Vector VECTOR_DMP_SET_PROPERTY 0x02,
 * Address Type & Data Type 0xa1, First Property Address 0x0000, Address
 * Increment 0x0001, Property value count 0x0201 (513), START code 0x00.
 * Octets 126-637 are the 512 slots. */
/* clang-format off */
static const uint8_t data_dmp[11] = {
    0x72, 0x0b, /* Flags and Length */
    0x02,       /* Vector */
    0xa1,       /* Address Type & Data Type */
    0x00, 0x00, /* First Property Address */
    0x00, 0x01, /* Address Increment */
    0x02, 0x01, /* Property value count */
    0x00,       /* START code */
};
/* clang-format on */

/* The expected 638 bytes: the fixed parts above, a 64-byte name field
 * (given whole, NULs included), then the per-packet framing fields. */
static void expect_data(uint8_t want[638], const uint8_t name[64], uint8_t priority,
                        uint8_t sync_hi, uint8_t sync_lo, uint8_t seq, uint8_t opts, uint8_t uni_hi,
                        uint8_t uni_lo, const uint8_t slots[512])
{
    memcpy(want + 0, data_root, 22);
    memcpy(want + 22, cid, 16);
    memcpy(want + 38, data_framing, 6);
    memcpy(want + 44, name, 64);
    want[108] = priority;
    want[109] = sync_hi;
    want[110] = sync_lo;
    want[111] = seq;
    want[112] = opts;
    want[113] = uni_hi;
    want[114] = uni_lo;
    memcpy(want + 115, data_dmp, 11);
    memcpy(want + 126, slots, 512);
}

static void name_field(uint8_t field[64], const char *s)
{
    memset(field, 0, 64);
    memcpy(field, s, strlen(s));
}

static void check_data(const uint8_t want[638], const char *name, uint8_t priority, uint16_t sync,
                       uint8_t seq, uint8_t opts, uint16_t universe, const uint8_t slots[512],
                       const char *what)
{
    uint8_t got[HUB_SACN_DATA_LEN + 1];

    memset(got, 0xEE, sizeof(got));
    assert_int_equal(
        hub_sacn_build_data(got, cid, name, priority, sync, seq, opts, universe, slots), 638);
    bytes_equal(got, want, 638, what);
    assert_int_equal(got[638], 0xEE);
}

static void test_data_normal(void **state)
{
    uint8_t slots[512], name[64], want[638];

    fill_pattern(slots, 1);
    name_field(name, "showhub");
    /* Priority 100 (0x64), no sync (0x0000), sequence 42, no options, universe 1. */
    expect_data(want, name, 0x64, 0x00, 0x00, 42, 0x00, 0x00, 0x01, slots);
    check_data(want, "showhub", 100, 0, 42, 0, 1, slots, "data, universe 1");
}

static void test_data_terminated(void **state)
{
    uint8_t slots[512], name[64], want[638];

    fill_pattern(slots, 2);
    name_field(name, "showhub");
    /* Options bit 6 Stream_Terminated (0x40); universe 300 = 0x012c; sequence 255. */
    expect_data(want, name, 0x64, 0x00, 0x00, 255, 0x40, 0x01, 0x2c, slots);
    check_data(want, "showhub", 100, 0, 255, HUB_SACN_OPT_TERMINATED, 300, slots, "terminated");
}

static void test_data_priority_200_sync(void **state)
{
    uint8_t slots[512], name[64], want[638];

    fill_pattern(slots, 3);
    name_field(name, "desk A");
    /* Priority 200 (0xc8), sync address 7, options Preview_Data (0x80) and
     * Force_Synchronization (0x20), universe 2. */
    expect_data(want, name, 0xc8, 0x00, 0x07, 0, 0xa0, 0x00, 0x02, slots);
    check_data(want, "desk A", 200, 7, 0, HUB_SACN_OPT_PREVIEW | HUB_SACN_OPT_FORCE_SYNC, 2, slots,
               "priority 200");
}

static void test_data_universe_63999(void **state)
{
    uint8_t slots[512], name[64], want[638];

    fill_pattern(slots, 4);
    name_field(name, "");
    /* Universe 63999 = 0xf9ff; sync address 63999 too; empty name. */
    expect_data(want, name, 0x00, 0xf9, 0xff, 1, 0x00, 0xf9, 0xff, slots);
    check_data(want, "", 0, 63999, 1, 0, 63999, slots, "universe 63999");
    /* NULL name is the same empty field. */
    check_data(want, NULL, 0, 63999, 1, 0, 63999, slots, "universe 63999, NULL name");
}

static void test_data_long_name(void **state)
{
    uint8_t slots[512], name[64], want[638];
    char src[100];

    fill_pattern(slots, 5);
    /* 99 'a': the field holds 63 of them and a NUL (section 6.2.2). */
    memset(src, 'a', sizeof(src) - 1);
    src[sizeof(src) - 1] = '\0';
    memset(name, 'a', 63);
    name[63] = 0;
    expect_data(want, name, 0x64, 0x00, 0x00, 9, 0x00, 0x00, 0x01, slots);
    check_data(want, src, 100, 0, 9, 0, 1, slots, "long name");

    /* Exactly 63 bytes: kept whole. */
    src[63] = '\0';
    check_data(want, src, 100, 0, 9, 0, 1, slots, "63-byte name");

    /* 62 'a' then U+00E9 (C3 A9): byte 63 would split the character, so
     * the name ends after the 62 'a'. */
    memset(src, 'a', 62);
    memcpy(src + 62, "\xc3\xa9zz", 5);
    memset(name, 'a', 62);
    name[62] = 0;
    name[63] = 0;
    expect_data(want, name, 0x64, 0x00, 0x00, 9, 0x00, 0x00, 0x01, slots);
    check_data(want, src, 100, 0, 9, 0, 1, slots, "name cut before a split character");

    /* 61 'a' then U+20AC (E2 82 AC): the character would need bytes 61-63,
     * one past the 63 that fit, so the name ends after the 61 'a'. */
    memset(src, 'a', 61);
    memcpy(src + 61, "\xe2\x82\xac", 4);
    memset(name, 0, 64);
    memset(name, 'a', 61);
    expect_data(want, name, 0x64, 0x00, 0x00, 9, 0x00, 0x00, 0x01, slots);
    check_data(want, src, 100, 0, 9, 0, 1, slots, "3-byte character across byte 63");

    /* 60 'a', U+20AC, then more: the cut at 63 falls after the euro sign,
     * so the first 63 bytes are kept whole. */
    memset(src, 'a', 60);
    memcpy(src + 60, "\xe2\x82\xaczz", 6);
    memset(name, 'a', 60);
    name[60] = 0xe2, name[61] = 0x82, name[62] = 0xac, name[63] = 0;
    expect_data(want, name, 0x64, 0x00, 0x00, 9, 0x00, 0x00, 0x01, slots);
    check_data(want, src, 100, 0, 9, 0, 1, slots, "3-byte character ending at byte 63");
}

static void test_data_rejects(void **state)
{
    uint8_t slots[512] = {0}, got[HUB_SACN_DATA_LEN], keep[HUB_SACN_DATA_LEN];

    memset(got, 0xEE, sizeof(got));
    memcpy(keep, got, sizeof(got));
    assert_int_equal(hub_sacn_build_data(got, cid, "x", 100, 0, 1, 0, 0, slots), 0);
    assert_int_equal(hub_sacn_build_data(got, cid, "x", 100, 0, 1, 0, 64000, slots), 0);
    assert_int_equal(hub_sacn_build_data(got, cid, "x", 100, 0, 1, 0, 64214, slots), 0);
    assert_int_equal(hub_sacn_build_data(got, cid, "x", 201, 0, 1, 0, 1, slots), 0);
    assert_int_equal(hub_sacn_build_data(got, cid, "x", 255, 0, 1, 0, 1, slots), 0);
    assert_int_equal(hub_sacn_build_data(got, cid, "x", 100, 64000, 1, 0, 1, slots), 0);
    bytes_equal(got, keep, sizeof(got), "data buffer after rejection");
}

/* ---- universe discovery packet ----------------------------------------- */

/* Table 4-3 for n universes, length 120 + 2n. Root layer (Table 5-1):
 * preamble, post-amble, identifier, Flags and Length 0x7000 | (len - 16),
 * Vector VECTOR_ROOT_E131_EXTENDED 0x00000008, CID. Framing layer
 * (Table 6-3): Flags and Length 0x7000 | (len - 38), Vector
 * VECTOR_E131_EXTENDED_DISCOVERY 0x00000002, Source Name, Reserved (4).
 * Universe discovery layer (Table 8-1): Flags and Length
 * 0x7000 | (len - 112), Vector VECTOR_UNIVERSE_DISCOVERY_UNIVERSE_LIST
 * 0x00000001, Page, Last Page, universes (2 octets each). The three
 * Flags and Length pairs are passed in as the bytes they must be. */
static void expect_discovery(uint8_t *want, const uint8_t fl_root[2], const uint8_t fl_framing[2],
                             const uint8_t fl_disc[2], const char *name, uint8_t page, uint8_t last)
{
    /* clang-format off */
    static const uint8_t pre[16] = {
        0x00, 0x10, 0x00, 0x00,                             /* Preamble, Post-amble Size */
        'A', 'S', 'C', '-', 'E', '1', '.', '1', '7', 0, 0, 0, /* ACN Packet Identifier */
    };
    memcpy(want + 0, pre, 16);                          /* 0-15 */
    want[16] = fl_root[0];  want[17] = fl_root[1];      /* root Flags and Length */
    want[18] = 0x00; want[19] = 0x00;                   /* root Vector 0x00000008 */
    want[20] = 0x00; want[21] = 0x08;
    memcpy(want + 22, cid, 16);                         /* 22-37 CID */
    want[38] = fl_framing[0]; want[39] = fl_framing[1]; /* framing Flags and Length */
    want[40] = 0x00; want[41] = 0x00;                   /* framing Vector 0x00000002 */
    want[42] = 0x00; want[43] = 0x02;
    memset(want + 44, 0, 64);                           /* 44-107 Source Name */
    memcpy(want + 44, name, strlen(name));
    want[108] = 0; want[109] = 0;                       /* 108-111 Reserved */
    want[110] = 0; want[111] = 0;
    want[112] = fl_disc[0]; want[113] = fl_disc[1];     /* discovery Flags and Length */
    want[114] = 0x00; want[115] = 0x00;                 /* discovery Vector 0x00000001 */
    want[116] = 0x00; want[117] = 0x01;
    want[118] = page;                                   /* Page */
    want[119] = last;                                   /* Last Page */
    /* clang-format on */
}

static void test_discovery_one(void **state)
{
    uint8_t want[122], got[HUB_SACN_DISCOVERY_MAX_LEN];
    const uint16_t u[1] = {1};

    /* Length 122: root 106 = 0x6a, framing 84 = 0x54, discovery 10 = 0x0a. */
    expect_discovery(want, (const uint8_t[]){0x70, 0x6a}, (const uint8_t[]){0x70, 0x54},
                     (const uint8_t[]){0x70, 0x0a}, "showhub", 0, 0);
    want[120] = 0x00, want[121] = 0x01;
    memset(got, 0xEE, sizeof(got));
    assert_int_equal(hub_sacn_build_discovery(got, sizeof(got), cid, "showhub", 0, 0, u, 1), 122);
    bytes_equal(got, want, sizeof(want), "discovery, one universe");
    assert_int_equal(got[122], 0xEE);
    /* An exactly sized buffer is enough. */
    assert_int_equal(hub_sacn_build_discovery(got, 122, cid, "showhub", 0, 0, u, 1), 122);
}

static void test_discovery_512(void **state)
{
    uint8_t want[1144], got[HUB_SACN_DISCOVERY_MAX_LEN + 1];
    uint16_t u[512];

    /* Page 2 of 0..3 lists universes 1025..1536 (0x0401..0x0600). */
    for (int i = 0; i < 512; i++)
        u[i] = (uint16_t)(1025 + i);
    /* Length 1144: root 1128 = 0x468, framing 1106 = 0x452, discovery 1032 = 0x408. */
    expect_discovery(want, (const uint8_t[]){0x74, 0x68}, (const uint8_t[]){0x74, 0x52},
                     (const uint8_t[]){0x74, 0x08}, "hub", 2, 3);
    for (int i = 0; i < 512; i++) {
        want[120 + 2 * i] = (uint8_t)((1025 + i) >> 8);
        want[121 + 2 * i] = (uint8_t)((1025 + i) & 0xff);
    }
    assert_int_equal(want[120], 0x04);
    assert_int_equal(want[121], 0x01);
    assert_int_equal(want[1142], 0x06);
    assert_int_equal(want[1143], 0x00);
    memset(got, 0xEE, sizeof(got));
    assert_int_equal(hub_sacn_build_discovery(got, sizeof(got), cid, "hub", 2, 3, u, 512), 1144);
    bytes_equal(got, want, sizeof(want), "discovery, 512 universes");
    assert_int_equal(got[1144], 0xEE);
}

static void test_discovery_empty_and_pages(void **state)
{
    uint8_t want[120], got[HUB_SACN_DISCOVERY_MAX_LEN];

    /* No universes (a source that stopped them all): length 120, root 104 =
     * 0x68, framing 82 = 0x52, discovery 8 = 0x08; page 0xff of 0xff. */
    expect_discovery(want, (const uint8_t[]){0x70, 0x68}, (const uint8_t[]){0x70, 0x52},
                     (const uint8_t[]){0x70, 0x08}, "", 255, 255);
    assert_int_equal(hub_sacn_build_discovery(got, sizeof(got), cid, NULL, 255, 255, NULL, 0), 120);
    bytes_equal(got, want, sizeof(want), "discovery, no universes");
}

static void test_discovery_rejects(void **state)
{
    uint8_t got[HUB_SACN_DISCOVERY_MAX_LEN + 2], keep[sizeof(got)];
    uint16_t many[513];
    const uint16_t unsorted[3] = {1, 3, 2}, dup[2] = {5, 5}, zero[2] = {0, 1}, high[2] = {1, 64000},
                   ok[2] = {1, 2};

    for (int i = 0; i < 513; i++)
        many[i] = (uint16_t)(i + 1);
    memset(got, 0xEE, sizeof(got));
    memcpy(keep, got, sizeof(got));
    assert_int_equal(hub_sacn_build_discovery(got, sizeof(got), cid, "x", 0, 0, many, 513), 0);
    assert_int_equal(hub_sacn_build_discovery(got, 123, cid, "x", 0, 0, ok, 2), 0);
    assert_int_equal(hub_sacn_build_discovery(got, 0, cid, "x", 0, 0, NULL, 0), 0);
    assert_int_equal(hub_sacn_build_discovery(got, sizeof(got), cid, "x", 0, 0, unsorted, 3), 0);
    assert_int_equal(hub_sacn_build_discovery(got, sizeof(got), cid, "x", 0, 0, dup, 2), 0);
    assert_int_equal(hub_sacn_build_discovery(got, sizeof(got), cid, "x", 0, 0, zero, 2), 0);
    assert_int_equal(hub_sacn_build_discovery(got, sizeof(got), cid, "x", 0, 0, high, 2), 0);
    assert_int_equal(hub_sacn_build_discovery(got, sizeof(got), cid, "x", 2, 1, ok, 2), 0);
    bytes_equal(got, keep, sizeof(got), "discovery buffer after rejection");
    assert_int_equal(hub_sacn_build_discovery(got, 124, cid, "x", 1, 1, ok, 2), 124);
}

/* ---- multicast addresses ---------------------------------------------- */

static void test_multicast_addr(void **state)
{
    static const struct {
        uint16_t universe;
        uint8_t ip[4];
    } cases[] = {
        {1, {239, 255, 0, 1}},
        {255, {239, 255, 0, 255}},
        {256, {239, 255, 1, 0}},
        {63999, {239, 255, 249, 255}},
        {HUB_SACN_DISCOVERY_UNIVERSE, {239, 255, 250, 214}},
    };
    uint8_t ip[4];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(ip, 0, sizeof(ip));
        hub_sacn_multicast_addr(cases[i].universe, ip);
        bytes_equal(ip, cases[i].ip, 4, "multicast address");
    }
}

/* ---- parse ------------------------------------------------------------ */

typedef struct {
    uint16_t universe;
    uint8_t sequence, options, priority;
    const uint8_t *slots;
    size_t nslots;
    uint8_t cid[16];
} parsed_t;

static int parse(const uint8_t *buf, size_t len, parsed_t *p)
{
    return hub_sacn_parse_data(buf, len, &p->universe, &p->sequence, &p->options, &p->priority,
                               &p->slots, &p->nslots, p->cid);
}

static void test_parse_round_trip(void **state)
{
    uint8_t slots[512], pkt[HUB_SACN_DATA_LEN];
    parsed_t p;
    static const uint16_t universes[] = {1, 2, 256, 63999};

    for (size_t i = 0; i < sizeof(universes) / sizeof(universes[0]); i++) {
        fill_pattern(slots, (unsigned)i + 50);
        assert_int_equal(hub_sacn_build_data(pkt, cid, "rt", (uint8_t)(100 + i), 0,
                                             (uint8_t)(7 * i), HUB_SACN_OPT_PREVIEW, universes[i],
                                             slots),
                         638);
        memset(&p, 0, sizeof(p));
        assert_int_equal(parse(pkt, sizeof(pkt), &p), 0);
        assert_int_equal(p.universe, universes[i]);
        assert_int_equal(p.sequence, 7 * i);
        assert_int_equal(p.options, HUB_SACN_OPT_PREVIEW);
        assert_int_equal(p.priority, 100 + i);
        assert_int_equal(p.nslots, 512);
        assert_ptr_equal(p.slots, pkt + 126);
        assert_memory_equal(p.slots, slots, 512);
        assert_memory_equal(p.cid, cid, 16);
    }
}

/* Rewrite a data packet's three Flags and Length fields and its property
 * value count by hand so that they all agree with a total length of len:
 * each PDU runs from its Flags and Length to the end, and the count covers
 * everything from the START code (offset 125) on. */
static void set_lengths(uint8_t *pkt, size_t len)
{
    size_t root = len - 16, framing = len - 38, dmp = len - 115, count = len - 125;

    pkt[16] = (uint8_t)(0x70 | root >> 8), pkt[17] = (uint8_t)root;
    pkt[38] = (uint8_t)(0x70 | framing >> 8), pkt[39] = (uint8_t)framing;
    pkt[115] = (uint8_t)(0x70 | dmp >> 8), pkt[116] = (uint8_t)dmp;
    pkt[123] = (uint8_t)(count >> 8), pkt[124] = (uint8_t)count;
}

/* A full packet shortened by hand to nslots slots. */
static size_t shorten(uint8_t pkt[638], size_t nslots)
{
    set_lengths(pkt, 126 + nslots);
    return 126 + nslots;
}

static void test_parse_fewer_slots(void **state)
{
    uint8_t slots[512], pkt[HUB_SACN_DATA_LEN];
    parsed_t p;

    fill_pattern(slots, 9);
    hub_sacn_build_data(pkt, cid, "few", 100, 0, 3, 0, 10, slots);
    /* 24 slots: length 150, root 0x7086, framing 0x7070, DMP 0x7023, count 25. */
    size_t len = shorten(pkt, 24);
    assert_int_equal(len, 150);
    assert_int_equal(pkt[16], 0x70);
    assert_int_equal(pkt[17], 0x86);
    assert_int_equal(pkt[39], 0x70);
    assert_int_equal(pkt[116], 0x23);
    assert_int_equal(parse(pkt, len, &p), 0);
    assert_int_equal(p.nslots, 24);
    assert_int_equal(p.universe, 10);
    assert_memory_equal(p.slots, slots, 24);
    /* START code only, no slots: count 1. */
    hub_sacn_build_data(pkt, cid, "few", 100, 0, 3, 0, 10, slots);
    len = shorten(pkt, 0);
    assert_int_equal(parse(pkt, len, &p), 0);
    assert_int_equal(p.nslots, 0);
}

static void test_parse_malformed(void **state)
{
    uint8_t slots[512] = {0}, good[HUB_SACN_DATA_LEN], pkt[HUB_SACN_DATA_LEN + 4];
    parsed_t p, keep;
    char what[64];

    hub_sacn_build_data(good, cid, "bad", 100, 0, 1, 0, 1, slots);
    memset(&p, 0xAB, sizeof(p));
    keep = p;

    /* Each single-byte change that must make the packet invalid. */
    static const struct {
        size_t at;
        uint8_t value;
        const char *why;
    } edits[] = {
        {1, 0x11, "preamble size"},
        {3, 0x01, "post-amble size"},
        {4, 'a', "ACN identifier"},
        {12, '8', "ACN identifier"},
        {15, 0x01, "ACN identifier padding"},
        {16, 0x62, "root flags"},
        {17, 0x6f, "root length"},
        {21, 0x08, "root vector (extended)"},
        {18, 0x01, "root vector high byte"},
        {38, 0x32, "framing flags"},
        {39, 0x57, "framing length"},
        {43, 0x01, "framing vector"},
        {114, 0x00, "universe 0"},
        {115, 0x62, "DMP flags"},
        {116, 0x0c, "DMP length"},
        {117, 0x01, "DMP vector"},
        {118, 0xa0, "address and data type"},
        {120, 0x01, "first property address"},
        {122, 0x02, "address increment"},
        {124, 0x02, "property value count"},
        {125, 0xdd, "START code 0xDD"},
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        memcpy(pkt, good, sizeof(good));
        pkt[edits[i].at] = edits[i].value;
        snprintf(what, sizeof(what), "%s (offset %zu)", edits[i].why, edits[i].at);
        if (parse(pkt, sizeof(good), &p) != -1)
            fail_msg("accepted bad %s", what);
    }
    /* Universe 64000 (0xfa00) and the discovery universe. */
    memcpy(pkt, good, sizeof(good));
    pkt[113] = 0xfa, pkt[114] = 0x00;
    assert_int_equal(parse(pkt, sizeof(good), &p), -1);
    pkt[113] = 0xfa, pkt[114] = 0xd6;
    assert_int_equal(parse(pkt, sizeof(good), &p), -1);

    /* Truncated: lengths say 638, fewer bytes given; every length below
     * the header in an exactly sized heap block (ASan catches over-reads). */
    assert_int_equal(parse(good, 637, &p), -1);
    for (size_t len = 0; len < 126; len++) {
        uint8_t *h = malloc(len ? len : 1);
        assert_non_null(h);
        memcpy(h, good, len);
        int rc = parse(h, len, &p);
        free(h);
        if (rc != -1)
            fail_msg("accepted %zu bytes", len);
    }
    assert_int_equal(parse(NULL, 638, &p), -1);
    /* Lengths that agree with each other but describe no START code
     * (125 bytes, count 0) or 513 slots (639 bytes, count 514). */
    memcpy(pkt, good, sizeof(good));
    set_lengths(pkt, 125);
    assert_int_equal(parse(pkt, 125, &p), -1);
    memcpy(pkt, good, sizeof(good));
    pkt[638] = 0;
    set_lengths(pkt, 639);
    assert_int_equal(parse(pkt, 639, &p), -1);
    /* Trailing bytes beyond what the lengths say. */
    memcpy(pkt, good, sizeof(good));
    assert_int_equal(parse(pkt, sizeof(good) + 2, &p), -1);
    /* A discovery packet is not a data packet. */
    const uint16_t u[1] = {1};
    size_t dlen = hub_sacn_build_discovery(pkt, sizeof(pkt), cid, "d", 0, 0, u, 1);
    assert_int_equal(parse(pkt, dlen, &p), -1);

    /* No failed parse wrote anything. */
    assert_memory_equal(&p, &keep, sizeof(p));
    /* And the untouched packet still parses. */
    assert_int_equal(parse(good, sizeof(good), &p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_normal),
        cmocka_unit_test(test_data_terminated),
        cmocka_unit_test(test_data_priority_200_sync),
        cmocka_unit_test(test_data_universe_63999),
        cmocka_unit_test(test_data_long_name),
        cmocka_unit_test(test_data_rejects),
        cmocka_unit_test(test_discovery_one),
        cmocka_unit_test(test_discovery_512),
        cmocka_unit_test(test_discovery_empty_and_pages),
        cmocka_unit_test(test_discovery_rejects),
        cmocka_unit_test(test_multicast_addr),
        cmocka_unit_test(test_parse_round_trip),
        cmocka_unit_test(test_parse_fewer_slots),
        cmocka_unit_test(test_parse_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
