/* test_doorbell.c -- unit tests of core/ipc/doorbell.c: Unix datagram doorbells bound in a
 * private mkdtemp(3) directory per test. Covers exact delivery, the non-blocking
 * contracts (nothing pending, missing peer, full queue), path limits and the sender's
 * credentials (aif_doorbell_recv_local). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "doorbell.h"
#include "util.h"

struct bell {
	char	dir[64];
	char	path[AIF_DOORBELL_PATH_MAX + 64];
	int	fd;		/* bound receiver or -1 */
	int	sender;
};

static int
setup_bell(void **state)
{
	struct bell *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return -1;
	snprintf(b->dir, sizeof(b->dir), "/tmp/aif-utbell.XXXXXX");
	if (mkdtemp(b->dir) == NULL) {
		free(b);
		return -1;
	}
	snprintf(b->path, sizeof(b->path), "%s/bell.sock", b->dir);
	b->fd = -1;
	if ((b->sender = aif_doorbell_sender()) < 0) {
		rmdir(b->dir);
		free(b);
		return -1;
	}
	*state = b;
	return 0;
}

static int
teardown_bell(void **state)
{
	struct bell *b = *state;

	aif_doorbell_close(b->fd, b->path);
	close(b->sender);
	rmdir(b->dir);
	free(b);
	return 0;
}

static void
bind_bell(struct bell *b)
{
	assert_int_equal(aif_doorbell_bind(b->path, &b->fd), AIF_OK);
	assert_true(b->fd >= 0);
}

/* Rings until the receiver's queue refuses a datagram; returns how many went in. */
static int
fill_queue(struct bell *b)
{
	int sent = 0;

	for (;;) {
		if (aif_doorbell_ring(b->sender, b->path, "wake\n", 5) != 0)
			break;
		if (++sent > 1000000)
			fail_msg("receiver queue never filled");
	}
	/* the refusal is the full queue, not some other error */
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	return sent;
}

static void
ring_delivers_exact_bytes(void **state)
{
	static const char msg[] = "job 17 18 19\n";
	struct bell *b = *state;
	char buf[AIF_DOORBELL_MSG_MAX];

	bind_bell(b);
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, msg, strlen(msg)), 0);
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), (ssize_t)strlen(msg));
	assert_string_equal(buf, msg);
}

static void
ring_delivers_binary_bytes(void **state)
{
	static const char msg[] = { 'a', '\0', 'b', '\n', (char)0xff };
	struct bell *b = *state;
	char buf[16];

	bind_bell(b);
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, msg, sizeof(msg)), 0);
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), (ssize_t)sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));
	assert_int_equal(buf[sizeof(msg)], '\0');
}

static void
datagrams_keep_their_boundaries(void **state)
{
	struct bell *b = *state;
	char buf[64];

	bind_bell(b);
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, "job 1\n", 6), 0);
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, "wake\n", 5), 0);
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "job 1\n");
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "wake\n");
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), 0);
}

static void
message_of_max_size_arrives_whole(void **state)
{
	struct bell *b = *state;
	static char msg[AIF_DOORBELL_MSG_MAX - 1], buf[AIF_DOORBELL_MSG_MAX];

	bind_bell(b);
	memset(msg, 'j', sizeof(msg));
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, msg, sizeof(msg)), 0);
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), (ssize_t)sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));
}

static void
recv_truncates_to_cap_and_terminates(void **state)
{
	struct bell *b = *state;
	char buf[8];

	bind_bell(b);
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, "job 1234567890\n", 15), 0);
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "job 123");
	/* the rest of a truncated datagram is discarded, not read next time */
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), 0);
}

static void
recv_with_nothing_pending_returns_zero(void **state)
{
	struct bell *b = *state;
	char buf[64];
	int64_t t0;

	bind_bell(b);
	t0 = aif_now_ms();
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), 0);
	assert_true(aif_now_ms() - t0 < 100);
}

static void
recv_with_zero_cap_is_error(void **state)
{
	struct bell *b = *state;
	char buf[1];

	bind_bell(b);
	assert_int_equal(aif_doorbell_recv(b->fd, buf, 0), -1);
}

static void
recv_on_bad_fd_is_error(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(aif_doorbell_recv(-1, buf, sizeof(buf)), -1);
}

static void
ring_to_missing_path_fails_without_blocking(void **state)
{
	struct bell *b = *state;
	int64_t t0 = aif_now_ms();

	assert_int_equal(aif_doorbell_ring(b->sender, b->path, "wake\n", 5), -1);
	assert_true(aif_now_ms() - t0 < 100);
}

static void
ring_to_closed_receiver_fails(void **state)
{
	struct bell *b = *state;
	struct stat st;

	bind_bell(b);
	/* close without unlinking: the file stays but nobody listens */
	close(b->fd);
	b->fd = -1;
	assert_int_equal(stat(b->path, &st), 0);
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, "wake\n", 5), -1);
}

