/* test_secret.c -- unit tests of core/base/secret.c, the one loader of secret files
 * (permissions, size, kind of file, the phrases of its refusals, which never hold the
 * content), and of the engine credential header http/http.c builds from a secret
 * (Authorization: Bearer by default, a configured header otherwise). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "secret.h"

#define CONTENT	"s3cr3t-engine-key"

/* A new temporary file holding the n bytes at data, with mode `mode`; its path in
 * path[32]. */
static void
make_file(char path[32], const char *data, size_t n, mode_t mode)
{
	int	 fd;

	snprintf(path, 32, "/tmp/aif-secret-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* Loads path expecting rc; returns the length (content freed). */
static size_t
load_expect(const char *path, enum aif_err want)
{
	unsigned char	*p = (unsigned char *)"sentinel";
	size_t		 len = 99;
	enum aif_err	 rc = aif_secret_load(path, &p, &len);

	assert_int_equal(rc, want);
	if (want != AIF_OK) {
		assert_null(p);
		assert_int_equal(len, 0);
		return 0;
	}
	assert_non_null(p);
	aif_secret_free(p, len);
	return len;
}

static void
owner_only_modes_load(void **state)
{
	static const mode_t ok[] = { 0600, 0400, 0700, 0500 };
	char	 path[32];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		make_file(path, CONTENT, strlen(CONTENT), ok[i]);
		assert_int_equal(load_expect(path, AIF_OK), strlen(CONTENT));
		unlink(path);
	}
}

static void
group_or_world_access_is_refused(void **state)
{
	static const mode_t bad[] = { 0640, 0604, 0644, 0660, 0620, 0602, 0610, 0601,
	    0666, 0777 };
	char	 path[32];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_file(path, CONTENT, strlen(CONTENT), bad[i]);
		load_expect(path, AIF_FORBIDDEN);
		unlink(path);
	}
}

static void
content_is_read_raw_and_whole(void **state)
{
	char		 path[32];
	unsigned char	*p = NULL;
	size_t		 len = 0;

	(void)state;
	make_file(path, CONTENT "\n", strlen(CONTENT) + 1, 0600);
	assert_int_equal(aif_secret_load(path, &p, &len), AIF_OK);
	unlink(path);
	assert_int_equal(len, strlen(CONTENT) + 1);
	assert_memory_equal(p, CONTENT "\n", len);
	assert_int_equal(aif_secret_line_len(p, len), strlen(CONTENT));
	aif_secret_free(p, len);
}

static void
size_is_bounded(void **state)
{
	char	 path[32], *big = malloc(AIF_SECRET_MAX + 1);

	(void)state;
	assert_non_null(big);
	memset(big, 'k', AIF_SECRET_MAX + 1);
	make_file(path, big, AIF_SECRET_MAX, 0600);
	assert_int_equal(load_expect(path, AIF_OK), AIF_SECRET_MAX);
	unlink(path);
	make_file(path, big, AIF_SECRET_MAX + 1, 0600);
	load_expect(path, AIF_INVALID);
	unlink(path);
	make_file(path, big, 0, 0600);
	load_expect(path, AIF_INVALID);
	unlink(path);
	free(big);
}

