/* tests/unit/test_addr.c - core/addr: host[:port] lists, default ports, blanks, limits, errors.
 *
 * Only numeric IPv4, "localhost" (from /etc/hosts) and a few names under ".invalid" (RFC 6761:
 * never resolves) are used, so no test depends on what a DNS server answers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/mem.h"

#define DEF 6454

static void check(const hub_addr_t *a, const char *ip, uint16_t port, const char *text)
{
    char got[INET_ADDRSTRLEN];

    assert_int_equal(a->sin.sin_family, AF_INET);
    assert_non_null(inet_ntop(AF_INET, &a->sin.sin_addr, got, sizeof(got)));
    assert_string_equal(got, ip);
    assert_int_equal(ntohs(a->sin.sin_port), port);
    assert_string_equal(a->text, text);
}

/* Parse list expecting success with want items. */
static hub_addr_t *parse_ok(const char *list, size_t want)
{
    hub_addr_t *out = NULL;
    size_t n = 999;
    char err[256] = "";

    int rc = hub_addr_parse_list(list, DEF, &out, &n, err, sizeof(err));
    if (rc != 0)
        fail_msg("[%s]: rc %d, err [%s]", list ? list : "(null)", rc, err);
    if (n != want)
        fail_msg("[%s]: %zu items, want %zu", list ? list : "(null)", n, want);
    return out;
}

/* Parse list expecting HUB_EINVAL with exactly the message want (NULL: any non-empty one);
 * out-parameters are left as they were. */
static void parse_bad(const char *list, const char *want)
{
    hub_addr_t sentinel[1];
    hub_addr_t *out = sentinel;
    size_t n = 777;
    char err[256];

    memset(err, 0, sizeof(err));
    int rc = hub_addr_parse_list(list, DEF, &out, &n, err, sizeof(err));
    if (rc != HUB_EINVAL)
        fail_msg("[%s]: rc %d, want HUB_EINVAL", list, rc);
    assert_ptr_equal(out, sentinel);
    assert_int_equal(n, 777);
    if (want != NULL && strcmp(err, want) != 0)
        fail_msg("[%s]: err [%s], want [%s]", list, err, want);
    if (err[0] == '\0' || strchr(err, '\n') != NULL)
        fail_msg("[%s]: err [%s] is not one line", list, err);
}

static void test_single(void **state)
{
    hub_addr_t *a = parse_ok("10.0.0.1", 1);
    check(&a[0], "10.0.0.1", DEF, "10.0.0.1:6454");
    hub_free(a);

    a = parse_ok("192.168.1.255:5568", 1);
    check(&a[0], "192.168.1.255", 5568, "192.168.1.255:5568");
    hub_free(a);

    a = parse_ok("255.255.255.255:1", 1);
    check(&a[0], "255.255.255.255", 1, "255.255.255.255:1");
    hub_free(a);

    a = parse_ok("0.0.0.0:65535", 1);
    check(&a[0], "0.0.0.0", 65535, "0.0.0.0:65535");
    hub_free(a);
}

static void test_default_port_argument(void **state)
{
    hub_addr_t *out = NULL;
    size_t n = 0;
    char err[64];

    assert_int_equal(hub_addr_parse_list("10.1.2.3,10.1.2.4:99", 5568, &out, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 2);
    check(&out[0], "10.1.2.3", 5568, "10.1.2.3:5568");
    check(&out[1], "10.1.2.4", 99, "10.1.2.4:99");
    hub_free(out);
}

static void test_list_and_blanks(void **state)
{
    hub_addr_t *a = parse_ok("10.0.0.1,10.0.0.2:7000,10.0.0.3", 3);
    check(&a[0], "10.0.0.1", DEF, "10.0.0.1:6454");
    check(&a[1], "10.0.0.2", 7000, "10.0.0.2:7000");
    check(&a[2], "10.0.0.3", DEF, "10.0.0.3:6454");
    hub_free(a);

    /* Blanks (spaces, tabs) around items are ignored; order is kept. */
    a = parse_ok("  10.0.0.3 ,\t10.0.0.2:1\t, 10.0.0.1  ", 3);
    check(&a[0], "10.0.0.3", DEF, "10.0.0.3:6454");
    check(&a[1], "10.0.0.2", 1, "10.0.0.2:1");
    check(&a[2], "10.0.0.1", DEF, "10.0.0.1:6454");
    hub_free(a);

    /* Empty items are skipped. */
    a = parse_ok(",10.0.0.1,, ,\t,10.0.0.2,", 2);
    check(&a[0], "10.0.0.1", DEF, "10.0.0.1:6454");
    check(&a[1], "10.0.0.2", DEF, "10.0.0.2:6454");
    hub_free(a);

    /* Duplicates are kept as given. */
    a = parse_ok("10.0.0.1,10.0.0.1", 2);
    check(&a[1], "10.0.0.1", DEF, "10.0.0.1:6454");
    hub_free(a);
}

static void test_empty_lists(void **state)
{
    static const char *const empty[] = {"", " ", "\t \t", ",", ",,,", " , ,\t, "};

    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
        hub_free(parse_ok(empty[i], 0));
    hub_free(parse_ok(NULL, 0));
}

static void test_names(void **state)
{
    hub_addr_t *a = parse_ok("localhost, localhost:6455", 2);
    check(&a[0], "127.0.0.1", DEF, "localhost:6454");
    check(&a[1], "127.0.0.1", 6455, "localhost:6455");
    hub_free(a);
}

static void test_port_bounds(void **state)
{
    hub_addr_t *a = parse_ok("10.0.0.1:1,10.0.0.1:65535,10.0.0.1:80,10.0.0.1:6454", 4);
    assert_int_equal(ntohs(a[0].sin.sin_port), 1);
    assert_int_equal(ntohs(a[1].sin.sin_port), 65535);
    assert_int_equal(ntohs(a[2].sin.sin_port), 80);
    assert_int_equal(ntohs(a[3].sin.sin_port), 6454);
    hub_free(a);
}

static void test_bad_ports(void **state)
{
    static const char *const bad[] = {
        "10.0.0.1:",    "10.0.0.1:0",           "10.0.0.1:65536", "10.0.0.1:-1",  "10.0.0.1:99999",
        "10.0.0.1:abc", "10.0.0.1:80x",         "10.0.0.1:0x50",  "10.0.0.1:8 0", "10.0.0.1:80:90",
        "10.0.0.1:1.5", "10.0.0.1:99999999999", "10.0.0.1: 80",   "10.0.0.1:+80", "10.0.0.1:\t80",
    };
    char want[160];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(want, sizeof(want), "\"%s\": the port must be 1-65535", bad[i]);
        parse_bad(bad[i], want);
    }
    /* The message names the item as given, without the blanks around it. */
    parse_bad("10.0.0.1, 10.0.0.2:0 ,10.0.0.3", "\"10.0.0.2:0\": the port must be 1-65535");
}