static void
ring_with_bad_arguments_fails(void **state)
{
	struct bell *b = *state;

	bind_bell(b);
	assert_int_equal(aif_doorbell_ring(-1, b->path, "wake\n", 5), -1);
	assert_int_equal(aif_doorbell_ring(b->sender, NULL, "wake\n", 5), -1);
	assert_int_equal(aif_doorbell_ring(b->sender, "", "wake\n", 5), -1);
	assert_int_equal(aif_doorbell_ring_patient(-1, b->path, "wake\n", 5, 10), -1);
	assert_int_equal(aif_doorbell_ring_patient(b->sender, NULL, "wake\n", 5, 10), -1);
}

/* Builds "<dir>/<x...>" of exactly `len` characters. */
static void
path_of_length(const struct bell *b, size_t len, char *out, size_t cap)
{
	size_t dl = strlen(b->dir);

	assert_true(len > dl + 1 && len < cap);
	memcpy(out, b->dir, dl);
	out[dl] = '/';
	memset(out + dl + 1, 'p', len - dl - 1);
	out[len] = '\0';
}

static void
bind_accepts_longest_path_that_fits(void **state)
{
	struct bell *b = *state;

	path_of_length(b, AIF_DOORBELL_PATH_MAX - 1, b->path, sizeof(b->path));
	bind_bell(b);
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, "wake\n", 5), 0);
}

static void
bind_rejects_path_too_long(void **state)
{
	struct bell *b = *state;
	char path[sizeof(b->path)];
	struct stat st;
	int fd = 1234;

	path_of_length(b, AIF_DOORBELL_PATH_MAX, path, sizeof(path));
	assert_int_equal(aif_doorbell_bind(path, &fd), AIF_TOOBIG);
	assert_int_equal(fd, -1);
	assert_int_equal(stat(path, &st), -1);
}

static void
ring_to_path_too_long_fails(void **state)
{
	struct bell *b = *state;
	char path[sizeof(b->path)];

	path_of_length(b, AIF_DOORBELL_PATH_MAX, path, sizeof(path));
	assert_int_equal(aif_doorbell_ring(b->sender, path, "wake\n", 5), -1);
	assert_int_equal(aif_doorbell_ring_patient(b->sender, path, "wake\n", 5, 10), -1);
}

static void
bind_in_missing_directory_is_io_error(void **state)
{
	struct bell *b = *state;
	char path[sizeof(b->path)];
	int fd = 1234;

	snprintf(path, sizeof(path), "%s/no/such/dir.sock", b->dir);
	assert_int_equal(aif_doorbell_bind(path, &fd), AIF_IO);
	assert_int_equal(fd, -1);
}

static void
bind_sets_mode_0660(void **state)
{
	struct bell *b = *state;
	struct stat st;

	bind_bell(b);
	assert_int_equal(stat(b->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
}

static void
bind_replaces_stale_file(void **state)
{
	struct bell *b = *state;
	FILE *f = fopen(b->path, "w");
	char buf[16];

	assert_non_null(f);
	fclose(f);
	bind_bell(b);
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, "wake\n", 5), 0);
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), 5);
}

