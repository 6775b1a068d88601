/* pii_bench.c -- speed of the PII masking engine on one core: throughput (MB/s) of
 * aif_pii_mask_text over mixed Korean/English prompt text with and without entities,
 * and the latency aif_pii_mask_request adds to a chat request of 4 KB and 64 KB and to
 * a completion whose prompt is 100k token ids (p50/p99/mean over many runs; the body
 * copy before each run is not timed).
 * Deterministic inputs (fixed seed). Prints a Markdown table for bench/RESULTS.md.
 *
 *   pii_bench [seconds per measurement, default 2] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "pii.h"

static const char config_yaml[] =
    "server: {listen: /tmp/x.sock, run_dir: /tmp}\n"
    "database: {socket: /tmp/db.sock, name: aif}\n"
    "models: [{id: m, adapter: openai, replicas: [{url: 'http://127.0.0.1:1'}]}]\n"
    "roles: [{name: user}]\n"
    "auth: {pepper_file: /nonexistent/pepper}\n"
    "pii:\n"
    "  enabled: true\n"
    "  detectors:\n"
    "    - {entity: PHONE, action: mask, mask_style: partial}\n"
    "    - {entity: CREDIT_CARD, action: hash}\n"
    "  rules:\n"
    "    - {name: employee-id, entity: EMPLOYEE_ID, pattern: 'EMP-[0-9]{6}', "
    "action: hash}\n";

static const char *const words_ko[] = {
	"안녕하세요", "오늘", "회의록을", "정리해", "주세요", "고객", "문의", "내용은", "다음과",
	"같습니다", "배송", "지연", "관련", "환불", "요청이", "있었고", "담당자가", "확인",
	"중입니다", "그리고", "다음", "주", "금요일까지", "보고서를", "제출해야", "합니다",
	"요약", "번역", "코드", "리뷰", "부탁드립니다", "서울", "본사", "매출은", "증가했습니다",
};
static const char *const words_en[] = {
	"please", "summarise", "the", "following", "meeting", "notes", "customer", "asked",
	"about", "a", "refund", "for", "order", "delivery", "was", "late", "and", "support",
	"team", "will", "follow", "up", "review", "this", "code", "translate", "into",
	"Korean", "quarterly", "revenue", "grew", "by", "percent", "deadline", "is", "Friday",
};
static const char *const numbers[] = {	/* ordinary numbers: not PII */
	"2024-03-15", "14:30", "1,234,567원", "$1,299.99", "v2.14.0", "12%", "3.14",
	"ORD-20240315-0001", "#4821", "1588-1234", "120/80",
};
static const char *const entities[] = {
	"kim@example.com", "010-1234-5678", "01098765432", "+82 10-2345-6789",
	"960101-1234563", "4111 1111 1111 1111", "116-82-00276", "192.168.0.10",
	"DE89 3704 0044 0532 0130 00", "신한은행 110-436-387740", "EMP-123456",
	"sk-proj-AbC123dEf456GhI789jKl012MnO345pQr678",
};

static unsigned long	seed = 12345;

static unsigned
rnd(unsigned n)
{
	seed = seed * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((seed >> 33) % n);
}

