/*
 * engine/retrieve.h — the ranking pieces behind ragdb_search beyond the
 * vector scan: BM25F over the full-text index (bm25.c), search filters
 * (filter.c) and MMR re-ranking (mmr.c). Shared by search.c only.
 */
#ifndef RDB_RETRIEVE_H
#define RDB_RETRIEVE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/kernels/kernels.h"
#include "engine/providers/bm25_tokenize.h"
#include "index/store.h"

/* --- BM25F (bm25.c) ---------------------------------------------------- */

/* BM25F parameters. k1 saturates term frequency; b (body) and b_title
 * normalise by field length; w_title weighs the title field (document title
 * + heading path) against the body. */
typedef struct rdb_bm25_params {
	float k1, b, w_title, b_title;
} rdb_bm25_params;

#define RDB_BM25_K1 1.2f
#define RDB_BM25_B 0.75f
#define RDB_BM25_W_TITLE 2.0f
#define RDB_BM25_B_TITLE 0.5f

/* A query as weighted term ids (terms no chunk holds are dropped). */
typedef struct rdb_bm25_query {
	uint32_t *ids;
	float *w;
	size_t n, cap;
} rdb_bm25_query;

/* Tokenize @p text and resolve its terms in snapshot @p t; each distinct
 * term weighs its count in the query. */
ragdb_status rdb_bm25_query_parse(rdb_txn *t, rdb_tokenizer *tok, const char *text,
                                  rdb_bm25_query *out, rdb_err *err);
void rdb_bm25_query_free(rdb_bm25_query *q);

/* Pseudo-relevance feedback (RM3, Lavrenko and Croft; Anserini's defaults):
 * from the @p n_fb best chunks of a first pass (@p fb, best first), estimate
 * a relevance model P(w|R) = sum_d P(w|d) P(d|q) with P(d|q) the normalised
 * first-pass score, and mix its @p n_terms best terms into @p q:
 * q' = orig x q/|q| + (1 - orig) x P(.|R) over those terms. Anserini's orig
 * is 0.5; 0.8 measured better on the manpages set (one relevant document
 * per query, where feedback drifts) at a small cost on cranfield. */
#define RDB_PRF_DOCS 10
#define RDB_PRF_TERMS 10
#define RDB_PRF_ORIG 0.8f
ragdb_status rdb_bm25_expand(rdb_txn *t, rdb_bm25_query *q, const rdb_scored *fb, size_t n_fb,
                             size_t n_terms, float orig, rdb_err *err);

/* The @p k best chunks by BM25F score (ties: smaller chunk id), filtered by
 * @p keep (may be NULL) as they are scored. out holds k entries; *n_out =
 * min(k, matching chunks holding a query term). Read txn only. */
ragdb_status rdb_bm25_topk(rdb_txn *t, const rdb_bm25_query *q, const rdb_bm25_params *p,
                           size_t k, rdb_keep_fn keep, void *keep_ctx, rdb_scored *out,
                           size_t *n_out, rdb_err *err);

/* rdb_bm25_topk by merging every posting of every term: the reference the
 * tests hold the pruned search to (same chunks, same scores). */
ragdb_status rdb_bm25_topk_ref(rdb_txn *t, const rdb_bm25_query *q, const rdb_bm25_params *p,
                               size_t k, rdb_keep_fn keep, void *keep_ctx, rdb_scored *out,
                               size_t *n_out, rdb_err *err);

/* One chunk's BM25F score contribution for one term (exposed for tests):
 * idf x tf~ (k1 + 1) / (k1 + tf~), tf~ the length-normalised, weighted sum of
 * the field frequencies; idf = ln(1 + (N - df + 0.5) / (df + 0.5)). */
double rdb_bm25_term_score(const rdb_bm25_params *p, uint64_t n_chunks, uint64_t df,
                           double avg_body, double avg_title, uint32_t tf_body,
                           uint32_t tf_title, uint32_t len_body, uint32_t len_title);

/* --- filters (filter.c) ------------------------------------------------- */

/* Parsed filter expressions, all of which must hold:
 *   source:GLOB   the document's source (a relative glob also matches the
 *                 end of the source after a '/'); id:GLOB the document id.
 *                 fnmatch without FNM_PATHNAME: '*' (and so '**') crosses '/'.
 *   KEY OP VALUE  a top-level field of the document's metadata, OP one of
 *                 = != < <= > >=; numbers compare numerically when both
 *                 sides are numbers, else as strings (bytewise); an array
 *                 field holds when one element does (!=: when none equals);
 *                 a missing field holds only for !=. VALUE may be quoted. */
typedef struct rdb_filter rdb_filter;

/* EINVAL with a message naming the bad expression and what was expected. */
ragdb_status rdb_filter_parse(const char *const *exprs, size_t n, rdb_filter **out,
                              rdb_err *err);
void rdb_filter_free(rdb_filter *f);
/* Whether document @p d passes (metadata parsed once per call). */
int rdb_filter_match(const rdb_filter *f, const rdb_doc *d);

/* The chunk ids of the documents that pass, as a bitmap (resolved once per
 * document, before the scan; keep() is then a bit test, safe from any
 * thread). */
typedef struct rdb_chunkset {
	uint64_t *bits;
	uint64_t nbits;
	uint64_t count;
} rdb_chunkset;
ragdb_status rdb_filter_chunks(const rdb_filter *f, rdb_txn *t, rdb_chunkset *out, rdb_err *err);
void rdb_chunkset_free(rdb_chunkset *s);
int rdb_chunkset_keep(void *ctx, uint64_t id);

/* --- MMR (mmr.c) -------------------------------------------------------- */

/* Maximal marginal relevance: pick @p k of the @p n candidates (scores best
 * first, vecs[i] a unit vector of dim floats or NULL), each step the one
 * maximising lambda x rel - (1 - lambda) x max cosine to those picked, rel
 * the score min-max normalised to [0, 1]. order receives the picked indices
 * in order; returns how many (min(k, n)). ENOMEM only. */
ragdb_status rdb_mmr(const float *const *vecs, const float *scores, size_t n, size_t dim,
                     float lambda, size_t k, size_t *order, size_t *n_out, rdb_err *err);

#endif
