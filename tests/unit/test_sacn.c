/* tests/unit/test_sacn.c - output/sacn: the sACN (E1.31) sender on 127.0.0.1.
 *
 * Unicast targets are receivers bound to 127.0.0.1 (loopback_rx.h); the
 * multicast default is not exercised, so no packet leaves the host. Data
 * packets are read back with hub_sacn_parse_data plus the Source Name
 * field; discovery packets are compared byte for byte with ones written
 * out here from E1.31-2018 Tables 4-3, 6-3 and 8-1. The CID file lives in
 * a fresh mkdtemp() directory per test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/metrics.h"
#include "core/uuid.h"
#include "engine/domain.h"
#include "loopback_rx.h"
#include "output/sacn.h"
#include "output/sacn_pkt.h"

#define DATA_LEN 638

static void fill(uint8_t slots[512], unsigned seed)
{
    for (unsigned i = 0; i < 512; i++)
        slots[i] = (uint8_t)(i * 11 + seed * 5 + 3);
}

/* ---- temporary data directories ------------------------------------------ */

static void tmpdir(char dir[64])
{
    snprintf(dir, 64, "/tmp/test_sacn_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void cid_path(const char *dir, char path[128])
{
    snprintf(path, 128, "%s/sacn.cid", dir);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Whole file into buf (NUL-terminated); its length, or -1 if it is not there. */
static long read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;
    if (f == NULL)
        return -1;
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return (long)n;
}

/* Remove dir and the files the sender may have left in it. */
static void rmdir_all(const char *dir)
{
    char p[128];
    cid_path(dir, p);
    unlink(p);
    snprintf(p, sizeof(p), "%s/sacn.cid.tmp", dir);
    unlink(p);
    assert_int_equal(rmdir(dir), 0); /* anything else left behind fails here */
}

/* ---- fixture --------------------------------------------------------------- */

struct fix {
    char dir[64];
    hub_metrics_t *metrics;
    rx_t rx[2];
    int nrx;
    hub_sacn_t *s;
};

static void fix_open(struct fix *f, int nrx, int priority, const char *name)
{
    char list[128] = "", err[256] = "";
    hub_addr_t *targets = NULL;
    size_t n = 0;

    memset(f, 0, sizeof(*f));
    tmpdir(f->dir);
    f->metrics = hub_metrics_new();
    f->nrx = nrx;
    for (int i = 0; i < nrx; i++) {
        rx_open(&f->rx[i]);
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s127.0.0.1:%u", i ? "," : "",
                 (unsigned)f->rx[i].port);
    }
    assert_int_equal(hub_addr_parse_list(list, HUB_SACN_PORT, &targets, &n, err, sizeof(err)), 0);
    hub_sacn_cfg_t cfg = {.targets = targets,
                          .ntargets = n,
                          .priority = priority,
                          .source_name = name,
                          .data_dir = f->dir};
    assert_int_equal(hub_sacn_new(&f->s, &cfg, f->metrics, err, sizeof(err)), 0);
    memset(targets, 0xAB, n * sizeof(*targets)); /* the sender keeps its own copy */
    hub_free(targets);
}

static void fix_close(struct fix *f)
{
    hub_sacn_free(f->s);
    for (int i = 0; i < f->nrx; i++)
        rx_close(&f->rx[i]);
    hub_metrics_free(f->metrics);
    rmdir_all(f->dir);
}

struct data {
    uint16_t universe;
    uint8_t sequence, options, priority;
    uint8_t cid[16];
    const uint8_t *slots;
    size_t nslots;
    const uint8_t *name; /* the 64-byte Source Name field */
};

static void parse(const rx_pkt_t *p, struct data *d)
{
    assert_int_equal(p->len, DATA_LEN);
    assert_int_equal(hub_sacn_parse_data(p->data, p->len, &d->universe, &d->sequence, &d->options,
                                         &d->priority, &d->slots, &d->nslots, d->cid),
                     0);
    assert_int_equal(d->nslots, 512);
    d->name = p->data + 44;
}

/* The 64-byte Source Name field for name: its bytes, then NULs. */
static void assert_name(const uint8_t *field, const char *name)
{
    uint8_t want[64] = {0};
    memcpy(want, name, strlen(name));
    for (int i = 0; i < 64; i++)
        if (field[i] != want[i])
            fail_msg("Source Name byte %d: got 0x%02x, want 0x%02x", i, field[i], want[i]);
}

static void cid_bytes(const hub_sacn_t *s, uint8_t cid[16])
{
    const char *text = hub_sacn_cid(s);
    assert_int_equal(hub_uuid_parse(text, strlen(text), cid), 0);
}

/* ---- data packets ---------------------------------------------------------- */

static void test_unicast_data_packet(void **state)
{
    struct fix f;
    struct data d;
    uint8_t slots[512], cid[16];

    (void)state;
    fix_open(&f, 1, 150, "Stage left \xe2\x9c\x93"); /* UTF-8 check mark */
    fill(slots, 1);
    hub_sacn_add(f.s, 1, 7, 0, slots);
    hub_sacn_flush(f.s);
    assert_true(rx_wait(&f.rx[0], 1, 3000));
    assert_int_equal(rx_settle(&f.rx[0], 100), 1);
    parse(&f.rx[0].pkts[0], &d);
    assert_int_equal(d.universe, 1);
    assert_int_equal(d.sequence, 7);
    assert_int_equal(d.options, 0);
    assert_int_equal(d.priority, 150);
    cid_bytes(f.s, cid);
    assert_memory_equal(d.cid, cid, 16);
    assert_memory_equal(d.slots, slots, 512);
    assert_name(d.name, "Stage left \xe2\x9c\x93");
    /* Synchronization Address 0: no synchronisation. */
    assert_int_equal(f.rx[0].pkts[0].data[109], 0);
    assert_int_equal(f.rx[0].pkts[0].data[110], 0);
    fix_close(&f);
}

static void test_priority_bounds_in_packet(void **state)
{
    static const int prios[] = {0, 100, 200};
    uint8_t slots[512] = {0};

    (void)state;
    for (int k = 0; k < 3; k++) {
        struct fix f;
        struct data d;
        fix_open(&f, 1, prios[k], "p");
        hub_sacn_add(f.s, 2, 1, 0, slots);
        hub_sacn_flush(f.s);
        assert_true(rx_wait(&f.rx[0], 1, 3000));
        parse(&f.rx[0].pkts[0], &d);
        assert_int_equal(d.priority, prios[k]);
        fix_close(&f);
    }
}

/* Sequence numbers and data travel per universe, in the order queued. */
static void test_sequence_per_universe(void **state)
{
    static const struct {
        int universe;
        uint8_t seq;
    } sent[] = {{1, 1}, {2, 200}, {1, 2}, {2, 201}, {63999, 255}, {1, 3}, {63999, 0}};
    enum { N = sizeof(sent) / sizeof(sent[0]) };
    struct fix f;
    struct data d;
    uint8_t slots[512];

    (void)state;
    fix_open(&f, 1, 100, "seq");
    for (int i = 0; i < N; i++) {
        fill(slots, (unsigned)i);
        hub_sacn_add(f.s, sent[i].universe, sent[i].seq, 0, slots);
        if (i == 2 || i == N - 1)
            hub_sacn_flush(f.s);
    }
    assert_true(rx_wait(&f.rx[0], N, 3000));
    assert_int_equal(rx_settle(&f.rx[0], 100), N);
    for (int i = 0; i < N; i++) {
        parse(&f.rx[0].pkts[i], &d);
        fill(slots, (unsigned)i);
        assert_int_equal(d.universe, sent[i].universe);
        assert_int_equal(d.sequence, sent[i].seq);
        assert_memory_equal(d.slots, slots, 512);
    }
    fix_close(&f);
}

static void test_out_of_range_universes_not_sent(void **state)
{
    struct fix f;
    uint8_t slots[512] = {0};

    (void)state;
    fix_open(&f, 1, 100, "range");
    hub_sacn_add(f.s, 0, 1, 0, slots);
    hub_sacn_add(f.s, -5, 1, 0, slots);
    hub_sacn_add(f.s, 64000, 1, 0, slots);
    hub_sacn_add(f.s, HUB_SACN_DISCOVERY_UNIVERSE, 1, 0, slots);
    assert_int_equal(hub_sacn_flush(f.s), 0);
    assert_int_equal(rx_settle(&f.rx[0], 100), 0);
    fix_close(&f);
}

static void test_several_targets_each_get_every_packet(void **state)
{
    struct fix f;
    struct data d;
    uint8_t slots[512];

    (void)state;
    fix_open(&f, 2, 100, "two");
    for (int u = 1; u <= 3; u++) {
        fill(slots, (unsigned)u);
        hub_sacn_add(f.s, u, (uint8_t)(10 + u), 0, slots);
    }
    hub_sacn_flush(f.s);
    for (int t = 0; t < 2; t++) {
        assert_true(rx_wait(&f.rx[t], 3, 3000));
        assert_int_equal(rx_settle(&f.rx[t], 100), 3);
        for (int u = 1; u <= 3; u++) {
            parse(&f.rx[t].pkts[u - 1], &d);
            fill(slots, (unsigned)u);
            assert_int_equal(d.universe, u);
            assert_int_equal(d.sequence, 10 + u);
            assert_memory_equal(d.slots, slots, 512);
        }
    }
    fix_close(&f);
}

/* E1.31 6.7.1: Stream_Terminated is bit 6 of Options; Preview_Data bit 7. */
static void test_options_in_packet(void **state)
{
    struct fix f;
    struct data d;
    uint8_t slots[512] = {0};

    (void)state;
    fix_open(&f, 1, 100, "opts");
    hub_sacn_add(f.s, 9, 1, HUB_SACN_OPT_TERMINATED, slots);
    hub_sacn_add(f.s, 9, 2, HUB_SACN_OPT_PREVIEW, slots);
    hub_sacn_flush(f.s);
    assert_true(rx_wait(&f.rx[0], 2, 3000));
    parse(&f.rx[0].pkts[0], &d);
    assert_int_equal(d.options, 0x40);
    parse(&f.rx[0].pkts[1], &d);
    assert_int_equal(d.options, 0x80);
    fix_close(&f);
}

/* sacn_pkt.h: the Source Name is "cut to at most 63 bytes at a character
 * boundary". A name whose byte 63 falls inside a character must lose that
 * whole character. (At HEAD sacn.c kept the name in a char[64], cutting it
 * at byte 63 before the builder could see the character: the packet then
 * carried 62 x 'a' and a lone 0xC3.) Input: 62 x 'a', U+00E9 (C3 A9), xyz. */
static void test_long_source_name_cut_at_character_boundary(void **state)
{
    char name[80], want[64];
    struct fix f;
    struct data d;
    uint8_t slots[512] = {0};

    (void)state;
    memset(name, 'a', 62);
    memcpy(name + 62, "\xc3\xa9xyz", 6);
    memset(want, 'a', 62);
    want[62] = '\0';
    fix_open(&f, 1, 100, name);
    hub_sacn_add(f.s, 1, 1, 0, slots);
    hub_sacn_flush(f.s);
    assert_true(rx_wait(&f.rx[0], 1, 3000));
    parse(&f.rx[0].pkts[0], &d);
    uint8_t field[64];
    memcpy(field, d.name, 64);
    fix_close(&f);
    assert_name(field, want);
}

/* ---- errors: fail-open ------------------------------------------------------ */

static void on_event(void *ud, int level, const char *source, const char *msg)
{
    int *n = ud;
    if (level == HUB_EVENT_WARNING && strcmp(source, "sacn") == 0 &&
        strstr(msg, "127.0.0.1:0") != NULL)
        n[0]++;
    else
        n[1]++;
}

static void test_failing_target_reported_others_served(void **state)
{
    char dir[64], err[256] = "";
    hub_metrics_t *m = hub_metrics_new();
    rx_t good;
    hub_addr_t targets[2];
    hub_sacn_t *s;
    int ev[2] = {0, 0};
    uint8_t slots[512] = {1};

    (void)state;
    tmpdir(dir);
    rx_open(&good);
    targets[0] = good.addr;
    targets[1] = rx_loopback_addr(0); /* every send fails: EINVAL */
    hub_sacn_cfg_t cfg = {.targets = targets, .ntargets = 2, .priority = 100, .data_dir = dir};
    assert_int_equal(hub_sacn_new(&s, &cfg, m, err, sizeof(err)), 0);
    hub_sacn_set_events(s, on_event, ev);
    hub_sacn_add(s, 1, 1, 0, slots);
    hub_sacn_add(s, 2, 1, 0, slots);
    hub_sacn_flush(s);
    assert_int_equal(rx_metric(m, "dmx_output_errors_total{proto=\"sacn\"}"), 2);
    assert_int_equal(ev[0], 1);
    assert_int_equal(ev[1], 0);
    hub_sacn_add(s, 1, 2, 0, slots);
    hub_sacn_flush(s);
    assert_int_equal(rx_metric(m, "dmx_output_errors_total{proto=\"sacn\"}"), 3);
    assert_int_equal(ev[0], 1); /* at most one report a second */
    assert_true(rx_wait(&good, 3, 3000));
    assert_int_equal(rx_settle(&good, 100), 3);
    hub_sacn_free(s);
    rx_close(&good);
    hub_metrics_free(m);
    rmdir_all(dir);
}

/* ---- the CID file ------------------------------------------------------------- */

static hub_sacn_t *new_on(const char *dir, hub_metrics_t *m, int *rc, char *err, size_t errlen)
{
    hub_addr_t t = rx_loopback_addr(9);
    hub_sacn_cfg_t cfg = {.targets = &t, .ntargets = 1, .priority = 100, .data_dir = dir};
    hub_sacn_t *s = (hub_sacn_t *)(uintptr_t)0x5a5a;
    *rc = hub_sacn_new(&s, &cfg, m, err, errlen);
    return s;
}

static void test_cid_created_then_kept(void **state)
{
    char dir[64], dir2[64], path[128], text[128], err[256] = "";
    char cid1[HUB_UUID_LEN + 1], cid3[HUB_UUID_LEN + 1];
    hub_metrics_t *m = hub_metrics_new();
    hub_sacn_t *s;
    int rc;

    (void)state;
    tmpdir(dir);
    cid_path(dir, path);
    assert_int_equal(read_file(path, text, sizeof(text)), -1);

    /* A fresh directory: a new, valid version 4 UUID, written as a line. */
    s = new_on(dir, m, &rc, err, sizeof(err));
    assert_int_equal(rc, 0);
    snprintf(cid1, sizeof(cid1), "%s", hub_sacn_cid(s));
    assert_int_equal(strlen(cid1), HUB_UUID_LEN);
    assert_true(hub_uuid_valid(cid1, HUB_UUID_LEN));
    assert_int_equal(cid1[14], '4');           /* version 4 */
    assert_non_null(strchr("89ab", cid1[19])); /* variant 10 */
    assert_int_equal(read_file(path, text, sizeof(text)), HUB_UUID_LEN + 1);
    assert_memory_equal(text, cid1, HUB_UUID_LEN);
    assert_int_equal(text[HUB_UUID_LEN], '\n');
    hub_sacn_free(s);

    /* A second instance on the same directory: the same CID, file unchanged. */
    s = new_on(dir, m, &rc, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_string_equal(hub_sacn_cid(s), cid1);
    hub_sacn_free(s);
    assert_int_equal(read_file(path, text, sizeof(text)), HUB_UUID_LEN + 1);
    assert_memory_equal(text, cid1, HUB_UUID_LEN);

    /* Another fresh directory: another CID. */
    tmpdir(dir2);
    s = new_on(dir2, m, &rc, err, sizeof(err));
    assert_int_equal(rc, 0);
    snprintf(cid3, sizeof(cid3), "%s", hub_sacn_cid(s));
    assert_true(hub_uuid_valid(cid3, HUB_UUID_LEN));
    assert_string_not_equal(cid3, cid1);
    hub_sacn_free(s);

    hub_metrics_free(m);
    rmdir_all(dir); /* also fails if sacn.cid.tmp or anything else was left */
    rmdir_all(dir2);
}

/* The CID in the file is the CID in every packet. */
static void test_cid_from_file_in_packets(void **state)
{
    static const uint8_t want[16] = {0x5c, 0x1e, 0x2a, 0x40, 0x8d, 0x3b, 0x4f, 0x11,
                                     0x9e, 0x0c, 0x77, 0x61, 0xa2, 0x05, 0xd3, 0xf8};
    char dir[64], path[128], err[256] = "";
    hub_metrics_t *m = hub_metrics_new();
    rx_t r;
    hub_sacn_t *s;
    struct data d;
    uint8_t slots[512] = {0};

    (void)state;
    tmpdir(dir);
    cid_path(dir, path);
    /* Written by hand: upper case and a CRLF line end. */
    write_file(path, "5C1E2A40-8D3B-4F11-9E0C-7761A205D3F8\r\n", 38);
    rx_open(&r);
    hub_sacn_cfg_t cfg = {.targets = &r.addr, .ntargets = 1, .priority = 100, .data_dir = dir};
    assert_int_equal(hub_sacn_new(&s, &cfg, m, err, sizeof(err)), 0);
    assert_string_equal(hub_sacn_cid(s), "5c1e2a40-8d3b-4f11-9e0c-7761a205d3f8");
    hub_sacn_add(s, 1, 1, 0, slots);
    hub_sacn_flush(s);
    assert_true(rx_wait(&r, 1, 3000));
    parse(&r.pkts[0], &d);
    assert_memory_equal(d.cid, want, 16);
    hub_sacn_free(s);
    rx_close(&r);
    hub_metrics_free(m);
    rmdir_all(dir);
}

/* A file that does not hold a UUID is an error with one line naming it; the
 * file is left as it is (a new CID would make receivers see a new source). */
static void test_corrupt_cid_file_is_an_error(void **state)
{
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {
        {"not-a-uuid\n", 11},
        {"", 0},
        {"5c1e2a40-8d3b-4f11-9e0c-7761a205d3f\n", 36}, /* one digit short */
        {"5c1e2a40-8d3b-4f11-9e0c-7761a205d3f8 trailing\n", 46},
        {"{5c1e2a40-8d3b-4f11-9e0c-7761a205d3f8}\n", 39},
        {"5c1e2a40-8d3b-4f11-9e0c-7761a205d3g8\n", 37},
    };
    char dir[64], path[128], text[128], err[512];
    hub_metrics_t *m = hub_metrics_new();
    hub_sacn_t *s;
    int rc;

    (void)state;
    tmpdir(dir);
    cid_path(dir, path);
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        write_file(path, bad[k].text, bad[k].len);
        err[0] = '\0';
        s = new_on(dir, m, &rc, err, sizeof(err));
        if (rc == 0)
            fail_msg("case %zu: a sacn.cid holding \"%s\" was accepted as %s", k, bad[k].text,
                     hub_sacn_cid(s));
        assert_true(rc < 0);
        assert_ptr_equal(s, (hub_sacn_t *)(uintptr_t)0x5a5a); /* *out unchanged */
        assert_non_null(strstr(err, path));
        assert_null(strchr(err, '\n'));
        assert_int_equal(read_file(path, text, sizeof(text)), (long)bad[k].len);
        assert_memory_equal(text, bad[k].text, bad[k].len);
    }
    hub_metrics_free(m);
    rmdir_all(dir);
}

static void test_missing_data_dir_is_an_error(void **state)
{
    char dir[64], sub[96], err[512] = "";
    hub_metrics_t *m = hub_metrics_new();
    hub_sacn_t *s;
    int rc;

    (void)state;
    tmpdir(dir);
    snprintf(sub, sizeof(sub), "%s/no/such/dir", dir);
    s = new_on(sub, m, &rc, err, sizeof(err));
    assert_true(rc < 0);
    assert_ptr_equal(s, (hub_sacn_t *)(uintptr_t)0x5a5a);
    assert_non_null(strstr(err, sub));
    assert_null(strchr(err, '\n'));
    hub_metrics_free(m);
    rmdir_all(dir);
}

/* Regression, fixed: sacn.c:41-55 (load_cid) treats any fopen() failure as "no CID yet": a sacn.cid
 * that exists but cannot be read (EACCES here; EIO, EMFILE, ELOOP alike) is
 * silently replaced by a new CID, so receivers see a new source, which is
 * what sacn.h's "made once and kept" rules out. Input: a dir the service
 * user owns holding a sacn.cid with mode 0200. Expected: hub_sacn_new fails
 * with one line in err and the file keeps its CID; actual: it succeeds with
 * a new CID and the file is overwritten. Run in a child under uid 65534
 * when the tests run as root (root reads any file). */
static void test_unreadable_cid_file_is_refused(void **state)
{
    static const char keep[] = "5c1e2a40-8d3b-4f11-9e0c-7761a205d3f8\n";
    char dir[64], path[128], text[128];
    int status, code;
    pid_t pid;

    (void)state;
    tmpdir(dir);
    cid_path(dir, path);
    write_file(path, keep, sizeof(keep) - 1);
    assert_int_equal(chmod(path, 0200), 0);
    if (geteuid() == 0) {
        assert_int_equal(chown(dir, 65534, 65534), 0);
        assert_int_equal(chown(path, 65534, 65534), 0);
    }
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[512] = "";
        hub_metrics_t *m;
        hub_sacn_t *s;
        int rc;
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        if (open(path, O_RDONLY) >= 0)
            _exit(3); /* readable after all: this environment cannot run the case */
        m = hub_metrics_new();
        s = new_on(dir, m, &rc, err, sizeof(err));
        (void)s;
        _exit(rc < 0 && err[0] != '\0' ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    code = WEXITSTATUS(status);
    chmod(path, 0600);
    assert_true(read_file(path, text, sizeof(text)) >= 0);
    rmdir_all(dir);
    if (code == 3)
        skip();
    assert_string_equal(text, keep); /* the CID must survive */
    assert_int_equal(code, 0);       /* and hub_sacn_new must say why it cannot start */
}

/* ---- universe discovery -------------------------------------------------------- */

/* E1.31 Table 4-3 / 6-3 / 8-1 for n universes on page `page` of 0..last. */
static void want_discovery(uint8_t *p, const uint8_t cid[16], const char *name, uint8_t page,
                           uint8_t last, const uint16_t *unis, size_t n)
{
    size_t len = 120 + 2 * n;
    static const uint8_t acn[12] = {'A', 'S', 'C', '-', 'E', '1', '.', '1', '7', 0, 0, 0};

    memset(p, 0, len);
    p[1] = 0x10;                               /* Preamble Size 0x0010; Post-amble 0 */
    memcpy(p + 4, acn, 12);                    /* ACN Packet Identifier */
    p[16] = (uint8_t)(0x70 | (len - 16) >> 8); /* root Flags and Length */
    p[17] = (uint8_t)(len - 16);
    p[21] = 0x08;                              /* VECTOR_ROOT_E131_EXTENDED */
    memcpy(p + 22, cid, 16);                   /* CID */
    p[38] = (uint8_t)(0x70 | (len - 38) >> 8); /* framing Flags and Length */
    p[39] = (uint8_t)(len - 38);
    p[43] = 0x02;                                /* VECTOR_E131_EXTENDED_DISCOVERY */
    memcpy(p + 44, name, strlen(name));          /* Source Name; 108-111 Reserved */
    p[112] = (uint8_t)(0x70 | (len - 112) >> 8); /* discovery Flags and Length */
    p[113] = (uint8_t)(len - 112);
    p[117] = 0x01; /* VECTOR_UNIVERSE_DISCOVERY_UNIVERSE_LIST */
    p[118] = page;
    p[119] = last;
    for (size_t i = 0; i < n; i++) {
        p[120 + 2 * i] = (uint8_t)(unis[i] >> 8);
        p[121 + 2 * i] = (uint8_t)unis[i];
    }
}

static void assert_discovery(const rx_pkt_t *got, const uint8_t cid[16], const char *name,
                             uint8_t page, uint8_t last, const uint16_t *unis, size_t n)
{
    uint8_t want[HUB_SACN_DISCOVERY_MAX_LEN];
    size_t len = 120 + 2 * n;

    want_discovery(want, cid, name, page, last, unis, n);
    if (got->len != len)
        fail_msg("discovery page %u: length %zu, want %zu", page, got->len, len);
    for (size_t i = 0; i < len; i++)
        if (got->data[i] != want[i])
            fail_msg("discovery page %u: first difference at offset %zu: got 0x%02x, want 0x%02x",
                     page, i, got->data[i], want[i]);
}

static void test_discovery_lists_universes(void **state)
{
    static const int unis[] = {1, 2, 7, 63999};
    static const uint16_t want[] = {1, 2, 7, 63999};
    struct fix f;
    uint8_t cid[16];

    (void)state;
    fix_open(&f, 2, 100, "disc");
    cid_bytes(f.s, cid);
    hub_sacn_discovery(f.s, unis, 4);
    for (int t = 0; t < 2; t++) {
        assert_true(rx_wait(&f.rx[t], 1, 3000));
        assert_int_equal(rx_settle(&f.rx[t], 100), 1);
        assert_discovery(&f.rx[t].pkts[0], cid, "disc", 0, 0, want, 4);
    }
    fix_close(&f);
}

/* Universes outside 1..63999 are left out; none at all is one empty page. */
static void test_discovery_filters_and_empty(void **state)
{
    static const int unis[] = {0, 3, 64000};
    static const uint16_t three = 3;
    struct fix f;
    uint8_t cid[16];

    (void)state;
    fix_open(&f, 1, 100, "disc");
    cid_bytes(f.s, cid);
    hub_sacn_discovery(f.s, unis, 3);
    hub_sacn_discovery(f.s, NULL, 0);
    assert_true(rx_wait(&f.rx[0], 2, 3000));
    assert_int_equal(rx_settle(&f.rx[0], 100), 2);
    assert_discovery(&f.rx[0].pkts[0], cid, "disc", 0, 0, &three, 1);
    assert_discovery(&f.rx[0].pkts[1], cid, "disc", 0, 0, NULL, 0);
    fix_close(&f);
}

/* More than 512 universes: pages of 512, each naming the last page. */
static void test_discovery_pages(void **state)
{
    enum { N = 1100 };
    int unis[N];
    uint16_t want[N];
    struct fix f;
    uint8_t cid[16];

    (void)state;
    for (int i = 0; i < N; i++) {
        unis[i] = 10 + i * 3;
        want[i] = (uint16_t)unis[i];
    }
    fix_open(&f, 1, 100, "pages");
    cid_bytes(f.s, cid);
    hub_sacn_discovery(f.s, unis, N);
    assert_true(rx_wait(&f.rx[0], 3, 3000));
    assert_int_equal(rx_settle(&f.rx[0], 100), 3);
    assert_discovery(&f.rx[0].pkts[0], cid, "pages", 0, 2, want, 512);
    assert_discovery(&f.rx[0].pkts[1], cid, "pages", 1, 2, want + 512, 512);
    assert_discovery(&f.rx[0].pkts[2], cid, "pages", 2, 2, want + 1024, N - 1024);
    fix_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unicast_data_packet),
        cmocka_unit_test(test_priority_bounds_in_packet),
        cmocka_unit_test(test_sequence_per_universe),
        cmocka_unit_test(test_out_of_range_universes_not_sent),
        cmocka_unit_test(test_several_targets_each_get_every_packet),
        cmocka_unit_test(test_options_in_packet),
        cmocka_unit_test(test_long_source_name_cut_at_character_boundary),
        cmocka_unit_test(test_failing_target_reported_others_served),
        cmocka_unit_test(test_cid_created_then_kept),
        cmocka_unit_test(test_cid_from_file_in_packets),
        cmocka_unit_test(test_corrupt_cid_file_is_an_error),
        cmocka_unit_test(test_missing_data_dir_is_an_error),
        cmocka_unit_test(test_unreadable_cid_file_is_refused),
        cmocka_unit_test(test_discovery_lists_universes),
        cmocka_unit_test(test_discovery_filters_and_empty),
        cmocka_unit_test(test_discovery_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
