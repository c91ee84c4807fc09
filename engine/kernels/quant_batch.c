/*
 * engine/kernels/quant_batch.c — top-k of many queries over quantized
 * blocks in one pass, and its exact rescoring.
 *
 * Why a pass per batch: a single-query scan of int8 or bf16 blocks is bound
 * by memory bandwidth (the kernels do far more per byte than DRAM delivers).
 * Here each part walks its range a chunk of RDB_SCAN_CHUNK rows at a time
 * and scores that chunk against every query before moving on, so a chunk
 * (192 KB of int8 at dim 384) is read from DRAM once and then from L2 for
 * the other queries: the batch runs at the kernels' speed instead.
 *
 * Invariant, as for the single-query scan: each query's list is exactly
 * what rdb_qscan_topk returns for it (a row's score does not depend on
 * which rows or queries it is computed with, and the heap order is total),
 * so batch and single searches give the same results.
 */
#include <stdlib.h>

#include "engine/kernels/pool.h"
#include "engine/kernels/quant.h"
#include "engine/kernels/scan_util.h"

typedef struct qbatch_job {
	const rdb_qquery *const *qs;
	size_t nq;
	const rdb_qblock *blocks;
	size_t n_blocks, total, parts, row_bytes;
	rdb_topk *heaps; /* parts x nq, part-major */
} qbatch_job;

static void qbatch_part(void *arg, size_t part)
{
	qbatch_job *j = arg;
	float sc[RDB_SCAN_CHUNK];
	size_t start = j->total * part / j->parts, end = j->total * (part + 1) / j->parts;
	size_t b = 0;
	while (b < j->n_blocks && start >= j->blocks[b].count) {
		start -= j->blocks[b].count;
		end -= j->blocks[b].count;
		b++;
	}
	/* start/end are now relative to block b; walk chunk by chunk. */
	size_t off = start, left = end - start;
	while (left > 0 && b < j->n_blocks) {
		const rdb_qblock *bl = &j->blocks[b];
		if (off >= bl->count) {
			b++;
			off = 0;
			continue;
		}
		size_t m = bl->count - off;
		m = m > RDB_SCAN_CHUNK ? RDB_SCAN_CHUNK : m;
		m = m > left ? left : m;
		const unsigned char *rows = (const unsigned char *)bl->codes + off * j->row_bytes;
		const float *scales = bl->scales ? bl->scales + off : NULL;
		for (size_t qi = 0; qi < j->nq; qi++) {
			rdb_qscore(j->qs[qi], rows, scales, m, sc);
			rdb_push_scores(&j->heaps[part * j->nq + qi], sc, bl->ids + off, m, NULL, NULL);
		}
		off += m;
		left -= m;
	}
}

ragdb_status rdb_qscan_topk_batch(const rdb_qquery *const *qs, size_t nq, const rdb_qblock *blocks,
                                  size_t n_blocks, size_t k, int threads, rdb_scored *out,
                                  size_t *n_out, rdb_err *err)
{
	if (nq == 0)
		return RAGDB_OK;
	if (k == 0) {
		for (size_t i = 0; i < nq; i++)
			n_out[i] = 0;
		return RAGDB_OK;
	}
	size_t total = 0;
	for (size_t b = 0; b < n_blocks; b++)
		total += blocks[b].count;
	const size_t rb = rdb_quant_row_bytes(qs[0]->kind, qs[0]->dim);
	size_t work_dim = (rb + 3) / 4;
	work_dim = nq > SIZE_MAX / work_dim ? SIZE_MAX : work_dim * nq;
	size_t parts = rdb_scan_parts(total, work_dim, threads);
	rdb_scored *storage = NULL;
	rdb_topk *heaps = NULL;
	if (parts <= SIZE_MAX / nq && parts * nq <= SIZE_MAX / sizeof(rdb_scored) / k) {
		storage = malloc(parts * nq * k * sizeof *storage);
		heaps = malloc(parts * nq * sizeof *heaps);
	}
	if (!storage || !heaps) {
		/* Memory for the part heaps is short: one query at a time gives the
		 * same lists, only slower. */
		free(storage);
		free(heaps);
		for (size_t i = 0; i < nq; i++) {
			ragdb_status st = rdb_qscan_topk(qs[i], blocks, n_blocks, k, threads, NULL, NULL,
			                                 out + i * k, &n_out[i], err);
			if (st != RAGDB_OK)
				return st;
		}
		return RAGDB_OK;
	}
	for (size_t h = 0; h < parts * nq; h++)
		rdb_topk_init(&heaps[h], storage + h * k, k);
	qbatch_job j = {qs, nq, blocks, n_blocks, total, parts, rb, heaps};
	rdb_pool_run(qbatch_part, &j, parts);
	for (size_t qi = 0; qi < nq; qi++) {
		rdb_topk one;
		rdb_topk_init(&one, out + qi * k, k);
		for (size_t p = 0; p < parts; p++) {
			const rdb_topk *h = &heaps[p * nq + qi];
			for (size_t i = 0; i < h->n; i++)
				rdb_topk_push(&one, h->h[i].score, h->h[i].id);
		}
		n_out[qi] = rdb_topk_drain(&one, out + qi * k);
	}
	free(heaps);
	free(storage);
	return RAGDB_OK;
}

ragdb_status rdb_qsearch_rescore_batch(const rdb_qquery *const *qs, const float *Qf, size_t nq,
                                       const rdb_qblock *blocks, size_t n_blocks, size_t k,
                                       size_t oversample, int threads, rdb_vec_fn vec,
                                       void *vec_ctx, rdb_scored *out, size_t *n_out,
                                       rdb_err *err)
{
	if (nq == 0)
		return RAGDB_OK;
	size_t total = 0;
	for (size_t b = 0; b < n_blocks; b++)
		total += blocks[b].count;
	size_t nc = rdb_rescore_candidates(k, oversample, total);
	if (nc > SIZE_MAX / sizeof(rdb_scored) / nq - 1)
		return rdb_err_set(err, RAGDB_ENOMEM, "rescore: %zu candidates for %zu queries are too "
		                   "many; lower k, the oversample or the batch", nc, nq);
	rdb_scored *cand = malloc((nc * nq + 1) * sizeof *cand);
	size_t *ncand = malloc(nq * sizeof *ncand);
	ragdb_status st = RAGDB_OK;
	if (!cand || !ncand) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "rescore: out of memory for %zu candidates of %zu "
		                 "queries; lower k, the oversample or the batch", nc, nq);
		goto out_free;
	}
	if ((st = rdb_qscan_topk_batch(qs, nq, blocks, n_blocks, nc, threads, cand, ncand, err)))
		goto out_free;
	for (size_t i = 0; i < nq && st == RAGDB_OK; i++)
		st = rdb_rescore_list(qs[i]->dim, Qf + i * qs[i]->dim, cand + i * nc, ncand[i], k, vec,
		                      vec_ctx, out + i * k, &n_out[i], err);
out_free:
	free(ncand);
	free(cand);
	return st;
}