static void test_bad_hosts(void **state)
{
    parse_bad(":80", "\":80\": expected host[:port]");
    parse_bad("10.0.0.1, :6454", "\":6454\": expected host[:port]");
    parse_bad(":", "\":\": expected host[:port]");
    parse_bad("::1", "\"::1\": expected host[:port]"); /* IPv6 is not accepted */
    parse_bad("nohost.invalid", NULL); /* the resolver's reason varies; the prefix is below */

    hub_addr_t *out = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(hub_addr_parse_list("nohost.invalid", DEF, &out, &n, err, sizeof(err)),
                     HUB_EINVAL);
    const char *pre = "\"nohost.invalid\" cannot be resolved to an IPv4 address (";
    if (strncmp(err, pre, strlen(pre)) != 0 || err[strlen(err) - 1] != ')')
        fail_msg("err [%s]", err);
    /* The host named is the one that failed, not the first item. */
    assert_int_equal(
        hub_addr_parse_list("10.0.0.1,other.invalid:80", DEF, &out, &n, err, sizeof(err)),
        HUB_EINVAL);
    pre = "\"other.invalid\" cannot be resolved";
    if (strncmp(err, pre, strlen(pre)) != 0)
        fail_msg("err [%s]", err);
}

/* 64 items is the limit; a 65th (even after empty items) is refused. */
static void test_item_limit(void **state)
{
    char list[64 * 16 + 64];
    size_t w = 0;

    for (int i = 0; i < 64; i++)
        w += (size_t)snprintf(list + w, sizeof(list) - w, "%s10.0.%d.%d", i ? "," : "", i / 8,
                              i % 8 + 1);
    hub_addr_t *a = parse_ok(list, 64);
    for (int i = 0; i < 64; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 8, i % 8 + 1);
        assert_string_equal(inet_ntop(AF_INET, &a[i].sin.sin_addr, ip + 16, 16), ip);
    }
    hub_free(a);

    /* Empty items and blanks do not count. */
    char padded[sizeof(list) + 16];
    snprintf(padded, sizeof(padded), ", ,%s,, ", list);
    hub_free(parse_ok(padded, 64));

    snprintf(list + w, sizeof(list) - w, ",10.9.9.9");
    parse_bad(list, "more than 64 destinations");
    /* Refused before a bad 66th item is even looked at. */
    snprintf(list + w, sizeof(list) - w, ",10.9.9.9,:0");
    parse_bad(list, "more than 64 destinations");
}

/* Long items: the message quotes at most 60 bytes of the item; a 256-byte host is refused. */
static void test_long_items(void **state)
{
    char item[400], want[200];

    memset(item, 'h', 256);
    memcpy(item + 256, ":80", 4);
    snprintf(want, sizeof(want), "\"%.60s\": expected host[:port]", item);
    parse_bad(item, want);

    memset(item, 'h', 300);
    item[300] = '\0';
    parse_bad(item, want);

    /* A long port: the quoted item is cut at 60 bytes. */
    memcpy(item, "10.0.0.1:", 9);
    memset(item + 9, '1', 100);
    item[109] = '\0';
    snprintf(want, sizeof(want), "\"%.60s\": the port must be 1-65535", item);
    parse_bad(item, want);
}

/* err gets at most errlen bytes, NUL-terminated; errlen 0 writes nothing. */
static void test_small_err_buffer(void **state)
{
    hub_addr_t *out = NULL;
    size_t n = 0;
    char err[16];

    memset(err, 'Z', sizeof(err));
    assert_int_equal(hub_addr_parse_list(":80", DEF, &out, &n, err, 8), HUB_EINVAL);
    assert_string_equal(err, "\":80\": ");
    for (size_t i = 8; i < sizeof(err); i++)
        assert_int_equal(err[i], 'Z');

    memset(err, 'Z', sizeof(err));
    assert_int_equal(hub_addr_parse_list("10.0.0.1:0", DEF, &out, &n, err, 0), HUB_EINVAL);
    for (size_t i = 0; i < sizeof(err); i++)
        assert_int_equal(err[i], 'Z');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_default_port_argument),
        cmocka_unit_test(test_list_and_blanks),
        cmocka_unit_test(test_empty_lists),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_port_bounds),
        cmocka_unit_test(test_bad_ports),
        cmocka_unit_test(test_bad_hosts),
        cmocka_unit_test(test_item_limit),
        cmocka_unit_test(test_long_items),
        cmocka_unit_test(test_small_err_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