static void
close_unlinks_the_socket(void **state)
{
	struct bell *b = *state;
	struct stat st;

	bind_bell(b);
	assert_int_equal(stat(b->path, &st), 0);
	aif_doorbell_close(b->fd, b->path);
	b->fd = -1;
	assert_int_equal(stat(b->path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void
close_accepts_nothing(void **state)
{
	(void)state;
	aif_doorbell_close(-1, NULL);
}

static void
ring_on_full_queue_fails_at_once(void **state)
{
	struct bell *b = *state;
	int64_t t0;

	bind_bell(b);
	assert_true(fill_queue(b) > 0);
	t0 = aif_now_ms();
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, "wake\n", 5), -1);
	assert_true(aif_now_ms() - t0 < 100);
}

static void
ring_patient_on_free_queue_sends_at_once(void **state)
{
	struct bell *b = *state;
	char buf[16];
	int64_t t0;

	bind_bell(b);
	t0 = aif_now_ms();
	assert_int_equal(aif_doorbell_ring_patient(b->sender, b->path, "job 1\n", 6, 500), 0);
	assert_true(aif_now_ms() - t0 < 100);
	assert_int_equal(aif_doorbell_recv(b->fd, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "job 1\n");
}

static void
ring_patient_gives_up_after_max_wait(void **state)
{
	struct bell *b = *state;
	int64_t t0, took;

	bind_bell(b);
	fill_queue(b);
	t0 = aif_now_ms();
	assert_int_equal(aif_doorbell_ring_patient(b->sender, b->path, "job 1\n", 6, 50), -1);
	took = aif_now_ms() - t0;
	assert_true(took >= 45);
	assert_true(took < 1000);
}

static void
ring_patient_to_missing_path_does_not_wait(void **state)
{
	struct bell *b = *state;
	int64_t t0 = aif_now_ms();

	assert_int_equal(aif_doorbell_ring_patient(b->sender, b->path, "wake\n", 5, 5000), -1);
	assert_true(aif_now_ms() - t0 < 100);
}

struct drainer {
	int	fd;
	int	delay_ms;
	ssize_t	got;
	char	buf[64];
};

static void *
drain_one_later(void *arg)
{
	struct drainer *d = arg;
	struct timespec ts = { d->delay_ms / 1000, (long)(d->delay_ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
	d->got = aif_doorbell_recv(d->fd, d->buf, sizeof(d->buf));
	return NULL;
}

static void
ring_patient_succeeds_when_receiver_drains(void **state)
{
	struct bell *b = *state;
	struct drainer d = { .delay_ms = 30 };
	char buf[64], last[64];
	pthread_t th;
	int64_t t0, took;
	int n, queued = 0;

	bind_bell(b);
	n = fill_queue(b);
	d.fd = b->fd;
	assert_int_equal(pthread_create(&th, NULL, drain_one_later, &d), 0);
	t0 = aif_now_ms();
	assert_int_equal(aif_doorbell_ring_patient(b->sender, b->path, "job 42\n", 7, 2000),
	    0);
	took = aif_now_ms() - t0;
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(d.got, 5);
	assert_true(took >= 20);
	assert_true(took < 1000);
	/* everything queued is still there, and the patient one came last */
	last[0] = '\0';
	while (aif_doorbell_recv(b->fd, buf, sizeof(buf)) > 0) {
		snprintf(last, sizeof(last), "%s", buf);
		queued++;
	}
	assert_int_equal(queued, n);
	assert_string_equal(last, "job 42\n");
}

/* A datagram from this process's user is vouched for by the kernel; one cut short by
 * the buffer is not (its content beyond the first line is not to be believed). */
static void
recv_local_vouches_for_own_user_only_when_whole(void **state)
{
	static const char msg[] = "take 7\n{\"w\":1}";
	struct bell *b = *state;
	char buf[64], small[8];
	int own = -1;

	bind_bell(b);
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, msg, strlen(msg)), 0);
	assert_int_equal(aif_doorbell_recv_local(b->fd, buf, sizeof(buf), &own),
	    (ssize_t)strlen(msg));
	assert_string_equal(buf, msg);
	assert_int_equal(own, 1);
	assert_int_equal(aif_doorbell_ring(b->sender, b->path, msg, strlen(msg)), 0);
	assert_int_equal(aif_doorbell_recv_local(b->fd, small, sizeof(small), &own), 7);
	assert_string_equal(small, "take 7\n");
	assert_int_equal(own, 0);
	assert_int_equal(aif_doorbell_recv_local(b->fd, buf, sizeof(buf), &own), 0);
	assert_int_equal(own, 0);
}

/* A process of another user (a member of the socket's group, say) is not vouched for.
 * Needs root to become another user; skipped otherwise. */
static void
recv_local_does_not_vouch_for_another_user(void **state)
{
	struct bell *b = *state;
	char buf[64];
	int own = -1, status = 0;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	bind_bell(b);
	assert_int_equal(chmod(b->path, 0666), 0);
	assert_int_equal(chmod(b->dir, 0755), 0);
	if ((pid = fork()) == 0) {
		int fd;
		if (setgid(65534) != 0 || setuid(65534) != 0 ||
		    (fd = aif_doorbell_sender()) < 0)
			_exit(2);
		_exit(aif_doorbell_ring(fd, b->path, "take 9\n{}", 10) == 0 ? 0 : 3);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(aif_doorbell_recv_local(b->fd, buf, sizeof(buf), &own), 10);
	assert_int_equal(own, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_bell, teardown_bell)
		T(ring_delivers_exact_bytes),
		T(ring_delivers_binary_bytes),
		T(datagrams_keep_their_boundaries),
		T(message_of_max_size_arrives_whole),
		T(recv_truncates_to_cap_and_terminates),
		T(recv_with_nothing_pending_returns_zero),
		T(recv_with_zero_cap_is_error),
		T(recv_on_bad_fd_is_error),
		T(ring_to_missing_path_fails_without_blocking),
		T(ring_to_closed_receiver_fails),
		T(ring_with_bad_arguments_fails),
		T(bind_accepts_longest_path_that_fits),
		T(bind_rejects_path_too_long),
		T(ring_to_path_too_long_fails),
		T(bind_in_missing_directory_is_io_error),
		T(bind_sets_mode_0660),
		T(bind_replaces_stale_file),
		T(close_unlinks_the_socket),
		T(close_accepts_nothing),
		T(ring_on_full_queue_fails_at_once),
		T(ring_patient_on_free_queue_sends_at_once),
		T(ring_patient_gives_up_after_max_wait),
		T(ring_patient_to_missing_path_does_not_wait),
		T(ring_patient_succeeds_when_receiver_drains),
		T(recv_local_vouches_for_own_user_only_when_whole),
		T(recv_local_does_not_vouch_for_another_user),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
