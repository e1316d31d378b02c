/* tests/unit/test_artnet_pkt.c - output/artnet_pkt: byte-exact Art-Net 4 packets.
 *
 * Every expected packet is written out here by hand from the Art-Net 4
 * specification's packet definition tables (ArtDmx, ArtSync, ArtPoll,
 * ArtPollReply), never produced by the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/artnet_pkt.h"

/* memcmp that names the first differing offset. */
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
        slots[i] = (uint8_t)(i * 7 + seed);
}

/* ---- port-address mapping ------------------------------------------- */

static void test_port_address_mapping(void **state)
{
    assert_int_equal(hub_artnet_port_address(1), 0);
    assert_int_equal(hub_artnet_port_address(2), 1);
    assert_int_equal(hub_artnet_port_address(16), 15);
    assert_int_equal(hub_artnet_port_address(17), 16);
    assert_int_equal(hub_artnet_port_address(257), 256);
    assert_int_equal(hub_artnet_port_address(32768), 32767);
    assert_int_equal(hub_artnet_port_address(0), -1);
    assert_int_equal(hub_artnet_port_address(-1), -1);
    assert_int_equal(hub_artnet_port_address(32769), -1);
    assert_int_equal(hub_artnet_port_address(65536), -1);
}

/* ---- ArtDmx ----------------------------------------------------------- */

/* ArtDmx packet definition table: ID[8] "Art-Net\0"; OpCode OpDmx 0x5000
 * low byte first (00 50); ProtVerHi 0, ProtVerLo 14; Sequence; Physical;
 * SubUni (Port-Address low byte: Sub-Net << 4 | Universe); Net (bits 14-8);
 * LengthHi, Length (512 = 02 00); Data[512]. */
/* One case per row, header bytes in table order. */
/* clang-format off */
static const struct {
    uint16_t port_address;
    uint8_t sequence;
    uint8_t physical;
    uint8_t header[18];
} dmx_cases[] = {
    {0,     1,   0,   {'A','r','t','-','N','e','t',0, 0x00,0x50, 0,14,   1,   0, 0x00,0x00, 0x02,0x00}},
    {15,    2,   1,   {'A','r','t','-','N','e','t',0, 0x00,0x50, 0,14,   2,   1, 0x0F,0x00, 0x02,0x00}},
    {16,    255, 2,   {'A','r','t','-','N','e','t',0, 0x00,0x50, 0,14, 255,   2, 0x10,0x00, 0x02,0x00}},
    {255,   0,   3,   {'A','r','t','-','N','e','t',0, 0x00,0x50, 0,14,   0,   3, 0xFF,0x00, 0x02,0x00}},
    {256,   128, 0,   {'A','r','t','-','N','e','t',0, 0x00,0x50, 0,14, 128,   0, 0x00,0x01, 0x02,0x00}},
    {32767, 77,  255, {'A','r','t','-','N','e','t',0, 0x00,0x50, 0,14,  77, 255, 0xFF,0x7F, 0x02,0x00}},
};
/* clang-format on */

static void test_dmx_bytes(void **state)
{
    uint8_t slots[512], want[530], got[HUB_ARTDMX_LEN + 1];
    char what[64];

    for (size_t c = 0; c < sizeof(dmx_cases) / sizeof(dmx_cases[0]); c++) {
        fill_pattern(slots, (unsigned)c);
        memcpy(want, dmx_cases[c].header, 18);
        memcpy(want + 18, slots, 512); /* Data[512] */
        memset(got, 0xEE, sizeof(got));
        assert_int_equal(hub_artnet_build_dmx(got, dmx_cases[c].port_address, dmx_cases[c].sequence,
                                              dmx_cases[c].physical, slots),
                         530);
        snprintf(what, sizeof(what), "ArtDmx port-address %u", dmx_cases[c].port_address);
        bytes_equal(got, want, 530, what);
        assert_int_equal(got[530], 0xEE); /* nothing written past the packet */
    }
}

