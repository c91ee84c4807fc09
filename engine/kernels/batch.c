/*
 * engine/kernels/batch.c — exact top-k of many queries in one pass.
 *
 * For a run of up to RDB_SCAN_CHUNK rows of a block (fewer at large dims),
 * S = Q_tile . V_runᵀ is one cblas_sgemm per tile of RDB_BATCH_TILE
 * queries; each row of S is then pushed into its query's heap. The run of V
 * (rows x dim floats) is reused by every tile while it is still in L2, so V
 * is read from memory once for the whole batch, and S (tile x rows floats)
 * stays in cache too.
 *
 * Threads split the vectors, as in scan.c: each part has its own nq heaps
 * and S buffer; the heaps are merged per query at the end. OpenBLAS is set
 * to one thread per call at the first batch (openblas_set_num_threads is
 * process-wide; nothing else in ragdb calls BLAS): our parts already use the
 * cores, `threads` then means what it says, and it measured faster than
 * letting OpenBLAS thread one call at a time (2 cores, N=50k, 200 queries:
 * 129 vs 201 ms with the Prescott kernel, 61 vs 75 ms with Haswell).
 *
 * Scores come from sgemm, so they may differ from the dot kernels in the
 * last bits; ids agree with rdb_scan_topk except between near-equal scores.
 *
 * Memory: parts x nq x k heap entries plus parts x tile x chunk floats.
 */
#include <cblas.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernels.h"
#include "engine/kernels/pool.h"
#include "engine/kernels/scan_util.h"

#define RDB_BATCH_TILE 256

typedef struct batch_job {
	const float *Q;
	size_t nq, dim;
	const rdb_vblock *blocks;
	size_t n_blocks;
	size_t total, parts, k;
	rdb_topk *heaps;  /* parts x nq */
	float *S;         /* parts x RDB_BATCH_TILE x RDB_SCAN_CHUNK */
} batch_job;

static void batch_part(void *arg, size_t part)
{
	batch_job *j = arg;
	rdb_topk *heaps = j->heaps + part * j->nq;
	float *S = j->S + part * (size_t)RDB_BATCH_TILE * RDB_SCAN_CHUNK;
	rdb_range r;
	rdb_range_init(&r, j->blocks, j->n_blocks, j->total * part / j->parts,
	               j->total * (part + 1) / j->parts);
	const uint64_t *ids;
	const float *vecs;
	size_t m;
	/* Rows per sgemm: up to ~1 MB of V, so the run stays in L2 across the
	 * query tiles even at large dims. */
	size_t rows = ((size_t)1024 * 1024) / ((j->dim ? j->dim : 1) * sizeof(float));
	rows = rows < 32 ? 32 : rows > RDB_SCAN_CHUNK ? RDB_SCAN_CHUNK : rows;
	while ((m = rdb_range_next(&r, rows, &ids, &vecs, j->dim)) > 0) {
		for (size_t q0 = 0; q0 < j->nq; q0 += RDB_BATCH_TILE) {
			size_t tq = j->nq - q0 < RDB_BATCH_TILE ? j->nq - q0 : RDB_BATCH_TILE;
			if (j->dim == 0)
				memset(S, 0, tq * m * sizeof *S);
			else
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)tq, (int)m,
				            (int)j->dim, 1.0f, j->Q + q0 * j->dim, (int)j->dim, vecs,
				            (int)j->dim, 0.0f, S, (int)m);
			for (size_t i = 0; i < tq; i++)
				rdb_push_scores(&heaps[q0 + i], S + i * m, ids, m, NULL, NULL);
		}
	}
}

static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;
static void blas_one_thread(void) { openblas_set_num_threads(1); }

ragdb_status rdb_scan_topk_batch(const float *Q, size_t nq, size_t dim, const rdb_vblock *blocks,
                                 size_t n_blocks, size_t k, int threads, rdb_scored *out,
                                 size_t *n_out, rdb_err *err)
{
	if (dim > INT_MAX)
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "batch scan: dim %zu is larger than BLAS can take (%d); "
		                   "use rdb_scan_topk per query",
		                   dim, INT_MAX);
	if (nq == 0)
		return RAGDB_OK;
	if (k == 0) {
		memset(n_out, 0, nq * sizeof *n_out);
		return RAGDB_OK;
	}
	batch_job j = {Q, nq, dim, blocks, n_blocks, rdb_blocks_total(blocks, n_blocks), 1, k,
	               NULL, NULL};
	/* Each query scores every vector: the work is nq scans' (saturated). */
	size_t d = dim ? dim : 1;
	size_t parts = rdb_scan_parts(j.total, nq > SIZE_MAX / d ? SIZE_MAX : nq * d, threads);
	ragdb_status st = RAGDB_ENOMEM;
	rdb_scored *storage = NULL;
	rdb_topk *heaps = NULL;
	float *S = NULL;

	/* Part 0 keeps its heaps in out; the others need parts-1 more. */
	const size_t entry = sizeof(rdb_scored);
	if (nq > SIZE_MAX / k || nq * k > SIZE_MAX / entry / parts ||
	    nq > SIZE_MAX / sizeof *heaps / parts)
		goto out;
	if (parts > 1 && !(storage = malloc((parts - 1) * nq * k * entry)))
		goto out;
	if (!(heaps = malloc(parts * nq * sizeof *heaps)))
		goto out_free_storage;
	if (!(S = malloc(parts * (size_t)RDB_BATCH_TILE * RDB_SCAN_CHUNK * sizeof *S)))
		goto out_free_heaps;

	for (size_t i = 0; i < nq; i++)
		rdb_topk_init(&heaps[i], out + i * k, k);
	for (size_t p = 1; p < parts; p++)
		for (size_t i = 0; i < nq; i++)
			rdb_topk_init(&heaps[p * nq + i], storage + ((p - 1) * nq + i) * k, k);
	j.parts = parts;
	j.heaps = heaps;
	j.S = S;
	pthread_once(&g_blas_once, blas_one_thread);
	rdb_pool_run(batch_part, &j, parts);

	for (size_t i = 0; i < nq; i++) {
		rdb_topk *t = &heaps[i];
		for (size_t p = 1; p < parts; p++) {
			const rdb_topk *o = &heaps[p * nq + i];
			for (size_t e = 0; e < o->n; e++)
				rdb_topk_push(t, o->h[e].score, o->h[e].id);
		}
		n_out[i] = rdb_topk_drain(t, out + i * k);
	}
	st = RAGDB_OK;
	free(S);
out_free_heaps:
	free(heaps);
out_free_storage:
	free(storage);
out:
	if (st != RAGDB_OK)
		rdb_err_set(err, st,
		            "batch scan: no memory for %zu queries x top-%zu in %zu parts; "
		            "use smaller batches or a smaller k",
		            nq, k, parts);
	return st;
}
