/*
 * engine/mmr.c — maximal marginal relevance re-ranking (Carbonell and
 * Goldstein, 1998) over a candidate list, with the chunks' stored vectors as
 * the similarity. O(k x n x dim).
 */
#include "engine/retrieve.h"

#include <float.h>
#include <stdlib.h>

ragdb_status rdb_mmr(const float *const *vecs, const float *scores, size_t n, size_t dim,
                     float lambda, size_t k, size_t *order, size_t *n_out, rdb_err *err)
{
	if (k > n)
		k = n;
	float *maxsim = malloc((n ? n : 1) * sizeof *maxsim);
	char *taken = calloc(n ? n : 1, 1);
	if (!maxsim || !taken) {
		free(maxsim);
		free(taken);
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory for MMR over %zu candidates", n);
	}
	float lo = FLT_MAX, hi = -FLT_MAX;
	for (size_t i = 0; i < n; i++) {
		maxsim[i] = 0; /* nothing picked yet: no redundancy */
		if (scores[i] < lo) lo = scores[i];
		if (scores[i] > hi) hi = scores[i];
	}
	float span = hi > lo ? hi - lo : 1.0f;
	for (size_t step = 0; step < k; step++) {
		size_t best = n;
		float best_v = -FLT_MAX;
		for (size_t i = 0; i < n; i++) {
			if (taken[i])
				continue;
			float rel = hi > lo ? (scores[i] - lo) / span : 1.0f;
			float v = lambda * rel - (1.0f - lambda) * maxsim[i];
			if (v > best_v) { /* strict: ties keep the better-ranked one */
				best_v = v;
				best = i;
			}
		}
		taken[best] = 1;
		order[step] = best;
		if (!vecs[best])
			continue;
		for (size_t i = 0; i < n; i++) {
			if (taken[i] || !vecs[i])
				continue;
			float d = 0;
			for (size_t j = 0; j < dim; j++)
				d += vecs[best][j] * vecs[i][j];
			if (d > maxsim[i])
				maxsim[i] = d;
		}
	}
	free(maxsim);
	free(taken);
	*n_out = k;
	return RAGDB_OK;
}