static void test_dmx_rejects_wide_port_address(void **state)
{
    uint8_t slots[512] = {0}, got[HUB_ARTDMX_LEN], keep[HUB_ARTDMX_LEN];

    memset(got, 0xEE, sizeof(got));
    memcpy(keep, got, sizeof(got));
    assert_int_equal(hub_artnet_build_dmx(got, 32768, 1, 0, slots), 0);
    assert_int_equal(hub_artnet_build_dmx(got, 0xFFFF, 1, 0, slots), 0);
    bytes_equal(got, keep, sizeof(got), "ArtDmx buffer after rejection");
}

/* ---- ArtSync ---------------------------------------------------------- */

static void test_sync_bytes(void **state)
{
    /* ArtSync packet definition table: ID[8]; OpCode OpSync 0x5200 low
     * byte first (00 52); ProtVerHi 0, ProtVerLo 14; Aux1 0, Aux2 0. */
    static const uint8_t want[14] = {'A', 'r', 't', '-', 'N', 'e', 't', 0, 0x00, 0x52, 0, 14, 0, 0};
    uint8_t got[HUB_ARTSYNC_LEN + 1];

    memset(got, 0xEE, sizeof(got));
    assert_int_equal(hub_artnet_build_sync(got), 14);
    bytes_equal(got, want, sizeof(want), "ArtSync");
    assert_int_equal(got[14], 0xEE);
}

/* ---- ArtPoll ---------------------------------------------------------- */

/* ArtPoll packet definition table: ID[8]; OpCode OpPoll 0x2000 (00 20);
 * ProtVerHi, ProtVerLo; Flags; DiagPriority (14 bytes, Art-Net II/3);
 * Art-Net 4 adds TargetPortAddressTop/Bottom Hi/Lo, EstaMan Hi/Lo,
 * Oem Hi/Lo (22 bytes). */
static const uint8_t poll14[14] = {'A', 'r',  't',  '-', 'N', 'e',  't',
                                   0,   0x00, 0x20, 0,   14,  0x02, 0x10};
static const uint8_t poll22[22] = {'A', 'r',  't',  '-',  'N',  'e',  't',  0,    0x00, 0x20, 0,
                                   14,  0x06, 0x80, 0x7F, 0xFF, 0x00, 0x00, 0x7F, 0xF0, 0x00, 0xFF};

static void test_is_poll_valid(void **state)
{
    uint8_t p[64];

    assert_int_equal(hub_artnet_is_poll(poll14, sizeof(poll14)), 1);
    assert_int_equal(hub_artnet_is_poll(poll22, sizeof(poll22)), 1);
    /* A later revision's longer ArtPoll: extra bytes are ignored. */
    memset(p, 0, sizeof(p));
    memcpy(p, poll22, sizeof(poll22));
    assert_int_equal(hub_artnet_is_poll(p, sizeof(p)), 1);
    /* ProtVer above 14 passes the spec's "ProtVer >= 14" test. */
    memcpy(p, poll14, sizeof(poll14));
    p[11] = 15;
    assert_int_equal(hub_artnet_is_poll(p, 14), 1);
    p[10] = 1;
    p[11] = 0;
    assert_int_equal(hub_artnet_is_poll(p, 14), 1);
}

/* Art-Net 4 targeted mode: Flags bit 5 with TargetPortAddressTop (14-15)
 * and Bottom (16-17), high byte first. */
static void test_poll_target(void **state)
{
    uint8_t p[22];
    uint16_t lo = 1, hi = 1;

    (void)state;
    memcpy(p, poll22, sizeof(p));
    assert_int_equal(hub_artnet_poll_target(p, sizeof(p), &lo, &hi), 0); /* bit 5 clear */
    p[12] |= 0x20;
    p[14] = 0x00;
    p[15] = 0x12; /* top 18 */
    p[16] = 0x00;
    p[17] = 0x10; /* bottom 16 */
    assert_int_equal(hub_artnet_poll_target(p, sizeof(p), &lo, &hi), 1);
    assert_int_equal(lo, 16);
    assert_int_equal(hi, 18);
    p[14] = 0x7F;
    p[15] = 0xFF;
    p[16] = 0x01;
    p[17] = 0x00;
    assert_int_equal(hub_artnet_poll_target(p, 18, &lo, &hi), 1);
    assert_int_equal(lo, 256);
    assert_int_equal(hi, 32767);
    /* Too short to hold the range: every port answers. */
    assert_int_equal(hub_artnet_poll_target(p, 17, &lo, &hi), 0);
    uint8_t q[14];
    memcpy(q, poll14, sizeof(q));
    q[12] |= 0x20;
    assert_int_equal(hub_artnet_poll_target(q, sizeof(q), &lo, &hi), 0);
    /* Not an ArtPoll at all. */
    p[8] = 0x00;
    p[9] = 0x50;
    assert_int_equal(hub_artnet_poll_target(p, sizeof(p), &lo, &hi), 0);
}

