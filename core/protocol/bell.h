/* bell.h -- the doorbell messages between our processes (ipc/doorbell.h carries them):
 * one short text line per datagram.
 *   "wake [<hops>]"      aif-api -> one worker: jobs were enqueued, claim; a worker that
 *                        claimed nothing passes it on to a peer with hops + 1
 *   "run"                aif-api -> workers: a workflow run was started, signalled or
 *                        cancelled: the workflow runners look for due runs (a plain
 *                        "wake" does not stir them: a job is no run)
 *   "share"              worker -> workers: the set of live workers changed
 *   "take <id>"          aif-api -> the worker job <id> was handed to at insert (written
 *                        running under its lease, core/store/queue.h): run it, or give
 *                        it back when there is no room; the line may be followed by
 *                        the job itself, one JSON object (core/store/handoff.h)
 *   "cancel <id>"        aif-api, aifctl -> the worker running job <id>: abort it
 *   "count <n>"          aif-api -> one worker: count the tokens the file
 *                        <run_dir>/count-<n>.json asks for with the model's engine
 *                        tokenizer and answer over the relay (no job: n is no jobs.id;
 *                        workers/count.c)
 *   "job <id> [<id>...]" worker -> aif-api (or aif-api to itself): these jobs are final
 * Ids are jobs.id. A datagram holds at most AIF_BELL_MAX bytes; job lists are split. */
#ifndef AIF_BELL_H
#define AIF_BELL_H

#include <stddef.h>
#include <stdint.h>

#define AIF_BELL_MAX		4096

#define AIF_BELL_IDS_MAX	600	/* ids one "job" message can carry */

enum aif_bell {
	AIF_BELL_UNKNOWN,
	AIF_BELL_WAKE,
	AIF_BELL_RUN,
	AIF_BELL_SHARE,
	AIF_BELL_CANCEL,
	AIF_BELL_JOBS,
	AIF_BELL_TAKE,
	AIF_BELL_COUNT,
};

/* The fixed messages. */
#define AIF_BELL_WAKE_MSG	"wake\n"
#define AIF_BELL_RUN_MSG	"run\n"
#define AIF_BELL_SHARE_MSG	"share"

/* Writes "wake\n" (hops 0) or "wake <hops>\n" into buf (cap bytes); returns its
 * length, 0 if it does not fit. */
size_t		aif_bell_wake(char *buf, size_t cap, int hops);

/* Writes "take <id>\n" into buf (cap bytes); returns its length, 0 if it does not fit. */
size_t		aif_bell_take(char *buf, size_t cap, uint64_t id);

/* Writes "count <n>\n" into buf (cap bytes); returns its length, 0 if it does not fit. */
size_t		aif_bell_count(char *buf, size_t cap, uint64_t n);

/* Writes the path of the file of "count <n>", <run_dir>/count-<n>.json, into out (cap
 * bytes). Returns 0, or -1 when it does not fit. */
int		aif_bell_count_file(const char *run_dir, uint64_t n, char *out, size_t cap);

/* Writes "cancel <id>\n" into buf (cap bytes); returns its length, 0 if it does not fit. */
size_t		aif_bell_cancel(char *buf, size_t cap, uint64_t id);

/* Writes "job <id> <id> ...\n" with as many of the n ids as fit in cap bytes; *used gets
 * how many. Returns the length (0 when not even one fits). */
size_t		aif_bell_jobs(char *buf, size_t cap, const uint64_t *ids, size_t n,
		    size_t *used);

/* What msg (NUL-terminated) says: for CANCEL, TAKE and COUNT ids[0], for JOBS up to cap ids, for WAKE
 * its hops in ids[0] when it has them (*n = 1; "wake" alone: *n = 0). */
enum aif_bell	aif_bell_parse(const char *msg, uint64_t *ids, size_t cap, size_t *n);

#endif
