/*
 * engine/kernels/quant_scan.c — top-k over quantized blocks, and the exact
 * rescoring of its candidates.
 *
 * The scan is scan.c's over encoded rows: the vectors (counted across
 * blocks) are cut into equal ranges, one per part on the pool; each part
 * scores its range a chunk at a time and keeps its own heap; the heaps are
 * merged. The result does not depend on the number of parts (a row's score
 * does not depend on its group, and the heap order is total).
 *
 * Rescoring: the quantized top k x oversample are candidates; each one's
 * f32 vector comes from the caller's accessor and is scored with the same
 * f32 kernel rdb_scan_topk uses, one row per call. By the f32 kernels'
 * invariant that is the score the f32 scan gives that vector, so the
 * returned scores are exact and, when every true top-k vector is among the
 * candidates, the list equals the f32 scan's.
 */
#include <stdlib.h>

#include "engine/kernels/pool.h"
#include "engine/kernels/quant.h"
#include "engine/kernels/scan_util.h"

/* A cursor over the global range [pos, end) of the encoded rows. */
typedef struct qrange {
	const rdb_qblock *blocks;
	size_t n_blocks, b, off, left;
} qrange;

static void qrange_init(qrange *r, const rdb_qblock *blocks, size_t n_blocks, size_t start,
                        size_t end)
{
	*r = (qrange){blocks, n_blocks, 0, 0, end > start ? end - start : 0};
	while (r->b < n_blocks && start >= blocks[r->b].count) {
		start -= blocks[r->b].count;
		r->b++;
	}
	r->off = start;
}

/* Next run of at most max rows inside one block (its first row in *row of
 * *block); 0 when done. */
static size_t qrange_next(qrange *r, size_t max, const rdb_qblock **block, size_t *row)
{
	while (r->left > 0 && r->b < r->n_blocks) {
		const rdb_qblock *bl = &r->blocks[r->b];
		if (r->off >= bl->count) {
			r->b++;
			r->off = 0;
			continue;
		}
		size_t m = bl->count - r->off;
		m = m > max ? max : m;
		m = m > r->left ? r->left : m;
		*block = bl;
		*row = r->off;
		r->off += m;
		r->left -= m;
		return m;
	}
	return 0;
}

/* A row's position as the scan by position keeps it in place of its id:
 * block + 1 in the high half (so never 0), row in the low half; in block
 * order, like the ids of appended vectors. */
static inline uint64_t qpos(size_t block, size_t row)
{
	return (uint64_t)(block + 1) << 32 | (uint64_t)row;
}

typedef struct qscan_job {
	const rdb_qquery *q;
	const rdb_qblock *blocks;
	size_t n_blocks, total, parts, row_bytes;
	rdb_keep_fn keep;
	void *keep_ctx;
	rdb_topk *heaps; /* one per part */
	int by_pos;      /* heaps hold rdb_qpos codes instead of ids */
} qscan_job;

static void qscan_part(void *arg, size_t part)
{
	qscan_job *j = arg;
	float sc[RDB_SCAN_CHUNK];
	qrange r;
	qrange_init(&r, j->blocks, j->n_blocks, j->total * part / j->parts,
	            j->total * (part + 1) / j->parts);
	const rdb_qblock *bl;
	size_t row, m;
	while ((m = qrange_next(&r, RDB_SCAN_CHUNK, &bl, &row)) > 0) {
		rdb_qscore(j->q, (const unsigned char *)bl->codes + row * j->row_bytes,
		           bl->scales ? bl->scales + row : NULL, m, sc);
		if (j->by_pos)
			rdb_push_scores_pos(&j->heaps[part], sc, bl->ids + row,
			                    qpos((size_t)(bl - j->blocks), row), m, j->keep, j->keep_ctx);
		else
			rdb_push_scores(&j->heaps[part], sc, bl->ids + row, m, j->keep, j->keep_ctx);
	}
}

static void qscan_run(const rdb_qquery *q, const rdb_qblock *blocks, size_t n_blocks, size_t k,
                      int threads, rdb_keep_fn keep, void *keep_ctx, int by_pos,
                      rdb_scored *out, size_t *n_out)
{
	size_t total = 0;
	for (size_t b = 0; b < n_blocks; b++)
		total += blocks[b].count;
	const size_t rb = rdb_quant_row_bytes(q->kind, q->dim);
	qscan_job j = {q, blocks, n_blocks, total, 1, rb, keep, keep_ctx, NULL, by_pos};
	/* Parts are sized by bytes scanned, in f32-equivalent dims. */
	size_t parts = rdb_scan_parts(total, (rb + 3) / 4, threads);
	rdb_scan_parts_topk(qscan_part, &j, &j.heaps, &j.parts, parts, k, out, n_out);
}

