/* test_spansock.c -- unit tests of core/ipc/spansock.c in a private mkdtemp(3)
 * directory: a span goes whole as one message to the exporter found in the run
 * directory; none there is "no_exporter" (looked for again after a second, not at every
 * span); an exporter that went away is replaced by another one within the same send;
 * a full buffer is "busy", never a wait. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spansock.h"
#include "testsys.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	return testsys_tmpdir(dir, sizeof(dir), "aif-spansock");
}

static int
teardown(void **state)
{
	(void)state;
	return testsys_rmdir(dir);
}

/* Listens as worker `instance`; returns the listening fd. */
static int
exporter(const char *instance)
{
	char path[256];
	int fd = -1;

	assert_int_equal(aif_spansock_path(dir, instance, path, sizeof(path)), 0);
	assert_int_equal(aif_spansock_listen(path, &fd), AIF_OK);
	return fd;
}

/* Accepts the client's connection on lfd and reads one message into buf. */
static ssize_t
receive(int lfd, int *cfd, char *buf, size_t cap)
{
	if (*cfd < 0)
		*cfd = accept(lfd, NULL, NULL);
	assert_true(*cfd >= 0);
	return recv(*cfd, buf, cap, MSG_DONTWAIT);
}

static void
a_span_reaches_the_exporter_whole(void **state)
{
	struct aif_spansock_client c;
	const char *why = NULL;
	char buf[64];
	int lfd = exporter("1"), cfd = -1;

	(void)state;
	aif_spansock_client_init(&c, dir);
	assert_int_equal(aif_spansock_send(&c, "{\"a\":1}", 7, &why), 0);
	assert_int_equal(aif_spansock_send(&c, "{\"b\":2}", 7, &why), 0);
	assert_int_equal(receive(lfd, &cfd, buf, sizeof(buf)), 7);	/* one message each */
	assert_memory_equal(buf, "{\"a\":1}", 7);
	assert_int_equal(receive(lfd, &cfd, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "{\"b\":2}", 7);
	aif_spansock_client_close(&c);
	close(cfd);
	close(lfd);
}

static void
no_exporter_drops_and_waits_before_looking_again(void **state)
{
	struct aif_spansock_client c;
	const char *why = NULL;
	char buf[64];
	int lfd, cfd = -1;

	(void)state;
	aif_spansock_client_init(&c, dir);
	assert_int_equal(aif_spansock_send(&c, "x", 1, &why), -1);
	assert_string_equal(why, "no_exporter");
	lfd = exporter("2");
	/* within the second after a failed search: still dropped, no new search */
	assert_int_equal(aif_spansock_send(&c, "x", 1, &why), -1);
	assert_string_equal(why, "no_exporter");
	sleep(1);
	usleep(100000);
	assert_int_equal(aif_spansock_send(&c, "y", 1, &why), 0);
	assert_int_equal(receive(lfd, &cfd, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'y');
	aif_spansock_client_close(&c);
	close(cfd);
	close(lfd);
}

static void
a_gone_exporter_is_replaced_and_a_full_one_is_busy(void **state)
{
	struct aif_spansock_client c;
	const char *why = NULL;
	char big[4096], path[256];
	int a = exporter("a"), b, cfd = -1, sent = 0, rc;

	(void)state;
	aif_spansock_client_init(&c, dir);
	assert_int_equal(aif_spansock_send(&c, "1", 1, &why), 0);
	/* exporter a stops and b starts */
	cfd = accept(a, NULL, NULL);
	close(cfd);
	close(a);
	assert_int_equal(aif_spansock_path(dir, "a", path, sizeof(path)), 0);
	unlink(path);
	b = exporter("b");
	/* the broken connection is replaced within the same send: no span lost */
	assert_int_equal(aif_spansock_send(&c, "2", 1, &why), 0);
	/* nobody reads b: its buffer fills, and a send is then refused at once */
	memset(big, 'x', sizeof(big));
	while ((rc = aif_spansock_send(&c, big, sizeof(big), &why)) == 0 && sent < 100000)
		sent++;
	assert_int_equal(rc, -1);
	assert_string_equal(why, "busy");
	assert_true(sent > 0);
	aif_spansock_client_close(&c);
	close(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_span_reaches_the_exporter_whole, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(no_exporter_drops_and_waits_before_looking_again,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(a_gone_exporter_is_replaced_and_a_full_one_is_busy,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