/* Fills buf (cap bytes) with mixed text; about one entity per `every` words (0: none). */
static size_t
make_text(char *buf, size_t cap, unsigned every)
{
	size_t	 n = 0;
	const char *w;
	size_t	 l;

	while (n + 64 < cap) {
		unsigned r = rnd(100);
		if (every > 0 && rnd(every) == 0)
			w = entities[rnd(sizeof(entities) / sizeof(entities[0]))];
		else if (r < 8)
			w = numbers[rnd(sizeof(numbers) / sizeof(numbers[0]))];
		else if (r < 55)
			w = words_ko[rnd(sizeof(words_ko) / sizeof(words_ko[0]))];
		else
			w = words_en[rnd(sizeof(words_en) / sizeof(words_en[0]))];
		l = strlen(w);
		memcpy(buf + n, w, l);
		n += l;
		buf[n++] = rnd(12) == 0 ? '\n' : ' ';
	}
	buf[n] = '\0';
	return n;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
throughput(const struct aif_pii_actions *act, const char *text, size_t len, double secs,
    unsigned *hits_per_mb)
{
	struct aif_pii_counts c;
	double	 t0 = now_s(), t;
	size_t	 bytes = 0, outlen, i;
	char	*out;
	unsigned found = 0;

	do {
		aif_pii_counts_init(&c);
		if (aif_pii_mask_text(act, text, len, &out, &outlen, &c, NULL, 0) != AIF_OK) {
			fprintf(stderr, "pii_bench: mask failed\n");
			exit(1);
		}
		free(out);
		bytes += len;
		for (found = 0, i = 0; i < c.ntypes; i++)
			found += c.by[i].found;
		t = now_s() - t0;
	} while (t < secs);
	*hits_per_mb = (unsigned)((double)found * 1048576.0 / (double)len);
	return (double)bytes / t / 1e6;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A chat request of about `size` bytes: several user/assistant messages. */
static json_t *
make_request(size_t size, unsigned every)
{
	json_t	*body = json_pack("{s:s, s:[]}", "model", "m", "messages"), *msgs;
	size_t	 per = size / 4, used = 0;
	char	*buf = malloc(per + 64);
	int	 i = 0;

	msgs = json_object_get(body, "messages");
	while (used + 64 < size) {
		size_t want = size - used < per ? size - used : per, n;
		n = make_text(buf, want, every);
		json_array_append_new(msgs, json_pack("{s:s, s:s#}", "role",
		    i++ % 2 ? "assistant" : "user", "content", buf, n));
		used += n + 40;
	}
	free(buf);
	return body;
}

/* Times aif_pii_mask_request on copies of `proto` (a request of `kind`); prints a row
 * "<what> (<size> B body)<more>". */
static void
latency_of(const struct aif_pii *pii, enum aif_kind kind, json_t *proto,
    const char *what, const char *more, double secs)
{
	json_t	*body;
	char	*dumped = json_dumps(proto, JSON_COMPACT);
	size_t	 n = 0, cap = 1 << 16;
	double	*samples = malloc(cap * sizeof(double)), t0 = now_s(), t, sum = 0;
	char	 blocked[AIF_PII_TYPE_LEN];

	while (now_s() - t0 < secs && n < cap) {
		struct aif_pii_counts c;
		body = json_deep_copy(proto);
		aif_pii_counts_init(&c);
		t = now_s();
		if (aif_pii_mask_request(pii, "m", "user", kind, body, &c, blocked,
		    sizeof(blocked)) != AIF_OK) {
			fprintf(stderr, "pii_bench: mask_request failed\n");
			exit(1);
		}
		samples[n] = (now_s() - t) * 1e6;
		sum += samples[n++];
		json_decref(body);
	}
	qsort(samples, n, sizeof(double), dbl_cmp);
	printf("| %s (%zu B body)%s | %.0f | %.0f | %.0f | %zu |\n", what, strlen(dumped),
	    more, samples[n / 2], samples[n * 99 / 100], sum / (double)n, n);
	free(samples);
	free(dumped);
}

static void
latency(const struct aif_pii *pii, size_t size, unsigned every, double secs)
{
	json_t	*proto = make_request(size, every);
	char	 what[64];

	snprintf(what, sizeof(what), "chat request %zu KB", size / 1024);
	latency_of(pii, AIF_KIND_CHAT, proto, what, every ? ", with entities" :
	    ", no entities", secs);
	json_decref(proto);
}

/* A completion whose prompt is `n` token ids: numbers the walk has nothing to do with. */
static void
latency_tokens(const struct aif_pii *pii, size_t n, double secs)
{
	json_t	*ids = json_array(), *proto;
	char	 what[64];

	for (size_t i = 0; i < n; i++)
		json_array_append_new(ids, json_integer((json_int_t)(rnd(50000) + 1)));
	proto = json_pack("{s:s, s:o, s:i}", "model", "m", "prompt", ids, "max_tokens",
	    16);
	snprintf(what, sizeof(what), "completion, prompt of %zuk token ids", n / 1000);
	latency_of(pii, AIF_KIND_COMPLETION, proto, what, "", secs);
	json_decref(proto);
}

int
main(int argc, char **argv)
{
	struct aif_config	*cfg = NULL;
	struct aif_pii		*pii = NULL;
	struct aif_pii_actions	 act;
	char			 errbuf[4096], *text;
	double			 secs = argc > 1 ? strtod(argv[1], NULL) : 2.0;
	size_t			 len, sizes[] = { 4096, 65536, 1 << 20 };
	unsigned		 hpm;
	size_t			 i;

	if (secs <= 0)
		secs = 2.0;
	if (aif_cfg_load_string("bench.yaml", config_yaml, sizeof(config_yaml) - 1, &cfg,
	    errbuf, sizeof(errbuf)) != AIF_OK ||
	    aif_pii_new(cfg, AIF_PII_EPHEMERAL_KEY, &pii, errbuf, sizeof(errbuf)) != AIF_OK) {
		fprintf(stderr, "pii_bench: %s\n", errbuf);
		return 1;
	}
	aif_pii_actions_for(pii, "m", "user", &act);
	text = malloc((1 << 20) + 1);
	printf("| text | size | MB/s (one core) | entities per MB |\n|---|---:|---:|---:|\n");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		len = make_text(text, sizes[i], 0);
		printf("| mixed ko/en, no entities | %zu KB | %.1f |", sizes[i] / 1024,
		    throughput(&act, text, len, secs, &hpm));
		printf(" %u |\n", hpm);
		len = make_text(text, sizes[i], 25);
		printf("| mixed ko/en, ~1 entity per 25 words | %zu KB | %.1f |",
		    sizes[i] / 1024, throughput(&act, text, len, secs, &hpm));
		printf(" %u |\n", hpm);
	}
	printf("\n| request | p50 µs | p99 µs | mean µs | runs |\n|---|---:|---:|---:|---:|\n");
	latency(pii, 4096, 0, secs);
	latency(pii, 4096, 25, secs);
	latency(pii, 65536, 0, secs);
	latency(pii, 65536, 25, secs);
	latency_tokens(pii, 100000, secs);
	free(text);
	aif_pii_free(pii);
	aif_cfg_free(cfg);
	aif_pii_thread_cleanup();
	return 0;
}