static void test_is_poll_short(void **state)
{
    /* Fewer than the 14 bytes the spec guarantees, down to nothing. Each
     * prefix sits in a heap block of exactly len bytes, so a read past len
     * is caught under ASan (the dev preset). */
    for (size_t len = 0; len < 14; len++) {
        uint8_t *p = malloc(len ? len : 1);
        assert_non_null(p);
        memcpy(p, poll14, len);
        int rc = hub_artnet_is_poll(p, len);
        free(p);
        if (rc != 0)
            fail_msg("accepted a %zu-byte ArtPoll", len);
    }
    assert_int_equal(hub_artnet_is_poll(NULL, 0), 0);
    assert_int_equal(hub_artnet_is_poll(NULL, 14), 0);
}

static void test_is_poll_wrong(void **state)
{
    uint8_t p[14];
    static const uint8_t garbage[32] = {0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const uint8_t zeros[14] = {0};

    assert_int_equal(hub_artnet_is_poll(garbage, sizeof(garbage)), 0);
    assert_int_equal(hub_artnet_is_poll(zeros, sizeof(zeros)), 0);

    /* Wrong OpCodes: OpPollReply, OpDmx, OpSync, and OpPoll high byte first. */
    static const uint8_t ops[][2] = {{0x00, 0x21}, {0x00, 0x50}, {0x00, 0x52}, {0x20, 0x00}};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        memcpy(p, poll14, sizeof(p));
        p[8] = ops[i][0];
        p[9] = ops[i][1];
        if (hub_artnet_is_poll(p, sizeof(p)) != 0)
            fail_msg("accepted OpCode bytes %02x %02x", ops[i][0], ops[i][1]);
    }
    /* Every ID byte matters, the NUL included. */
    for (int i = 0; i < 8; i++) {
        memcpy(p, poll14, sizeof(p));
        p[i] ^= 0x20;
        if (hub_artnet_is_poll(p, sizeof(p)) != 0)
            fail_msg("accepted ID with byte %d changed", i);
    }
    /* ProtVer 13 fails the good packet test. */
    memcpy(p, poll14, sizeof(p));
    p[11] = 13;
    assert_int_equal(hub_artnet_is_poll(p, sizeof(p)), 0);
    /* An ArtDmx is not an ArtPoll. */
    uint8_t dmx[HUB_ARTDMX_LEN], slots[512] = {0};
    hub_artnet_build_dmx(dmx, 0, 1, 0, slots);
    assert_int_equal(hub_artnet_is_poll(dmx, sizeof(dmx)), 0);
}

/* ---- ArtPollReply ----------------------------------------------------- */

static void put_str(uint8_t *field, const char *s)
{
    memcpy(field, s, strlen(s));
}