ragdb_status rdb_qscan_topk(const rdb_qquery *q, const rdb_qblock *blocks, size_t n_blocks,
                            size_t k, int threads, rdb_keep_fn keep, void *keep_ctx,
                            rdb_scored *out, size_t *n_out, rdb_err *err)
{
	(void)err; /* cannot fail: without memory for part heaps it runs on one thread */
	if (k == 0) {
		*n_out = 0;
		return RAGDB_OK;
	}
	qscan_run(q, blocks, n_blocks, k, threads, keep, keep_ctx, 0, out, n_out);
	return RAGDB_OK;
}

uint32_t rdb_oversample(uint32_t kind, uint32_t asked)
{
	/* Chosen from recall@10 on clustered vectors (benchmarks/README.md,
	 * "Quantized blocks"). Binary was 16 while rescoring looked each
	 * candidate's chunk up; from its place a candidate costs little, and at
	 * 1M x 384 recall@10 went 0.56 -> 0.95 for 15-30% of the QPS. */
	static const uint32_t def[4] = { 1, 2, 4, 64 };
	return asked ? asked : def[kind & 3];
}

size_t rdb_rescore_candidates(size_t k, size_t oversample, size_t total)
{
	/* More candidates than vectors buys nothing; the cap also bounds the
	 * allocation by the index size. */
	size_t over = oversample ? oversample : 1;
	size_t nc = k > SIZE_MAX / over ? SIZE_MAX : k * over;
	if (nc > total)
		nc = total;
	if (nc < k)
		nc = k;
	return nc;
}

ragdb_status rdb_rescore_list(size_t dim, const float *qf, const rdb_scored *cand, size_t n,
                              size_t k, rdb_vec_fn vec, void *vec_ctx, rdb_scored *out,
                              size_t *n_out, rdb_err *err)
{
	rdb_dot_fn dot = rdb_kernel_dot();
	rdb_topk best;
	rdb_topk_init(&best, out, k);
	for (size_t i = 0; i < n; i++) {
		const float *v = vec(vec_ctx, cand[i].id);
		if (!v)
			return rdb_err_set(err, RAGDB_ECORRUPT,
			                   "rescore: id %llu is in the quantized blocks but has no f32 "
			                   "vector; rebuild the quantized blocks from the f32 vectors",
			                   (unsigned long long)cand[i].id);
		float s;
		dot(qf, v, 1, dim, &s);
		rdb_topk_push(&best, s, cand[i].id);
	}
	*n_out = rdb_topk_drain(&best, out);
	return RAGDB_OK;
}

/* The candidate list of a rescoring search: room for k x oversample
 * entries (at most the blocks' vectors) and one more, never 0 bytes. */
static ragdb_status alloc_candidates(const rdb_qblock *blocks, size_t n_blocks, size_t k,
                                     size_t oversample, size_t *nc, rdb_scored **cand,
                                     rdb_err *err)
{
	size_t total = 0;
	for (size_t b = 0; b < n_blocks; b++)
		total += blocks[b].count;
	*nc = rdb_rescore_candidates(k, oversample, total);
	if (*nc > SIZE_MAX / sizeof(rdb_scored) - 1)
		return rdb_err_set(err, RAGDB_ENOMEM,
		                   "rescore: %zu candidates are too many; lower k or the oversample", *nc);
	if (!(*cand = malloc((*nc + 1) * sizeof **cand)))
		return rdb_err_set(err, RAGDB_ENOMEM,
		                   "rescore: out of memory for %zu candidates; lower k or the oversample",
		                   *nc);
	return RAGDB_OK;
}

ragdb_status rdb_qsearch_rescore(const rdb_qquery *q, const float *qf, const rdb_qblock *blocks,
                                 size_t n_blocks, size_t k, size_t oversample, int threads,
                                 rdb_keep_fn keep, void *keep_ctx, rdb_vec_fn vec, void *vec_ctx,
                                 rdb_scored *out, size_t *n_out, rdb_err *err)
{
	if (k == 0) {
		*n_out = 0;
		return RAGDB_OK;
	}
	size_t nc;
	rdb_scored *cand;
	ragdb_status ast = alloc_candidates(blocks, n_blocks, k, oversample, &nc, &cand, err);
	if (ast)
		return ast;
	size_t n = 0;
	ragdb_status st = rdb_qscan_topk(q, blocks, n_blocks, nc, threads, keep, keep_ctx, cand, &n, err);
	if (st == RAGDB_OK)
		st = rdb_rescore_list(q->dim, qf, cand, n, k, vec, vec_ctx, out, n_out, err);
	free(cand);
	return st;
}

