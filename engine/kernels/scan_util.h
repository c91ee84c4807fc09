/*
 * engine/kernels/scan_util.h — pieces shared by the single-query scan and
 * the batch scan (internal).
 *
 * Both walk a range of the blocks' vectors counted across blocks (global
 * vector index), so a part can start or end inside a block and the work
 * splits evenly by vector count, not by block.
 */
#ifndef RDB_KERNELS_SCAN_UTIL_H
#define RDB_KERNELS_SCAN_UTIL_H

#include <math.h>

#include "engine/kernels/kernels.h"

/* Rows scored per kernel call: the score buffer (and for the batch the
 * rows of V that feed sgemm) stays in L1/L2. */
#define RDB_SCAN_CHUNK 512

/* Push one row's score (NaN counts as -inf); see rdb_push_scores. */
static inline void rdb_push_one(rdb_topk *t, float s, uint64_t id, rdb_keep_fn keep,
                                void *keep_ctx)
{
	if (isnan(s))
		s = -INFINITY;
	if (!rdb_topk_would_enter(t, s))
		return;
	if (id == 0 || (keep && !keep(keep_ctx, id)))
		return;
	rdb_topk_push(t, s, id);
}

/* Push the scores of m rows (ids alongside) into t: NaN counts as -inf,
 * tombstones and rows rejected by keep are skipped. keep is asked only
 * about rows that would enter, since it may be costly.
 *
 * Once the heap is full almost no row enters, so sixteen scores at a time
 * are compared with the heap's floor in one branch-free (vectorised) test
 * and skipped together; only a group with a score at or above the floor
 * goes row by row. NaN fails the test, which is right while the floor is
 * above -inf (a NaN, as -inf, cannot enter); at a floor of -inf every group
 * goes row by row. */
static inline void rdb_push_scores(rdb_topk *t, const float *sc, const uint64_t *ids, size_t m,
                                   rdb_keep_fn keep, void *keep_ctx)
{
	size_t i = 0;
	for (; i + 16 <= m; i += 16) {
		if (t->k && t->n == t->k && t->h[0].score > -INFINITY) {
			const float floor = t->h[0].score;
			int any = 0;
			for (size_t u = 0; u < 16; u++)
				any |= sc[i + u] >= floor;
			if (!any)
				continue;
		}
		for (size_t u = 0; u < 16; u++)
			rdb_push_one(t, sc[i + u], ids[i + u], keep, keep_ctx);
	}
	for (; i < m; i++)
		rdb_push_one(t, sc[i], ids[i], keep, keep_ctx);
}

/* rdb_push_scores, but what enters the heap is each row's position
 * (@p pos0 + i, never 0) instead of its id: tombstones (id 0) and keep
 * still go by the id. Lets a caller find a candidate's row without looking
 * its id up. The caller pushes positions in increasing order, so a row
 * that ties with the heap's floor has a larger position than everything
 * in the heap and loses the tie: once the heap is full only a strictly
 * greater score enters. That matters for binary scores, which take only
 * dim + 1 values: with a large heap thousands of rows tie with its floor. */
static inline void rdb_push_scores_pos(rdb_topk *t, const float *sc, const uint64_t *ids,
                                       uint64_t pos0, size_t m, rdb_keep_fn keep, void *keep_ctx)
{
	for (size_t i = 0; i < m; i++) {
		const int full = t->n == t->k;
		if (full && (i & 15) == 0 && i + 16 <= m) {
			const float floor = t->k ? t->h[0].score : INFINITY;
			int any = 0;
			for (size_t u = 0; u < 16; u++)
				any |= sc[i + u] > floor;
			if (!any) {
				i += 15;
				continue;
			}
		}
		float s = sc[i];
		if (isnan(s))
			s = -INFINITY;
		if (full && (!t->k || !(s > t->h[0].score)))
			continue;
		uint64_t id = ids[i];
		if (id == 0 || (keep && !keep(keep_ctx, id)))
			continue;
		rdb_topk_push(t, s, pos0 + i);
	}
}

/* Run @p part_fn(job, p) for p < @p parts on the thread pool, each part
 * filling its own top-k heap, then merge the heaps best-first into @p out
 * (*n_out entries). *job_heaps and *job_parts are the job's own fields, set
 * here before the parts run. Without memory for the part heaps it runs as
 * one part on the calling thread: it cannot fail. */
void rdb_scan_parts_topk(void (*part_fn)(void *job, size_t part), void *job,
                         rdb_topk **job_heaps, size_t *job_parts, size_t parts, size_t k,
                         rdb_scored *out, size_t *n_out);

/* A cursor over the global range [pos, end) of the blocks' vectors. */
typedef struct rdb_range {
	const rdb_vblock *blocks;
	size_t n_blocks;
	size_t b, off;  /* current block and row in it */
	size_t left;    /* rows still to visit */
} rdb_range;

static inline void rdb_range_init(rdb_range *r, const rdb_vblock *blocks, size_t n_blocks,
                                  size_t start, size_t end)
{
	r->blocks = blocks;
	r->n_blocks = n_blocks;
	r->left = end > start ? end - start : 0;
	r->b = 0;
	while (r->b < n_blocks && start >= blocks[r->b].count) {
		start -= blocks[r->b].count;
		r->b++;
	}
	r->off = start;
}

/* Next run of at most @p max rows inside one block; 0 when done. */
static inline size_t rdb_range_next(rdb_range *r, size_t max, const uint64_t **ids,
                                    const float **vecs, size_t dim)
{
	while (r->left > 0 && r->b < r->n_blocks) {
		const rdb_vblock *bl = &r->blocks[r->b];
		if (r->off >= bl->count) {
			r->b++;
			r->off = 0;
			continue;
		}
		size_t m = bl->count - r->off;
		if (m > max)
			m = max;
		if (m > r->left)
			m = r->left;
		*ids = bl->ids + r->off;
		*vecs = bl->vecs + r->off * dim;
		r->off += m;
		r->left -= m;
		return m;
	}
	return 0;
}

/* How many parts (threads) a scan of @p total vectors of @p dim should use:
 * @p threads (<= 0: the number of cores), fewer when the work is small. */
size_t rdb_scan_parts(size_t total, size_t dim, int threads);

/* Total vectors in the blocks. */
static inline size_t rdb_blocks_total(const rdb_vblock *blocks, size_t n_blocks)
{
	size_t total = 0;
	for (size_t i = 0; i < n_blocks; i++)
		total += blocks[i].count;
	return total;
}

#endif
