/* Unit tests for the non-blocking connection driver (nbconn.h), no sockets and no loop: the
 * events an engine reports, in the orders a busy loop can report them, and the promise every
 * engine relies on: after each event iob_nb_next() either closes the connection or asks for
 * something that will bring the next event (a read, a write, a timer, a CPU step). A connection
 * that asks for nothing is never woken again: it stays open until the shutdown grace. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>

#include <cmocka.h>

#include "conn_driver.h"
#include "server/base/clock.h"
#include "server/engine/nbconn.h"

/* Two pieces 5 ms apart: all of it is due 10 ms after the head. */
#define DRIP_REQUEST "GET /drip?bytes=4&chunks=2&ms=5 HTTP/1.1\r\nHost: a\r\n\r\n"
#define SSE_REQUEST  "GET /sse?events=2&ms=5 HTTP/1.1\r\nHost: a\r\n\r\n"
#define PAST_DUE_MS  30

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* iob_nb_next(), checked: it closes, or something will call the driver again. */
static void next_live(struct iob_nbconn *nb, struct iob_nb_next *n, const char *after)
{
    iob_nb_next(nb, n);
    if (!(n->close || n->write_len || n->read_max || n->wake_ns || n->cpu))
        fail_msg("after %s the connection asks for nothing and is never woken again", after);
}

/* A request whose answer is paced; its head is sent, then the client resets the connection.
 * error_late: the reset is read only once every piece is due (the loop was busy, and the RST
 * and the due timer came in one turn, the RST first); else at once, mid-stream. */
static void reset_during_a_stream(const char *request, bool error_late)
{
    struct iob_nbconn *nb = iob_nb_new(&iob_drive_env, "127.0.0.1");
    struct iob_nb_next n;
    assert_non_null(nb);
    iob_nb_read(nb, request, strlen(request));
    next_live(nb, &n, "the request");
    assert_true(n.write_len > 0); /* the head */
    iob_nb_sent(nb, n.write_len);
    next_live(nb, &n, "the head was sent");
    assert_true(n.wake_ns > 0); /* the first piece */
    if (error_late)
        sleep_ms(PAST_DUE_MS);
    iob_nb_error(nb, ECONNRESET);
    next_live(nb, &n, "the reset");
    for (int turns = 0; !n.close && turns < 10; turns++) {
        assert_int_equal(n.write_len, 0); /* nothing goes to a gone client */
        sleep_ms(PAST_DUE_MS);
        iob_nb_timer(nb, iob_clock_now_ns());
        next_live(nb, &n, "the timer");
    }
    assert_true(n.close);
    iob_nb_free(nb);
}

static void test_nb_drip_reset_mid_stream_closes_after_the_step(void **state)
{
    (void)state;
    reset_during_a_stream(DRIP_REQUEST, false);
}

/* The bug the soak found (it.faults.* hit it about once in ten under ASan): the reset advanced
 * the stream to its last piece, which was queued for the gone client and then blocked the end of
 * the step; nothing was armed, so the connection stayed open until the shutdown grace. */
static void test_nb_drip_reset_read_after_the_last_piece_was_due_closes(void **state)
{
    (void)state;
    reset_during_a_stream(DRIP_REQUEST, true);
}

static void test_nb_sse_reset_read_after_the_last_event_was_due_closes(void **state)
{
    (void)state;
    reset_during_a_stream(SSE_REQUEST, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nb_drip_reset_mid_stream_closes_after_the_step),
        cmocka_unit_test(test_nb_drip_reset_read_after_the_last_piece_was_due_closes),
        cmocka_unit_test(test_nb_sse_reset_read_after_the_last_event_was_due_closes),
    };
    iob_drive_init();
    return cmocka_run_group_tests_name("nbconn", tests, NULL, NULL);
}