static void test_poll_reply_bytes(void **state)
{
    const hub_artnet_node_t node = {
        .ip = {192, 168, 1, 20},
        .mac = {0x02, 0x42, 0xAC, 0x11, 0x00, 0x02},
        .short_name = "showhub",
        .long_name = "showhub lighting hub",
        .node_report = "#0001 [0042] ok",
        .esta_man = 0x7FF3,
    };
    /* Port-Address 0x5ABC: Net 0x5A, Sub-Net 0xB, Universe 0xC. */
    const uint16_t pa = 0x5ABC;
    uint8_t want[239], got[HUB_ARTPOLLREPLY_LEN + 1];

    /* ArtPollReply packet definition table, field by field; every byte not
     * written here is zero. */
    memset(want, 0, sizeof(want));
    /* clang-format off */
    put_str(want + 0, "Art-Net");               /* 0-7     ID, NUL at 7 */
    want[8] = 0x00;   want[9] = 0x21;           /* 8-9     OpCode OpPollReply 0x2100, low first */
    want[10] = 192;   want[11] = 168;           /* 10-13   IP Address */
    want[12] = 1;     want[13] = 20;
    want[14] = 0x36;  want[15] = 0x19;          /* 14-15   Port 0x1936, low byte first */
                                                /* 16-17   VersInfoH/L: 0 */
    want[18] = 0x5A;                            /* 18      NetSwitch: Port-Address bits 14-8 */
    want[19] = 0x0B;                            /* 19      SubSwitch: bits 7-4 */
    want[20] = 0x00;  want[21] = 0xFF;          /* 20-21   OemHi, Oem: OemUnknown 0x00FF */
                                                /* 22      UbeaVersion: 0 */
    want[23] = 0x20;                            /* 23      Status1: PAP network/web (5-4 = 10) */
    want[24] = 0xF3;  want[25] = 0x7F;          /* 24-25   EstaManLo, EstaManHi */
    put_str(want + 26, "showhub");              /* 26-43   ShortName[18] */
    put_str(want + 44, "showhub lighting hub"); /* 44-107  LongName[64] */
    put_str(want + 108, "#0001 [0042] ok");     /* 108-171 NodeReport[64] */
    want[172] = 0;    want[173] = 1;            /* 172-173 NumPortsHi, NumPortsLo */
    want[174] = 0x40;                           /* 174-177 PortTypes[0]: input to Art-Net, DMX512 */
    want[178] = 0x00;                           /* 178-181 GoodInput[0]: enabled, no status */
                                                /* 182-185 GoodOutputA: 0 */
    want[186] = 0x0C;                           /* 186-189 SwIn[0]: Port-Address bits 3-0 */
                                                /* 190-193 SwOut: 0 */
                                                /* 194-196 AcnPriority, SwMacro, SwRemote: 0 */
                                                /* 197-199 Spare: 0 */
    want[200] = 0x01;                           /* 200     Style: StController */
    want[201] = 0x02; want[202] = 0x42;         /* 201-206 MAC, high byte first */
    want[203] = 0xAC; want[204] = 0x11;
    want[205] = 0x00; want[206] = 0x02;
    want[207] = 192;  want[208] = 168;          /* 207-210 BindIp: our own (root) address */
    want[209] = 1;    want[210] = 20;
    want[211] = 3;                              /* 211     BindIndex */
    want[212] = 0x08;                           /* 212     Status2: 15-bit Port-Address */
                                                /* 213-216 GoodOutputB, 217 Status3,
                                                 * 218-223 DefaultRespUID, 224-225 User,
                                                 * 226-227 RefreshRate,
                                                 * 228 BackgroundQueuePolicy,
                                                 * 229-238 Filler: all 0 */
    /* clang-format on */

    memset(got, 0xEE, sizeof(got));
    assert_int_equal(hub_artnet_build_poll_reply(got, &node, pa, 3), 239);
    bytes_equal(got, want, sizeof(want), "ArtPollReply");
    assert_int_equal(got[239], 0xEE);
}

