/*
 * engine/kernels/scan.c — exact top-k of one query over the vector blocks.
 *
 * The vectors (counted across blocks) are cut into equal ranges, one per
 * part; each part scores its range a chunk at a time into a stack buffer
 * and keeps its own heap; the heaps are then merged into the caller's. The
 * parts run on the persistent pool (pool.c), the caller being one of them.
 *
 * Invariant: the result does not depend on the number of parts. Each
 * vector's score is the same whatever rows it is computed with (see the
 * dot kernels), and the heap order on (score, id) is total, so the merge of
 * the parts' top-k equals the top-k of the whole.
 *
 * Small scans run on the calling thread only: waking a worker costs tens of
 * microseconds. Measured (dim 384, in cache, 2 cores, median of 200): 1000
 * vectors 42 us on one thread vs 31 us on two; 2000: 94 vs 51 us; 64000:
 * 3.6 vs 2.1 ms. So a part gets at least 2048 vectors' worth of work.
 */
#include <pthread.h>
#include <stdlib.h>

#include "engine/kernels/kernels.h"
#include "engine/kernels/pool.h"
#include "engine/kernels/scan_util.h"

/* Least multiply-adds (vectors x dim) worth giving a part of its own.
 * RAGDB_SCAN_MIN_WORK overrides it (read once), so tests can run the
 * threaded path on small data and benchmarks can tune it. */
#define RDB_SCAN_MIN_PART ((size_t)2048 * 384)

static pthread_once_t g_min_once = PTHREAD_ONCE_INIT;
static size_t g_min_part = RDB_SCAN_MIN_PART;

static void read_min_part(void)
{
	const char *v = getenv("RAGDB_SCAN_MIN_WORK");
	if (v && *v) {
		char *end;
		unsigned long long n = strtoull(v, &end, 10);
		if (*end == 0 && n > 0)
			g_min_part = (size_t)n;
	}
}

typedef struct scan_job {
	const float *q;
	size_t dim;
	const rdb_vblock *blocks;
	size_t n_blocks;
	size_t total, parts, k;
	rdb_keep_fn keep;
	void *keep_ctx;
	rdb_dot_fn dot;
	rdb_topk *heaps; /* one per part */
} scan_job;

static void scan_part(void *arg, size_t part)
{
	scan_job *j = arg;
	float sc[RDB_SCAN_CHUNK];
	rdb_range r;
	rdb_range_init(&r, j->blocks, j->n_blocks, j->total * part / j->parts,
	               j->total * (part + 1) / j->parts);
	const uint64_t *ids;
	const float *vecs;
	size_t m;
	while ((m = rdb_range_next(&r, RDB_SCAN_CHUNK, &ids, &vecs, j->dim)) > 0) {
		j->dot(j->q, vecs, m, j->dim, sc);
		rdb_push_scores(&j->heaps[part], sc, ids, m, j->keep, j->keep_ctx);
	}
}

size_t rdb_scan_parts(size_t total, size_t dim, int threads)
{
	size_t want = threads > 0 ? (size_t)threads : (size_t)rdb_ncores();
	if (want > RDB_POOL_MAX)
		want = RDB_POOL_MAX;
	size_t d = dim ? dim : 1;
	/* total * d may overflow only beyond any real index; saturate. */
	size_t work = total > SIZE_MAX / d ? SIZE_MAX : total * d;
	pthread_once(&g_min_once, read_min_part);
	size_t by_work = work / g_min_part;
	if (by_work < 1)
		by_work = 1;
	return want < by_work ? want : by_work;
}

ragdb_status rdb_scan_topk(const float *q, size_t dim, const rdb_vblock *blocks, size_t n_blocks,
                           size_t k, int threads, rdb_keep_fn keep, void *keep_ctx,
                           rdb_scored *out, size_t *n_out, rdb_err *err)
{
	(void)err; /* cannot fail: without memory for part heaps it runs on one thread */
	if (k == 0) {
		*n_out = 0;
		return RAGDB_OK;
	}
	scan_job j = {q, dim, blocks, n_blocks, rdb_blocks_total(blocks, n_blocks), 1, k,
	              keep, keep_ctx, rdb_kernel_dot(), NULL};
	size_t parts = rdb_scan_parts(j.total, dim, threads);
	rdb_scan_parts_topk(scan_part, &j, &j.heaps, &j.parts, parts, k, out, n_out);
	return RAGDB_OK;
}

void rdb_scan_parts_topk(void (*part_fn)(void *job, size_t part), void *job,
                         rdb_topk **job_heaps, size_t *job_parts, size_t parts, size_t k,
                         rdb_scored *out, size_t *n_out)
{
	rdb_topk one;
	rdb_scored *storage = NULL;
	rdb_topk *heaps = NULL;
	if (parts > 1 && k <= SIZE_MAX / sizeof(rdb_scored) / parts) {
		storage = malloc(parts * k * sizeof(rdb_scored));
		heaps = malloc(parts * sizeof(rdb_topk));
	}
	if (!storage || !heaps) {
		/* Also the benign fallback when memory is short. */
		free(storage);
		free(heaps);
		rdb_topk_init(&one, out, k);
		*job_heaps = &one;
		*job_parts = 1;
		part_fn(job, 0);
		*n_out = rdb_topk_drain(&one, out);
		return;
	}
	for (size_t p = 0; p < parts; p++)
		rdb_topk_init(&heaps[p], storage + p * k, k);
	*job_parts = parts;
	*job_heaps = heaps;
	rdb_pool_run(part_fn, job, parts);

	rdb_topk_init(&one, out, k);
	for (size_t p = 0; p < parts; p++)
		for (size_t i = 0; i < heaps[p].n; i++)
			rdb_topk_push(&one, heaps[p].h[i].score, heaps[p].h[i].id);
	*n_out = rdb_topk_drain(&one, out);
	free(heaps);
	free(storage);
}
