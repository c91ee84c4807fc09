/*
 * tools/cli/eval_metrics.h — retrieval metrics for `ragdb eval`, computed as
 * trec_eval and BEIR compute them (benchmarks/beir_metrics.py is the same
 * code in Python; the two are checked against each other).
 *
 * A run is a ranked list of distinct document ids, best first; the judged
 * documents of a query are (id, gain) pairs with gain > 0 (qrel scores of 0
 * or less are not relevant and are left out by the caller).
 *   nDCG@k   = DCG@k / ideal DCG@k, DCG = sum gain_i / log2(i + 1), i from 1,
 *              the qrel score as a linear gain; 0 when nothing is judged.
 *   Recall@k = judged documents in the top k / judged documents.
 *   MRR@k    = 1 / rank of the first judged document in the top k, else 0.
 * No allocation; ids are compared as strings.
 */
#ifndef RAGDB_EVAL_METRICS_H
#define RAGDB_EVAL_METRICS_H

#include <stddef.h>

typedef struct eval_rel {
	const char *doc;
	double gain;
} eval_rel;

/* nDCG cutoffs above this are clamped to it. */
#define EVAL_NDCG_MAX_K 1000

double eval_ndcg(const char *const *ranked, size_t n, const eval_rel *rels, size_t n_rels,
                 size_t k);
double eval_recall(const char *const *ranked, size_t n, const eval_rel *rels, size_t n_rels,
                   size_t k);
double eval_mrr(const char *const *ranked, size_t n, const eval_rel *rels, size_t n_rels,
                size_t k);

/* Fold chunk hits into documents: copy @p hit_docs[0..n) into @p out
 * keeping the first occurrence of each id (a document ranks where its best
 * chunk ranks). Returns the number written (<= n). Quadratic in n, meant
 * for the few hundred hits of one query. */
size_t eval_fold(const char *const *hit_docs, size_t n, const char **out);

#endif
