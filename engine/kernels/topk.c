/*
 * engine/kernels/topk.c — bounded top-k by a binary min-heap.
 *
 * Invariants:
 *   1. h[0 .. n) is a heap under "worse": every parent is worse than or
 *      equal to its children, so h[0] is the entry to evict next.
 *   2. "Better" is a strict total order on (score, id): higher score, then
 *      smaller id. Every path that scores the same vectors the same way
 *      therefore keeps the same k, whatever order they arrive in.
 *   3. No NaN is ever stored: a NaN score is taken as -inf, because NaN
 *      compares false both ways and would break invariant 1.
 *
 * Push is O(log k); drain is O(k log k).
 */
#include <math.h>

#include "engine/kernels/kernels.h"

static inline int better(float sa, uint64_t ia, float sb, uint64_t ib)
{
	return sa > sb || (sa == sb && ia < ib);
}

void rdb_topk_init(rdb_topk *t, rdb_scored *storage, size_t k)
{
	t->h = storage;
	t->k = k;
	t->n = 0;
}

static void sift_down(rdb_scored *h, size_t n, size_t i)
{
	rdb_scored x = h[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		/* The worse child moves up. */
		if (c + 1 < n && better(h[c].score, h[c].id, h[c + 1].score, h[c + 1].id))
			c++;
		if (!better(x.score, x.id, h[c].score, h[c].id))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

void rdb_topk_push(rdb_topk *t, float score, uint64_t id)
{
	if (isnan(score))
		score = -INFINITY;
	rdb_scored *h = t->h;
	if (t->n < t->k) {
		size_t i = t->n++;
		while (i > 0) {
			size_t p = (i - 1) / 2;
			if (!better(h[p].score, h[p].id, score, id))
				break;
			h[i] = h[p];
			i = p;
		}
		h[i].score = score;
		h[i].id = id;
		return;
	}
	if (t->k == 0 || !better(score, id, h[0].score, h[0].id))
		return;
	h[0].score = score;
	h[0].id = id;
	sift_down(h, t->n, 0);
}

size_t rdb_topk_drain(rdb_topk *t, rdb_scored *out)
{
	/* Heap sort: repeatedly move the worst to the end of the shrinking
	 * heap, which leaves h sorted best-first. */
	rdb_scored *h = t->h;
	size_t total = t->n;
	for (size_t n = total; n > 1; n--) {
		rdb_scored worst = h[0];
		h[0] = h[n - 1];
		h[n - 1] = worst;
		sift_down(h, n - 1, 0);
	}
	for (size_t i = 0; i < total; i++)
		out[i] = h[i];
	t->n = 0;
	return total;
}
