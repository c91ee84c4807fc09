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
	/* Each candidate's f32 row is at the same block and row of the f32
	 * blocks, scored by the f32 kernel one row per call as in
	 * rdb_rescore_list. */
	rdb_dot_fn dot = rdb_kernel_dot();
	rdb_topk best;
	rdb_topk_init(&best, out, k);
	ragdb_status st = RAGDB_OK;
	for (size_t i = 0; i < n; i++) {
		size_t b = (size_t)(cand[i].id >> 32) - 1, row = (size_t)(cand[i].id & 0xffffffffu);
		if (b >= n_blocks || row >= blocks[b].count || fblocks[b].count != blocks[b].count ||
		    fblocks[b].ids[row] != blocks[b].ids[row]) {
			st = rdb_err_set(err, RAGDB_ECORRUPT,
			                 "rescore: quantized block %zu row %zu has no matching f32 vector; "
			                 "rebuild the quantized blocks from the f32 vectors", b, row);
			break;
		}
		float s;
		dot(qf, fblocks[b].vecs + row * q->dim, 1, q->dim, &s);
		rdb_topk_push(&best, s, blocks[b].ids[row]);
	}
	if (st == RAGDB_OK)
		*n_out = rdb_topk_drain(&best, out);
	free(cand);
	return st;
}
