/* tests/unit/test_frame.c - pre-framed WebSocket frames: byte-exact headers
 * (RFC 6455 5.2, server frames unmasked), batches with per-frame metadata,
 * the selections sessions get, and reference counting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proto/frame.h"

static const unsigned char *bytes(const hub_frame_t *f)
{
    return f->buf + LWS_PRE;
}

static void test_short_frame_is_byte_exact(void **state)
{
    static const unsigned char want[] = {0x81, 5, 'h', 'e', 'l', 'l', 'o'};
    hub_frame_t *f = hub__frame_new("hello", 5);

    assert_int_equal(f->len, sizeof(want));
    assert_memory_equal(bytes(f), want, sizeof(want));
    assert_int_equal(f->nframes, 1);
    assert_int_equal(f->broadcast, 0);
    assert_int_equal(atomic_load(&f->refs), 0);
    hub__frame_free(f);
}

static void test_length_encodings(void **state)
{
    static char payload[70000];
    const size_t lens[] = {0, 125, 126, 65535, 65536, 70000};
    memset(payload, 'x', sizeof(payload));

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i];
        hub_frame_t *f = hub__frame_new(payload, n);
        const unsigned char *b = bytes(f);
        size_t hdr = n < 126 ? 2 : n <= 0xffff ? 4 : 10;

        assert_int_equal(b[0], 0x81);
        assert_int_equal(b[1] & 0x80, 0); /* never masked */
        if (n < 126) {
            assert_int_equal(b[1], n);
        } else if (n <= 0xffff) {
            assert_int_equal(b[1], 126);
            assert_int_equal((size_t)b[2] << 8 | b[3], n);
        } else {
            uint64_t got = 0;
            assert_int_equal(b[1], 127);
            for (int k = 0; k < 8; k++)
                got = got << 8 | b[2 + k];
            assert_int_equal(got, n);
        }
        assert_int_equal(f->len, hdr + n);
        hub__frame_free(f);
    }
}

/* A batch of patches: consecutive frames, each with its seq, in room bit
 * (seq % 2) + 2 so selections can tell them apart. */
static hub_frame_t *batch(uint64_t seq0, int n)
{
    hub_frame_t *f = NULL;
    char msg[32];
    for (int i = 0; i < n; i++) {
        uint64_t seq = seq0 + (uint64_t)i;
        int len = snprintf(msg, sizeof(msg), "{\"seq\":%d}", (int)seq);
        hub_frame_meta_t m = {.seq = seq, .rooms = 1ull << (seq % 2 + 2), .flags = HUB_FRAME_SEQ};
        hub__frame_append(&f, msg, (size_t)len, &m);
    }
    return f;
}

static void test_batch_holds_each_state_as_its_own_frame(void **state)
{
    hub_frame_t *f = batch(41, 300); /* grows the buffer and the metadata several times */
    const unsigned char *b = bytes(f);
    size_t pos = 0;

    assert_int_equal(f->nframes, 300);
    assert_int_equal(f->max_seq, 340);
    assert_int_equal(f->broadcast, 1);
    for (int i = 0; i < 300; i++) {
        char want[32];
        int len = snprintf(want, sizeof(want), "{\"seq\":%d}", 41 + i);
        assert_int_equal(f->meta[i].off, pos);
        assert_int_equal(f->meta[i].len, 2 + len);
        assert_int_equal(f->meta[i].seq, 41 + i);
        assert_int_equal(b[pos], 0x81);
        assert_int_equal(b[pos + 1], len);
        assert_memory_equal(b + pos + 2, want, (size_t)len);
        pos += 2 + (size_t)len;
    }
    assert_int_equal(pos, f->len);
    hub__frame_free(f);
}

static int after(const hub_frame_meta_t *m, void *ud)
{
    return m->seq > *(uint64_t *)ud;
}

static int in_room(const hub_frame_meta_t *m, void *ud)
{
    return (m->rooms & *(uint64_t *)ud) != 0;
}

static void test_select_takes_the_wanted_frames(void **state)
{
    hub_frame_t *f = batch(10, 5); /* seqs 10..14 */
    uint64_t from = 11;
    hub_frame_t *t = hub__frame_select(f, after, &from); /* 12, 13, 14 */

    assert_non_null(t);
    assert_ptr_not_equal(t, f);
    assert_int_equal(t->nframes, 3);
    assert_int_equal(t->meta[0].seq, 12);
    assert_int_equal(t->meta[0].off, 0); /* offsets are rebased */
    assert_int_equal(t->max_seq, 14);
    assert_int_equal(t->len, f->len - f->meta[2].off);
    assert_memory_equal(bytes(t), bytes(f) + f->meta[2].off, t->len);
    assert_int_equal(t->t_us, f->t_us); /* its age is the batch's */
    /* A selection of a selection still lines up. */
    uint64_t odd = 1ull << 3; /* seqs 11, 13 */
    hub_frame_t *tt = hub__frame_select(t, in_room, &odd);
    assert_non_null(tt);
    assert_int_equal(tt->nframes, 1);
    assert_memory_equal(bytes(tt), bytes(f) + f->meta[3].off, tt->len);
    /* Everything: the buffer itself; nothing: NULL. */
    uint64_t none = 0, before = 3;
    assert_ptr_equal(hub__frame_select(f, after, &before), f);
    assert_null(hub__frame_select(f, in_room, &none));
    hub__frame_free(tt);
    hub__frame_free(t);
    hub__frame_free(f);
}

static void test_private_frames(void **state)
{
    hub_frame_t *f = NULL;
    hub_frame_meta_t priv = {.flags = HUB_FRAME_PRIVATE, .target = 7};
    hub_frame_meta_t pub = {.seq = 5, .rooms = 1, .flags = HUB_FRAME_SEQ};

    hub__frame_append(&f, "a", 1, &priv);
    assert_int_equal(f->broadcast, 0); /* a result alone is not a broadcast */
    hub__frame_append(&f, "b", 1, &pub);
    assert_int_equal(f->broadcast, 1);
    assert_int_equal(f->max_seq, 5);
    assert_int_equal(f->meta[0].target, 7);
    assert_int_equal(f->meta[0].flags, HUB_FRAME_PRIVATE);
    hub__frame_free(f);
}

static void test_last_unref_frees(void **state)
{
    hub_frame_t *f = batch(1, 2);
    hub__frame_ref(f, 3);
    hub__frame_unref(f);
    hub__frame_unref(f);
    assert_int_equal(atomic_load(&f->refs), 1);
    hub__frame_unref(f); /* freed here: ASan/LSan would report otherwise */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_frame_is_byte_exact),
        cmocka_unit_test(test_length_encodings),
        cmocka_unit_test(test_batch_holds_each_state_as_its_own_frame),
        cmocka_unit_test(test_select_takes_the_wanted_frames),
        cmocka_unit_test(test_private_frames),
        cmocka_unit_test(test_last_unref_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