static void
missing_directory_and_fifo_are_io_errors(void **state)
{
	char	 path[] = "/tmp/aif-secret-fifo-XXXXXX";

	(void)state;
	load_expect("/nonexistent/aif-secret", AIF_IO);
	load_expect("/tmp", AIF_IO);
	assert_non_null(mkdtemp(path));
	rmdir(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	load_expect(path, AIF_IO);	/* at once: no writer is waited for */
	unlink(path);
}

/* The refusal's phrase names the mode and the fix, and never the content. */
static void
why_explains_without_the_content(void **state)
{
	char	 path[32], why[AIF_SECRET_WHY_MAX];

	(void)state;
	make_file(path, CONTENT, strlen(CONTENT), 0644);
	aif_secret_why(path, AIF_FORBIDDEN, why, sizeof(why));
	assert_string_equal(why, "is readable or writable by group or others (mode 0644): "
	    "chmod 600 it");
	unlink(path);
	aif_secret_why("/nonexistent", AIF_IO, why, sizeof(why));
	assert_non_null(strstr(why, "cannot be read"));
	aif_secret_why("/x", AIF_INVALID, why, sizeof(why));
	assert_string_equal(why, "is empty or longer than 1024 bytes");
	assert_null(strstr(why, CONTENT));
	aif_secret_why("/x", AIF_FORBIDDEN, why, 8);	/* cut, terminated */
	assert_int_equal(strlen(why), 7);
}

static void
line_len_drops_one_newline_only(void **state)
{
	(void)state;
	assert_int_equal(aif_secret_line_len((const unsigned char *)"abc\n", 4), 3);
	assert_int_equal(aif_secret_line_len((const unsigned char *)"abc\r\n", 5), 3);
	assert_int_equal(aif_secret_line_len((const unsigned char *)"abc", 3), 3);
	assert_int_equal(aif_secret_line_len((const unsigned char *)"abc\n\n", 5), 4);
	assert_int_equal(aif_secret_line_len((const unsigned char *)"\n", 1), 0);
	assert_int_equal(aif_secret_line_len((const unsigned char *)"", 0), 0);
}

static void
free_accepts_null(void **state)
{
	(void)state;
	aif_secret_free(NULL, 0);
	aif_secret_free(NULL, 12);
}

/* ---- the engine credential header (http/http.c) ---- */

static void
auth_header_is_bearer_by_default(void **state)
{
	struct curl_slist *h = NULL;

	(void)state;
	assert_int_equal(aif_http_auth_header(&h, NULL, (const unsigned char *)CONTENT,
	    strlen(CONTENT)), AIF_OK);
	assert_non_null(h);
	assert_string_equal(h->data, "Authorization: Bearer " CONTENT);
	assert_null(h->next);
	aif_http_headers_free(h);
}

static void
configured_header_carries_the_key_as_it_is(void **state)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");

	(void)state;
	assert_int_equal(aif_http_auth_header(&h, "X-API-Key",
	    (const unsigned char *)CONTENT "tail", strlen(CONTENT)), AIF_OK);
	assert_string_equal(h->data, "Content-Type: application/json");
	assert_non_null(h->next);
	assert_string_equal(h->next->data, "X-API-Key: " CONTENT);
	aif_http_headers_free(h);
	h = NULL;
	/* Authorization named explicitly: the key as it is (e.g. "Basic ...") */
	assert_int_equal(aif_http_auth_header(&h, "Authorization",
	    (const unsigned char *)"Basic abc", 9), AIF_OK);
	assert_string_equal(h->data, "Authorization: Basic abc");
	aif_http_headers_free(h);
}

static void
no_key_adds_no_header(void **state)
{
	struct curl_slist *h = NULL;

	(void)state;
	assert_int_equal(aif_http_auth_header(&h, NULL, NULL, 0), AIF_OK);
	assert_null(h);
	assert_int_equal(aif_http_auth_header(&h, "X-API-Key", (const unsigned char *)"k",
	    0), AIF_OK);
	assert_null(h);
	aif_http_headers_free(NULL);
}

static void
oversized_key_is_toobig_and_leaves_the_list(void **state)
{
	unsigned char	 key[AIF_HTTP_AUTH_MAX];
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");

	(void)state;
	memset(key, 'k', sizeof(key));
	assert_int_equal(aif_http_auth_header(&h, NULL, key, sizeof(key)), AIF_TOOBIG);
	assert_string_equal(h->data, "Expect:");
	assert_null(h->next);
	/* the largest secret file fits */
	assert_int_equal(aif_http_auth_header(&h, NULL, key, AIF_SECRET_MAX), AIF_OK);
	assert_int_equal(strlen(h->next->data), strlen("Authorization: Bearer ") +
	    AIF_SECRET_MAX);
	aif_http_headers_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(owner_only_modes_load),
		cmocka_unit_test(group_or_world_access_is_refused),
		cmocka_unit_test(content_is_read_raw_and_whole),
		cmocka_unit_test(size_is_bounded),
		cmocka_unit_test(missing_directory_and_fifo_are_io_errors),
		cmocka_unit_test(why_explains_without_the_content),
		cmocka_unit_test(line_len_drops_one_newline_only),
		cmocka_unit_test(free_accepts_null),
		cmocka_unit_test(auth_header_is_bearer_by_default),
		cmocka_unit_test(configured_header_carries_the_key_as_it_is),
		cmocka_unit_test(no_key_adds_no_header),
		cmocka_unit_test(oversized_key_is_toobig_and_leaves_the_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