static void test_poll_reply_defaults_and_truncation(void **state)
{
    char long_short[40], long_long[100], long_report[100];
    uint8_t got[HUB_ARTPOLLREPLY_LEN];

    memset(long_short, 'S', sizeof(long_short) - 1);
    long_short[sizeof(long_short) - 1] = '\0';
    memset(long_long, 'L', sizeof(long_long) - 1);
    long_long[sizeof(long_long) - 1] = '\0';
    memset(long_report, 'R', sizeof(long_report) - 1);
    long_report[sizeof(long_report) - 1] = '\0';

    hub_artnet_node_t node = {
        .short_name = long_short, .long_name = long_long, .node_report = long_report};
    assert_int_equal(hub_artnet_build_poll_reply(got, &node, 0, 1), 239);
    /* esta_man 0 becomes the prototype code 0x7FF0, low byte first. */
    assert_int_equal(got[24], 0xF0);
    assert_int_equal(got[25], 0x7F);
    /* ShortName: 17 characters and a NUL; LongName, NodeReport: 63 and a NUL. */
    for (int i = 0; i < 17; i++)
        assert_int_equal(got[26 + i], 'S');
    assert_int_equal(got[43], 0);
    for (int i = 0; i < 63; i++) {
        assert_int_equal(got[44 + i], 'L');
        assert_int_equal(got[108 + i], 'R');
    }
    assert_int_equal(got[107], 0);
    assert_int_equal(got[171], 0);
    assert_int_equal(got[172], 0); /* the next field is untouched by the strings */
    assert_int_equal(got[173], 1);
    /* Port-Address 0: Net, Sub-Net and SwIn[0] all zero; BindIndex 1. */
    assert_int_equal(got[18], 0);
    assert_int_equal(got[19], 0);
    assert_int_equal(got[186], 0);
    assert_int_equal(got[211], 1);

    /* NULL names are empty fields. */
    hub_artnet_node_t bare = {.ip = {10, 0, 0, 1}};
    memset(got, 0xEE, sizeof(got));
    assert_int_equal(hub_artnet_build_poll_reply(got, &bare, 32767, 255), 239);
    for (int i = 26; i < 172; i++)
        if (got[i] != 0)
            fail_msg("name byte %d is 0x%02x", i, got[i]);
    assert_int_equal(got[18], 0x7F);
    assert_int_equal(got[19], 0x0F);
    assert_int_equal(got[186], 0x0F);
    assert_int_equal(got[211], 255);
}

static void test_poll_reply_rejects(void **state)
{
    hub_artnet_node_t node = {.short_name = "x"};
    uint8_t got[HUB_ARTPOLLREPLY_LEN], keep[HUB_ARTPOLLREPLY_LEN];

    memset(got, 0xEE, sizeof(got));
    memcpy(keep, got, sizeof(got));
    assert_int_equal(hub_artnet_build_poll_reply(got, &node, 0, 0), 0);
    assert_int_equal(hub_artnet_build_poll_reply(got, &node, 32768, 1), 0);
    bytes_equal(got, keep, sizeof(got), "ArtPollReply buffer after rejection");
}

/* ---- parse ArtDmx ----------------------------------------------------- */

static void test_parse_dmx_round_trip(void **state)
{
    uint8_t slots[512], pkt[HUB_ARTDMX_LEN];
    uint16_t pa;
    uint8_t seq;
    const uint8_t *data;
    size_t n;

    for (size_t c = 0; c < sizeof(dmx_cases) / sizeof(dmx_cases[0]); c++) {
        fill_pattern(slots, (unsigned)c + 100);
        hub_artnet_build_dmx(pkt, dmx_cases[c].port_address, dmx_cases[c].sequence, 0, slots);
        assert_int_equal(hub_artnet_parse_dmx(pkt, sizeof(pkt), &pa, &seq, &data, &n), 0);
        assert_int_equal(pa, dmx_cases[c].port_address);
        assert_int_equal(seq, dmx_cases[c].sequence);
        assert_int_equal(n, 512);
        assert_ptr_equal(data, pkt + 18);
        assert_memory_equal(data, slots, 512);
    }
}

static void test_parse_dmx_short_universe(void **state)
{
    /* Hand-made ArtDmx with Length 6 for Port-Address 0x0123, sequence 9,
     * as a sender of fewer than 512 slots writes it. */
    static const uint8_t pkt[24] = {'A', 'r', 't',  '-',  'N',  'e', 't', 0,  0x00, 0x50, 0,  14,
                                    9,   0,   0x23, 0x01, 0x00, 6,   10,  20, 30,   40,   50, 60};
    uint16_t pa;
    uint8_t seq;
    const uint8_t *data;
    size_t n;

    assert_int_equal(hub_artnet_parse_dmx(pkt, sizeof(pkt), &pa, &seq, &data, &n), 0);
    assert_int_equal(pa, 0x0123);
    assert_int_equal(seq, 9);
    assert_int_equal(n, 6);
    assert_int_equal(data[0], 10);
    assert_int_equal(data[5], 60);
    /* Bytes after Length are ignored (some senders pad). */
    uint8_t padded[sizeof(pkt) + 2] = {0};
    memcpy(padded, pkt, sizeof(pkt));
    assert_int_equal(hub_artnet_parse_dmx(padded, sizeof(padded), &pa, &seq, &data, &n), 0);
    assert_int_equal(n, 6);
}