/* Rescore n candidates given by place (rdb_qpos codes, from a scan of
 * blocks by position) from the f32 blocks, into the top k in out. Each
 * candidate's f32 row is at the same block and row of the f32 blocks,
 * scored by the f32 kernel one row per call as in rdb_rescore_list. */
static ragdb_status rescore_by_place(const float *qf, size_t dim, const rdb_qblock *blocks,
                                     const rdb_vblock *fblocks, size_t n_blocks,
                                     const rdb_scored *cand, size_t n, size_t k, rdb_scored *out,
                                     size_t *n_out, rdb_err *err)
{
	rdb_dot_fn dot = rdb_kernel_dot();
	rdb_topk best;
	rdb_topk_init(&best, out, k);
	for (size_t i = 0; i < n; i++) {
		size_t b = (size_t)(cand[i].id >> 32) - 1, row = (size_t)(cand[i].id & 0xffffffffu);
		if (b >= n_blocks || row >= blocks[b].count || fblocks[b].count != blocks[b].count ||
		    fblocks[b].ids[row] != blocks[b].ids[row])
			return rdb_err_set(err, RAGDB_ECORRUPT,
			                   "rescore: quantized block %zu row %zu has no matching f32 vector; "
			                   "rebuild the quantized blocks from the f32 vectors", b, row);
		float s;
		dot(qf, fblocks[b].vecs + row * dim, 1, dim, &s);
		rdb_topk_push(&best, s, blocks[b].ids[row]);
	}
	*n_out = rdb_topk_drain(&best, out);
	return RAGDB_OK;
}

ragdb_status rdb_qsearch_rescore_blocks(const rdb_qquery *q, const float *qf,
                                        const rdb_qblock *blocks, const rdb_vblock *fblocks,
                                        size_t n_blocks, size_t k, size_t oversample, int threads,
                                        rdb_keep_fn keep, void *keep_ctx, rdb_scored *out,
                                        size_t *n_out, rdb_err *err)
{
	if (k == 0) {
		*n_out = 0;
		return RAGDB_OK;
	}
	size_t nc;
	rdb_scored *cand;
	ragdb_status ast = alloc_candidates(blocks, n_blocks, k, oversample, &nc, &cand, err);
	if (ast)
		return ast;
	size_t n = 0;
	qscan_run(q, blocks, n_blocks, nc, threads, keep, keep_ctx, 1, cand, &n);
	ragdb_status st = rescore_by_place(qf, q->dim, blocks, fblocks, n_blocks, cand, n, k, out,
	                                   n_out, err);
	free(cand);
	return st;
}

/* --- several queries in one pass (engine/share.c) ----------------------- */

/* Bytes of codes scored against every query before moving on: well inside
 * L2, as in scan_multi.c. */
#define QMULTI_RUN_BYTES ((size_t)128 * 1024)

typedef struct qmulti_job {
	const rdb_qmulti *const *qs;
	size_t nq;
	const rdb_qblock *blocks;
	size_t n_blocks, total, parts, row_bytes, rows;
	rdb_topk *heaps; /* parts x nq, part-major */
} qmulti_job;

static void qmulti_part(void *arg, size_t part)
{
	qmulti_job *j = arg;
	float sc[RDB_SCAN_CHUNK];
	rdb_topk *heaps = j->heaps + part * j->nq;
	qrange r;
	qrange_init(&r, j->blocks, j->n_blocks, j->total * part / j->parts,
	            j->total * (part + 1) / j->parts);
	const rdb_qblock *bl;
	size_t row, m;
	while ((m = qrange_next(&r, j->rows, &bl, &row)) > 0) {
		const unsigned char *codes = (const unsigned char *)bl->codes + row * j->row_bytes;
		const uint64_t pos0 = qpos((size_t)(bl - j->blocks), row);
		for (size_t i = 0; i < j->nq; i++) {
			const rdb_qmulti *q = j->qs[i];
			if (!heaps[i].k)
				continue;
			rdb_qscore(q->q, codes, bl->scales ? bl->scales + row : NULL, m, sc);
			rdb_push_scores_pos(&heaps[i], sc, bl->ids + row, pos0, m, q->keep, q->keep_ctx);
		}
	}
}

