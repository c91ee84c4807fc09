/*
 * engine/kernels/scan_multi.c — exact top-k of a few queries in one pass
 * over the vector blocks, each query with its own k and filter.
 *
 * What it is for: concurrent single searches of one knowledge base
 * (engine/share.c). A single-query scan is bound by memory bandwidth, so
 * two of them at once read every vector twice; here each part walks its
 * range a few rows at a time and scores those rows against every query
 * while they are in L2, so the vectors come from DRAM once.
 *
 * Invariant: each query's list is exactly rdb_scan_topk's for it. A row's
 * score comes from the same dot kernel (which does not depend on the rows
 * around it), the parts' heaps merge under the same total order, and
 * neither depends on the number of parts or on the other queries. Unlike
 * the register-blocked batch kernels (batch.c), whose sums run in another
 * order, a search's results then do not depend on whether it shared a
 * pass.
 */
#include <stdlib.h>

#include "engine/kernels/kernels.h"
#include "engine/kernels/pool.h"
#include "engine/kernels/scan_util.h"

/* Bytes of vectors scored against every query before moving on: well
 * inside L2 (512 KB on a Zen 3 core, 2 MB on Sapphire Rapids) while the
 * dot kernel prefetches the next rows for the first query. */
#define MULTI_RUN_BYTES ((size_t)128 * 1024)

typedef struct multi_job {
	const rdb_multi_query *const *qs;
	size_t nq, dim;
	const rdb_vblock *blocks;
	size_t n_blocks, total, parts, rows;
	rdb_dot_fn dot;
	rdb_topk *heaps; /* parts x nq, part-major */
} multi_job;

static void multi_part(void *arg, size_t part)
{
	multi_job *j = arg;
	float sc[RDB_SCAN_CHUNK];
	rdb_topk *heaps = j->heaps + part * j->nq;
	rdb_range r;
	rdb_range_init(&r, j->blocks, j->n_blocks, j->total * part / j->parts,
	               j->total * (part + 1) / j->parts);
	const uint64_t *ids;
	const float *vecs;
	size_t m;
	while ((m = rdb_range_next(&r, j->rows, &ids, &vecs, j->dim)) > 0) {
		for (size_t i = 0; i < j->nq; i++) {
			if (!j->qs[i]->k)
				continue;
			j->dot(j->qs[i]->q, vecs, m, j->dim, sc);
			rdb_push_scores(&heaps[i], sc, ids, m, j->qs[i]->keep, j->qs[i]->keep_ctx);
		}
	}
}

ragdb_status rdb_scan_topk_multi(const rdb_multi_query *const *qs, size_t nq, size_t dim,
                                 const rdb_vblock *blocks, size_t n_blocks, int threads,
                                 rdb_err *err)
{
	size_t ksum = 0;
	for (size_t i = 0; i < nq; i++) {
		*qs[i]->n_out = 0;
		ksum += qs[i]->k;
		if (ksum < qs[i]->k)
			return rdb_err_set(err, RAGDB_ENOMEM, "shared scan: k too large");
	}
	if (nq == 0 || ksum == 0)
		return RAGDB_OK;
	multi_job j = {qs, nq, dim, blocks, n_blocks, rdb_blocks_total(blocks, n_blocks), 1, 0,
	               rdb_kernel_dot(), NULL};
	const size_t row_bytes = (dim ? dim : 1) * sizeof(float);
	j.rows = MULTI_RUN_BYTES / row_bytes;
	j.rows = j.rows < 16 ? 16 : j.rows > RDB_SCAN_CHUNK ? RDB_SCAN_CHUNK : j.rows;
	size_t work = nq > SIZE_MAX / (dim ? dim : 1) ? SIZE_MAX : nq * (dim ? dim : 1);
	size_t parts = rdb_scan_parts(j.total, work, threads);
	rdb_scored *storage = NULL;
	rdb_topk *heaps = NULL;
	if (parts <= SIZE_MAX / nq && ksum <= SIZE_MAX / sizeof *storage / parts) {
		storage = malloc(parts * ksum * sizeof *storage);
		heaps = malloc(parts * nq * sizeof *heaps);
	}
	if (!storage || !heaps) {
		/* Short of memory for the part heaps: one scan per query gives the
		 * same lists, only slower. */
		free(storage);
		free(heaps);
		for (size_t i = 0; i < nq; i++) {
			ragdb_status st = rdb_scan_topk(qs[i]->q, dim, blocks, n_blocks, qs[i]->k, threads,
			                                qs[i]->keep, qs[i]->keep_ctx, qs[i]->out, qs[i]->n_out,
			                                err);
			if (st != RAGDB_OK)
				return st;
		}
		return RAGDB_OK;
	}
	for (size_t p = 0, off = 0; p < parts; p++)
		for (size_t i = 0; i < nq; off += qs[i]->k, i++)
			rdb_topk_init(&heaps[p * nq + i], storage + off, qs[i]->k);
	j.parts = parts;
	j.heaps = heaps;
	rdb_pool_run(multi_part, &j, parts);
	for (size_t i = 0; i < nq; i++) {
		rdb_topk one;
		rdb_topk_init(&one, qs[i]->out, qs[i]->k);
		for (size_t p = 0; p < parts; p++) {
			const rdb_topk *h = &heaps[p * nq + i];
			for (size_t e = 0; e < h->n; e++)
				rdb_topk_push(&one, h->h[e].score, h->h[e].id);
		}
		*qs[i]->n_out = rdb_topk_drain(&one, qs[i]->out);
	}
	free(heaps);
	free(storage);
	return RAGDB_OK;
}