static void test_parse_dmx_malformed(void **state)
{
    uint8_t slots[512] = {0}, good[HUB_ARTDMX_LEN], p[HUB_ARTDMX_LEN];
    uint16_t pa = 0xAAAA;
    uint8_t seq = 0xAA;
    const uint8_t *data = NULL;
    size_t n = 0xAA;

    hub_artnet_build_dmx(good, 5, 1, 0, slots);

    /* Short: every length below the 18-byte header, and header-only; each
     * in a heap block of exactly len bytes (see test_is_poll_short). */
    for (size_t len = 0; len <= 18; len++) {
        uint8_t *h = malloc(len ? len : 1);
        assert_non_null(h);
        memcpy(h, good, len);
        int rc = hub_artnet_parse_dmx(h, len, &pa, &seq, &data, &n);
        free(h);
        if (rc != -1)
            fail_msg("accepted %zu bytes", len);
    }
    assert_int_equal(hub_artnet_parse_dmx(NULL, 530, &pa, &seq, &data, &n), -1);
    /* Length 512 but only 511 data bytes present. */
    assert_int_equal(hub_artnet_parse_dmx(good, 529, &pa, &seq, &data, &n), -1);
    /* Wrong ID. */
    memcpy(p, good, sizeof(p));
    p[3] = '_';
    assert_int_equal(hub_artnet_parse_dmx(p, sizeof(p), &pa, &seq, &data, &n), -1);
    /* Wrong OpCode: OpPoll, and OpDmx high byte first. */
    memcpy(p, good, sizeof(p));
    p[9] = 0x20;
    assert_int_equal(hub_artnet_parse_dmx(p, sizeof(p), &pa, &seq, &data, &n), -1);
    memcpy(p, good, sizeof(p));
    p[8] = 0x50;
    p[9] = 0x00;
    assert_int_equal(hub_artnet_parse_dmx(p, sizeof(p), &pa, &seq, &data, &n), -1);
    /* ProtVer 13. */
    memcpy(p, good, sizeof(p));
    p[11] = 13;
    assert_int_equal(hub_artnet_parse_dmx(p, sizeof(p), &pa, &seq, &data, &n), -1);
    /* Length field larger than the packet: 513, and 100 in a 100-byte packet. */
    memcpy(p, good, sizeof(p));
    p[16] = 0x02;
    p[17] = 0x01;
    assert_int_equal(hub_artnet_parse_dmx(p, sizeof(p), &pa, &seq, &data, &n), -1);
    memcpy(p, good, sizeof(p));
    p[16] = 0x00;
    p[17] = 100;
    assert_int_equal(hub_artnet_parse_dmx(p, 18 + 99, &pa, &seq, &data, &n), -1);
    assert_int_equal(hub_artnet_parse_dmx(p, 18 + 100, &pa, &seq, &data, &n), 0);
    /* Length 0. */
    pa = 0xAAAA, seq = 0xAA, data = NULL, n = 0xAA;
    memcpy(p, good, sizeof(p));
    p[16] = 0;
    p[17] = 0;
    assert_int_equal(hub_artnet_parse_dmx(p, sizeof(p), &pa, &seq, &data, &n), -1);
    /* Nothing was written by any failed parse. */
    assert_int_equal(pa, 0xAAAA);
    assert_int_equal(seq, 0xAA);
    assert_null(data);
    assert_int_equal(n, 0xAA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_address_mapping),
        cmocka_unit_test(test_dmx_bytes),
        cmocka_unit_test(test_dmx_rejects_wide_port_address),
        cmocka_unit_test(test_sync_bytes),
        cmocka_unit_test(test_is_poll_valid),
        cmocka_unit_test(test_is_poll_short),
        cmocka_unit_test(test_is_poll_wrong),
        cmocka_unit_test(test_poll_reply_bytes),
        cmocka_unit_test(test_poll_reply_defaults_and_truncation),
        cmocka_unit_test(test_poll_reply_rejects),
        cmocka_unit_test(test_parse_dmx_round_trip),
        cmocka_unit_test(test_parse_dmx_short_universe),
        cmocka_unit_test(test_parse_dmx_malformed),
        cmocka_unit_test(test_poll_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
