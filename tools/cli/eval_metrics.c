/*
 * tools/cli/eval_metrics.c — nDCG, Recall and MRR at a cutoff, and the
 * folding of chunk hits into document hits, for `ragdb eval`
 * (definitions in eval_metrics.h).
 */
#include "eval_metrics.h"

#include <math.h>
#include <string.h>

/* The gain of @p doc for the query, 0 when it is not judged relevant. */
static double gain_of(const char *doc, const eval_rel *rels, size_t n_rels)
{
	for (size_t i = 0; i < n_rels; i++)
		if (strcmp(rels[i].doc, doc) == 0)
			return rels[i].gain;
	return 0;
}

double eval_ndcg(const char *const *ranked, size_t n, const eval_rel *rels, size_t n_rels,
                 size_t k)
{
	if (k > EVAL_NDCG_MAX_K)
		k = EVAL_NDCG_MAX_K;
	double dcg = 0, idcg = 0;
	for (size_t i = 0; i < n && i < k; i++)
		dcg += gain_of(ranked[i], rels, n_rels) / log2((double)i + 2);
	/* The ideal list: the k largest gains, largest first, kept sorted by
	 * insertion (k is small). */
	double top[EVAL_NDCG_MAX_K];
	size_t nt = 0;
	for (size_t j = 0; j < n_rels; j++) {
		double g = rels[j].gain;
		if (nt == k && (k == 0 || g <= top[nt - 1]))
			continue;
		size_t at = nt < k ? nt++ : nt - 1;
		while (at > 0 && top[at - 1] < g) {
			top[at] = top[at - 1];
			at--;
		}
		top[at] = g;
	}
	for (size_t i = 0; i < nt; i++)
		idcg += top[i] / log2((double)i + 2);
	return idcg > 0 ? dcg / idcg : 0;
}

double eval_recall(const char *const *ranked, size_t n, const eval_rel *rels, size_t n_rels,
                   size_t k)
{
	if (n_rels == 0)
		return 0;
	size_t hit = 0;
	for (size_t i = 0; i < n && i < k; i++)
		if (gain_of(ranked[i], rels, n_rels) > 0)
			hit++;
	return (double)hit / (double)n_rels;
}

double eval_mrr(const char *const *ranked, size_t n, const eval_rel *rels, size_t n_rels,
                size_t k)
{
	for (size_t i = 0; i < n && i < k; i++)
		if (gain_of(ranked[i], rels, n_rels) > 0)
			return 1.0 / (double)(i + 1);
	return 0;
}

size_t eval_fold(const char *const *hit_docs, size_t n, const char **out)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < m && strcmp(out[j], hit_docs[i]) != 0)
			j++;
		if (j == m)
			out[m++] = hit_docs[i];
	}
	return m;
}