ragdb_status rdb_qsearch_rescore_blocks_multi(const rdb_qmulti *const *qs, size_t nq,
                                              const rdb_qblock *blocks,
                                              const rdb_vblock *fblocks, size_t n_blocks,
                                              int threads, rdb_err *err)
{
	if (nq == 0)
		return RAGDB_OK;
	const rdb_quant kind = qs[0]->q->kind;
	const size_t dim = qs[0]->q->dim;
	size_t total = 0, ncsum = 0, *nc = calloc(nq, sizeof *nc);
	for (size_t b = 0; b < n_blocks; b++)
		total += blocks[b].count;
	for (size_t i = 0; nc && i < nq; i++) {
		*qs[i]->n_out = 0;
		if (qs[i]->q->kind != kind || qs[i]->q->dim != dim) {
			free(nc);
			return rdb_err_set(err, RAGDB_EINVAL, "shared scan: queries of different kinds");
		}
		nc[i] = qs[i]->k ? rdb_rescore_candidates(qs[i]->k, qs[i]->oversample, total) : 0;
		if (nc[i] > SIZE_MAX / 4 / sizeof(rdb_scored) - ncsum) {
			const size_t too_many = nc[i];
			free(nc);
			return rdb_err_set(err, RAGDB_ENOMEM, "rescore: %zu candidates are too many; lower "
			                   "k or the oversample", too_many);
		}
		ncsum += nc[i];
	}
	const size_t rb = rdb_quant_row_bytes(kind, dim);
	size_t work = (rb + 3) / 4;
	work = nq > SIZE_MAX / work ? SIZE_MAX : work * nq;
	const size_t parts = rdb_scan_parts(total, work, threads);
	rdb_scored *storage = NULL, *cand = NULL;
	rdb_topk *heaps = NULL;
	if (nc && parts <= SIZE_MAX / nq && ncsum <= SIZE_MAX / sizeof *storage / (parts + 1)) {
		storage = malloc((parts * ncsum + 1) * sizeof *storage);
		cand = malloc((ncsum + 1) * sizeof *cand);
		heaps = malloc(parts * nq * sizeof *heaps);
	}
	ragdb_status st = RAGDB_OK;
	if (!storage || !cand || !heaps) {
		/* Short of memory for a shared pass: one search per query gives the
		 * same lists, only slower. */
		for (size_t i = 0; i < nq && st == RAGDB_OK; i++)
			st = rdb_qsearch_rescore_blocks(qs[i]->q, qs[i]->qf, blocks, fblocks, n_blocks, qs[i]->k,
			                                qs[i]->oversample, threads, qs[i]->keep, qs[i]->keep_ctx,
			                                qs[i]->out, qs[i]->n_out, err);
		goto out;
	}
	for (size_t p = 0, off = 0; p < parts; p++)
		for (size_t i = 0; i < nq; off += nc[i], i++)
			rdb_topk_init(&heaps[p * nq + i], storage + off, nc[i]);
	size_t rows = QMULTI_RUN_BYTES / (rb ? rb : 1);
	rows = rows < 16 ? 16 : rows > RDB_SCAN_CHUNK ? RDB_SCAN_CHUNK : rows;
	qmulti_job j = {qs, nq, blocks, n_blocks, total, parts, rb, rows, heaps};
	rdb_pool_run(qmulti_part, &j, parts);
	for (size_t i = 0, off = 0; i < nq && st == RAGDB_OK; off += nc[i], i++) {
		if (!qs[i]->k)
			continue;
		rdb_topk one;
		rdb_topk_init(&one, cand + off, nc[i]);
		for (size_t p = 0; p < parts; p++) {
			const rdb_topk *h = &heaps[p * nq + i];
			for (size_t e = 0; e < h->n; e++)
				rdb_topk_push(&one, h->h[e].score, h->h[e].id);
		}
		const size_t n = rdb_topk_drain(&one, cand + off);
		st = rescore_by_place(qs[i]->qf, dim, blocks, fblocks, n_blocks, cand + off, n, qs[i]->k,
		                      qs[i]->out, qs[i]->n_out, err);
	}
out:
	free(heaps);
	free(cand);
	free(storage);
	free(nc);
	return st;
}
