/*
 * engine/search.c — ragdb_search and ragdb_search_batch: in one read
 * snapshot, rank chunks by vector (cosine scan), BM25 (full-text index) or
 * both fused, with filters applied during the scans, then
 * optionally re-rank by MMR, and resolve the winners to chunks and documents.
 *
 * Flow of one query: parse filters -> resolve them to a chunk bitmap (once
 * per document) -> vector list and/or BM25 list, each retrieved deeper than
 * k when they are fused or re-ranked -> fuse -> MMR -> resolve. The scan
 * reads the blocks where they lie in the LMDB map (zero-copy); only the k
 * winners are decoded and copied into the results, which then outlive the
 * read transaction.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/internal.h"
#include "engine/ivf_api.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/quant.h"
#include "engine/retrieve.h"

#define RDB_DEFAULT_K 10
#define RDB_MAX_K 10000
/* Hybrid fusion: each list's scores divided by its best score (so both lie
 * in [0,1] at the top), then (1 - w) x BM25 + w x cosine. Measured against
 * reciprocal rank fusion (k = 60) on the manpages and cranfield sets: RRF
 * scored below BM25 alone on both (0.593 / 0.326 nDCG@10 vs 0.632 / 0.339),
 * this fusion 0.624 / 0.347 at w = 0.3; benchmarks/README.md has the table. */
#define RDB_HYBRID_VEC_WEIGHT 0.3f
#define RDB_FUSE_DEPTH 100    /* least depth of each list fused */
#define RDB_MMR_DEPTH 50      /* least depth of the list MMR re-ranks */
#define RDB_MAX_OVERSAMPLE 1000

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void hit_free_strings(ragdb_hit *h)
{
	free((char *)h->id);
	free((char *)h->source);
	free((char *)h->title);
	free((char *)h->heading);
	free((char *)h->text);
}

static void results_clear(ragdb_results *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		hit_free_strings(&r->hits[i]);
	free(r->hits);
	free((char *)r->query);
}

void ragdb_results_free(ragdb_results *r)
{
	results_clear(r);
	free(r);
}

void ragdb_results_free_array(ragdb_results *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		results_clear(&r[i]);
	free(r);
}

/* Fill @p h from chunk @p chunk_id; copies everything it keeps. */
static ragdb_status resolve_hit(rdb_txn *t, uint64_t chunk_id, float score, uint32_t rank,
                                ragdb_hit *h, uint64_t *doc_num, rdb_buf *scratch, rdb_err *e)
{
	rdb_chunk c;
	rdb_doc d;
	ragdb_status st = rdb_chunk_get(t, chunk_id, &c, scratch, e);
	if (st == RAGDB_OK)
		st = rdb_doc_get(t, c.doc, &d, e);
	if (st != RAGDB_OK) {
		if (st == RAGDB_ENOTFOUND)
			rdb_err_set(e, RAGDB_ECORRUPT,
			            "vector of chunk %llu has no chunk or document record; run `ragdb check`",
			            (unsigned long long)chunk_id);
		return e->status;
	}
	memset(h, 0, sizeof *h);
	h->rank = rank;
	h->score = score;
	h->chunk = c.ordinal;
	h->start = c.start;
	h->end = c.end;
	h->chunk_id = chunk_id;
	h->text_len = c.text_len;
	h->id = strdup(d.id);
	h->source = strdup(d.source);
	h->title = strdup(d.title);
	h->heading = strdup(c.heading);
	char *text = malloc(c.text_len + 1);
	if (text) {
		memcpy(text, c.text, c.text_len);
		text[c.text_len] = 0;
	}
	h->text = text;
	if (!h->id || !h->source || !h->title || !h->heading || !h->text) {
		hit_free_strings(h);
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory copying a search hit");
	}
	if (doc_num)
		*doc_num = c.doc;
	return RAGDB_OK;
}

/* Turn scored ids into results inside the snapshot @p t. */
static ragdb_status resolve_all(rdb_txn *t, const rdb_scored *sc, size_t n, ragdb_results *r,
                                uint64_t *doc_nums, rdb_err *e)
{
	rdb_buf scratch = {0};
	ragdb_status st = RAGDB_OK;
	r->hits = calloc(n ? n : 1, sizeof *r->hits);
	if (!r->hits)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory for %zu hits", n);
	for (size_t i = 0; i < n; i++) {
		st = resolve_hit(t, sc[i].id, sc[i].score, (uint32_t)(i + 1), &r->hits[i],
		                 doc_nums ? &doc_nums[i] : NULL, &scratch, e);
		if (st != RAGDB_OK)
			break;
		r->n = i + 1;
	}
	rdb_buf_free(&scratch);
	return st;
}

/* A search's settings, validated, with what is shared by its queries. */
typedef struct plan {
	size_t k;          /* results wanted */
	size_t cand;       /* candidates after fusion (k, or deeper for MMR) */
	size_t depth;      /* depth of each list before fusion */
	int use_vec, use_bm25;
	float mmr;
	int expand;        /* BM25 pseudo-relevance feedback */
	int threads;
	rdb_bm25_params bp;
	const char *const *filters;
	size_t n_filters;
	uint32_t oversample; /* 0 = the kind's default */
	uint32_t nprobe;     /* IVF lists to probe; 0 = the index's default */
	int exact;           /* ignore the IVF index */
} plan;

/* Validate the options into a plan. */
static ragdb_status make_plan(ragdb *db, const ragdb_search_options *opts, plan *p)
{
	static const ragdb_search_options none;
	const ragdb_search_options *o = opts ? opts : &none;
	memset(p, 0, sizeof *p);
	p->k = o->k ? o->k : RDB_DEFAULT_K;
	if (p->k > RDB_MAX_K)
		return rdb_failf(db, RAGDB_EINVAL, "k = %zu is too large; the limit is %d", p->k, RDB_MAX_K);
	switch (o->mode) {
	case RAGDB_MODE_VECTOR:
		p->use_vec = 1;
		break;
	case RAGDB_MODE_BM25:
		p->use_bm25 = 1;
		break;
	case RAGDB_MODE_DEFAULT:
	case RAGDB_MODE_HYBRID:
		p->use_vec = p->use_bm25 = 1;
		break;
	default:
		return rdb_failf(db, RAGDB_EINVAL, "unknown search mode %d; use vector, bm25 or hybrid",
		                 (int)o->mode);
	}
	if (!(o->mmr_lambda >= 0 && o->mmr_lambda <= 1))
		return rdb_failf(db, RAGDB_EINVAL, "MMR lambda %g is out of range; use a value in (0,1] "
		                 "(1 = relevance only), or 0 for no MMR", (double)o->mmr_lambda);
	if (!(o->bm25_k1 >= 0 && o->bm25_k1 <= 100) || !(o->bm25_b >= 0 && o->bm25_b <= 1))
		return rdb_failf(db, RAGDB_EINVAL, "BM25 k1 = %g / b = %g out of range; k1 in (0,100], "
		                 "b in (0,1]", (double)o->bm25_k1, (double)o->bm25_b);
	if (o->n_filters && !o->filters)
		return rdb_failf(db, RAGDB_EINVAL, "%zu filters announced but no filter array given",
		                 o->n_filters);
	if (o->oversample > RDB_MAX_OVERSAMPLE)
		return rdb_failf(db, RAGDB_EINVAL, "oversample %u is too large; use 1..%d (0 = the "
		                 "quantization's default)", o->oversample, RDB_MAX_OVERSAMPLE);
	p->oversample = o->oversample;
	p->nprobe = o->nprobe;
	p->exact = o->exact;
	p->mmr = o->mmr_lambda;
	p->threads = o->threads;
	p->filters = o->filters;
	p->n_filters = o->n_filters;
	p->bp = (rdb_bm25_params){ o->bm25_k1 > 0 ? o->bm25_k1 : RDB_BM25_K1,
	                           o->bm25_b > 0 ? o->bm25_b : RDB_BM25_B, RDB_BM25_W_TITLE,
	                           RDB_BM25_B_TITLE };
	/* Feedback: on in hybrid (where it measured better), off in plain BM25. */
	p->expand = o->expand > 0 || (o->expand == 0 && p->use_vec && p->use_bm25);
	if (p->expand && !p->use_bm25)
		return rdb_failf(db, RAGDB_EINVAL, "query expansion applies to the bm25 and hybrid "
		                 "modes; drop --expand or choose one of them");
	p->cand = p->k;
	if (p->mmr > 0 && p->mmr < 1) {
		p->cand = p->k * 4 > RDB_MMR_DEPTH ? p->k * 4 : RDB_MMR_DEPTH;
		if (p->cand > RDB_MAX_K)
			p->cand = RDB_MAX_K;
	}
	p->depth = p->cand;
	if (p->use_vec && p->use_bm25) {
		p->depth = p->cand * 2 > RDB_FUSE_DEPTH ? p->cand * 2 : RDB_FUSE_DEPTH;
		if (p->depth > 2 * RDB_MAX_K)
			p->depth = 2 * RDB_MAX_K;
	}
	return RAGDB_OK;
}

/* What one snapshot's queries share: blocks, the filter bitmap, a tokenizer. */
typedef struct snap {
	rdb_txn *t;
	rdb_block_view *views;
	size_t nviews;
	rdb_vblock *blocks;
	size_t nb;
	uint32_t qkind;      /* quantized blocks of this kind (0: f32 only) */
	rdb_qview *qviews;
	rdb_qblock *qblocks; /* nb entries when qkind */
	rdb_filter *filter;
	rdb_chunkset set;
	int filtered;
	rdb_tokenizer *tok;
	rdb_ivf_snap ivf;    /* the IVF index (engine/ivf_api.c) */
	uint32_t ivf_use;    /* lists each vector search probes; 0 = exact scan */
} snap;

static void snap_free(snap *s)
{
	rdb_tokenizer_free(s->tok);
	rdb_chunkset_free(&s->set);
	rdb_filter_free(s->filter);
	free(s->qblocks);
	free(s->qviews);
	free(s->blocks);
	free(s->views);
	rdb_txn_abort(s->t);
}

static ragdb_status snap_open(ragdb *db, const plan *p, snap *s, rdb_err *e)
{
	memset(s, 0, sizeof *s);
	ragdb_status st;
	if (p->n_filters && (st = rdb_filter_parse(p->filters, p->n_filters, &s->filter, e)))
		return st;
	if ((st = rdb_txn_begin(db->store, 0, &s->t, e)))
		return st;
	/* Queries are embedded by this handle's embedder: the stored vectors
	 * must be its (another process may have re-embedded them). */
	if ((p->use_vec || p->mmr > 0) && (st = rdb_txn_embedder_current(s->t, e)))
		return st;
	if (s->filter) {
		if ((st = rdb_filter_chunks(s->filter, s->t, &s->set, e)))
			return st;
		s->filtered = 1;
	}
	if (p->use_bm25 &&
	    (st = rdb_tokenizer_create(rdb_store_meta(db->store)->language, &s->tok, e)))
		return st;
	if (p->use_vec && ((st = rdb_ivf_snap_open(s->t, &s->ivf, e)) ||
	                   (st = rdb_ivf_plan(&s->ivf, p->nprobe, p->exact, &s->ivf_use, e))))
		return st;
	/* The IVF path reads its lists, not the blocks (MMR still needs them). */
	if ((p->use_vec && !s->ivf_use) || p->mmr > 0) {
		if ((st = rdb_blocks_get(s->t, &s->views, &s->nviews, e)))
			return st;
		s->blocks = calloc(s->nviews ? s->nviews : 1, sizeof *s->blocks);
		if (!s->blocks)
			return rdb_err_set(e, RAGDB_ENOMEM, "out of memory listing %zu vector blocks",
			                   s->nviews);
		for (size_t i = 0; i < s->nviews; i++) {
			s->blocks[i].ids = s->views[i].ids;
			s->blocks[i].vecs = s->views[i].vecs;
			s->blocks[i].count = s->views[i].count;
		}
		s->nb = s->nviews;
	}
	if (p->use_vec && !s->ivf_use) {
		if ((st = rdb_qblocks_get(s->t, s->views, s->nviews, &s->qkind, &s->qviews, e)))
			return st;
		if (s->qkind) {
			s->qblocks = calloc(s->nviews ? s->nviews : 1, sizeof *s->qblocks);
			if (!s->qblocks)
				return rdb_err_set(e, RAGDB_ENOMEM, "out of memory listing quantized blocks");
			for (size_t i = 0; i < s->nviews; i++)
				s->qblocks[i] = (rdb_qblock){ s->views[i].ids, s->qviews[i].codes,
				                              s->qviews[i].scales, s->views[i].count };
		}
	}
	return RAGDB_OK;
}

static int scored_by_id(const void *a, const void *b)
{
	uint64_t x = ((const rdb_scored *)a)->id, y = ((const rdb_scored *)b)->id;
	return (x > y) - (x < y);
}

static int scored_best_first(const void *a, const void *b)
{
	const rdb_scored *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Fuse two best-first lists (vector, BM25) into the @p cand best by the
 * max-normalised convex combination above. */
static ragdb_status fuse(const rdb_scored *a, size_t na, const rdb_scored *b, size_t nb,
                         size_t cand, rdb_scored *out, size_t *n_out, rdb_err *e)
{
	rdb_scored *all = malloc((na + nb + 1) * sizeof *all);
	if (!all)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory fusing results");
	float ta = na && a[0].score > 0 ? a[0].score : 1.0f;
	float tb = nb && b[0].score > 0 ? b[0].score : 1.0f;
	for (size_t i = 0; i < na; i++)
		all[i] = (rdb_scored){ RDB_HYBRID_VEC_WEIGHT * a[i].score / ta, a[i].id };
	for (size_t i = 0; i < nb; i++)
		all[na + i] = (rdb_scored){ (1.0f - RDB_HYBRID_VEC_WEIGHT) * b[i].score / tb, b[i].id };
	size_t n = na + nb, w = 0;
	qsort(all, n, sizeof *all, scored_by_id);
	for (size_t i = 0; i < n; i++) {
		if (w && all[w - 1].id == all[i].id)
			all[w - 1].score += all[i].score;
		else
			all[w++] = all[i];
	}
	qsort(all, w, sizeof *all, scored_best_first);
	if (w > cand)
		w = cand;
	memcpy(out, all, w * sizeof *out);
	free(all);
	*n_out = w;
	return RAGDB_OK;
}

/* The stored vector of chunk @p id, or NULL. */
static const float *chunk_vec(const snap *s, uint64_t id, uint32_t dim, rdb_buf *scratch,
                              rdb_err *e, ragdb_status *st)
{
	rdb_chunk c;
	if ((*st = rdb_chunk_get(s->t, id, &c, scratch, e)))
		return NULL;
	size_t lo = 0, hi = s->nviews;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->views[mid].block_no < c.block)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->nviews || s->views[lo].block_no != c.block || c.slot >= s->views[lo].count ||
	    s->views[lo].ids[c.slot] != id)
		return NULL;
	return s->views[lo].vecs + (size_t)c.slot * dim;
}

/* What a shared pass runs on (share.c): the leading search's snapshot and
 * settings. Every member's snapshot holds the same vectors. */
typedef struct pass_ctx {
	const snap *s;
	uint32_t dim;
	int threads;
} pass_ctx;

/* One shared pass: n searches' f32 scans (payloads: rdb_multi_query) or
 * quantized scans with rescoring (rdb_qmulti), each with exactly its own
 * scan's results. A search alone takes the single-query scan. */
static ragdb_status run_f32(void *ctx, void *const *payloads, size_t n, rdb_err *e)
{
	const pass_ctx *c = ctx;
	const rdb_multi_query *const *qs = (const rdb_multi_query *const *)payloads;
	if (n == 1)
		return rdb_scan_topk(qs[0]->q, c->dim, c->s->blocks, c->s->nb, qs[0]->k, c->threads,
		                     qs[0]->keep, qs[0]->keep_ctx, qs[0]->out, qs[0]->n_out, e);
	return rdb_scan_topk_multi(qs, n, c->dim, c->s->blocks, c->s->nb, c->threads, e);
}

static ragdb_status run_quant(void *ctx, void *const *payloads, size_t n, rdb_err *e)
{
	const pass_ctx *c = ctx;
	const rdb_qmulti *const *qs = (const rdb_qmulti *const *)payloads;
	if (n == 1)
		return rdb_qsearch_rescore_blocks(qs[0]->q, qs[0]->qf, c->s->qblocks, c->s->blocks,
		                                  c->s->nb, qs[0]->k, qs[0]->oversample, c->threads,
		                                  qs[0]->keep, qs[0]->keep_ctx, qs[0]->out, qs[0]->n_out,
		                                  e);
	return rdb_qsearch_rescore_blocks_multi(qs, n, c->s->qblocks, c->s->blocks, c->s->nb,
	                                        c->threads, e);
}

/* Vector list of @p q: the f32 scan, or the quantized scan with exact
 * rescoring of the top depth x oversample (same scores as the f32 scan),
 * either in a pass shared with the handle's other searches of the same
 * snapshot (share.c); or the IVF index's lists. */
static ragdb_status vector_topk(ragdb *db, const plan *p, snap *s, const float *q, uint32_t dim,
                                rdb_keep_fn keep, rdb_scored *out, size_t *n_out, rdb_err *e)
{
	if (s->ivf_use)
		return rdb_ivf_search(s->t, &s->ivf, q, s->ivf_use, p->depth, p->oversample, p->threads,
		                      keep, &s->set, out, n_out, e);
	pass_ctx pc = {s, dim, p->threads};
	const uint64_t id = rdb_txn_snapshot(s->t);
	if (!s->qkind) {
		rdb_multi_query mq = {q, p->depth, keep, &s->set, out, n_out};
		return rdb_share_scan(&db->share, id, p->threads, run_f32, &pc, &mq, e);
	}
	rdb_qquery *qq = NULL;
	ragdb_status st = rdb_qquery_create((rdb_quant)s->qkind, q, dim, &qq, e);
	if (st)
		return st;
	/* The f32 blocks are parallel to the quantized ones: candidates are
	 * rescored from their place, without a chunk lookup each. */
	rdb_qmulti qm = {qq, q, p->depth, rdb_oversample(s->qkind, p->oversample), keep, &s->set, out,
	                 n_out};
	st = rdb_share_scan(&db->share, id, p->threads, run_quant, &pc, &qm, e);
	rdb_qquery_free(qq);
	return st;
}

/* The vector lists of @p n queries (Q, n x dim) in one pass over the
 * blocks, by the f32 batch kernel, also when the knowledge base is
 * quantized: the f32 vectors are always kept, the batch kernel reuses each
 * block from cache across queries so it is not bound by memory, and the
 * quantized batch scan (rdb_qsearch_rescore_batch) measured slower than it
 * (bench_search, 200k x 384, 500 queries, 2 threads: bf16 0.45x, int8
 * 0.93x the f32 batch's QPS), besides needing a rescoring. vl is
 * n x depth, nvec[n]. No filters (they need the per-query keep predicate). */
static ragdb_status vector_topk_batch(const plan *p, snap *s, const float *Q, size_t n,
                                      uint32_t dim, size_t depth, rdb_scored *vl, size_t *nvec,
                                      rdb_err *e)
{
	/* With the IVF index each query probes its own lists (queries spread
	 * over the pool). */
	if (s->ivf_use)
		return rdb_ivf_search_batch(s->t, &s->ivf, Q, n, s->ivf_use, depth, p->oversample,
		                            p->threads, vl, nvec, e);
	return rdb_scan_topk_batch(Q, n, dim, s->blocks, s->nb, depth, p->threads, vl, nvec, e);
}

/* Re-rank sc[0..*n) by MMR, keeping k. */
static ragdb_status mmr_rerank(const snap *s, const plan *p, uint32_t dim, rdb_scored *sc,
                               size_t *n, rdb_err *e)
{
	size_t m = *n;
	ragdb_status st = RAGDB_OK;
	const float **vecs = calloc(m ? m : 1, sizeof *vecs);
	float *scores = malloc((m ? m : 1) * sizeof *scores);
	size_t *order = malloc((m ? m : 1) * sizeof *order);
	rdb_scored *copy = malloc((m ? m : 1) * sizeof *copy);
	rdb_buf scratch = { 0 };
	size_t got = 0;
	if (!vecs || !scores || !order || !copy) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for MMR");
		goto out;
	}
	for (size_t i = 0; i < m && !st; i++) {
		vecs[i] = chunk_vec(s, sc[i].id, dim, &scratch, e, &st);
		scores[i] = sc[i].score;
		copy[i] = sc[i];
	}
	if (st || (st = rdb_mmr(vecs, scores, m, dim, p->mmr, p->k, order, &got, e)))
		goto out;
	for (size_t i = 0; i < got; i++)
		sc[i] = copy[order[i]];
	*n = got;
out:
	rdb_buf_free(&scratch);
	free(vecs);
	free(scores);
	free(order);
	free(copy);
	return st;
}

/* Rank one query: @p vlist (nv) is its vector list when computed in batch,
 * else NULL and computed here from @p q. Result: out (p->k entries). */
static ragdb_status rank_one(ragdb *db, const plan *p, snap *s, const float *q,
                             const rdb_scored *vlist, size_t nv, const char *text,
                             rdb_scored *out, size_t *n_out, rdb_err *e)
{
	ragdb_status st = RAGDB_OK;
	uint32_t dim = db->embedder->dim;
	rdb_keep_fn keep = s->filtered ? rdb_chunkset_keep : NULL;
	rdb_scored *vbuf = NULL, *bbuf = NULL, *fused = NULL;
	size_t nb = 0, nf = 0;
	rdb_bm25_query bq = { 0 };
	if (p->use_vec && !vlist) {
		if (!(vbuf = malloc(p->depth * sizeof *vbuf))) {
			st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for a search");
			goto out;
		}
		if ((st = vector_topk(db, p, s, q, dim, keep, vbuf, &nv, e)))
			goto out;
		vlist = vbuf;
	}
	if (p->use_bm25) {
		size_t cap = p->depth > RDB_PRF_DOCS ? p->depth : RDB_PRF_DOCS;
		if (!(bbuf = malloc(cap * sizeof *bbuf))) {
			st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for a search");
			goto out;
		}
		if ((st = rdb_bm25_query_parse(s->t, s->tok, text, &bq, e)))
			goto out;
		if (p->expand) {
			/* First pass (unfiltered: feedback is about the words, not the
			 * filter), then the expanded query. */
			size_t nfb = 0;
			if ((st = rdb_bm25_topk(s->t, &bq, &p->bp, RDB_PRF_DOCS, NULL, NULL, bbuf, &nfb,
			                        e)) ||
			    (st = rdb_bm25_expand(s->t, &bq, bbuf, nfb, RDB_PRF_TERMS, RDB_PRF_ORIG, e)))
				goto out;
		}
		if ((st = rdb_bm25_topk(s->t, &bq, &p->bp, p->depth, keep, &s->set, bbuf, &nb, e)))
			goto out;
	}
	if (!(fused = malloc((p->cand ? p->cand : 1) * sizeof *fused))) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for a search");
		goto out;
	}
	if (p->use_vec && p->use_bm25) {
		if ((st = fuse(vlist, nv, bbuf, nb, p->cand, fused, &nf, e)))
			goto out;
	} else {
		const rdb_scored *l = p->use_vec ? vlist : bbuf;
		nf = p->use_vec ? nv : nb;
		if (nf > p->cand)
			nf = p->cand;
		memcpy(fused, l, nf * sizeof *fused);
	}
	if (p->mmr > 0 && p->mmr < 1 && (st = mmr_rerank(s, p, dim, fused, &nf, e)))
		goto out;
	if (nf > p->k)
		nf = p->k;
	memcpy(out, fused, nf * sizeof *out);
	*n_out = nf;
out:
	rdb_bm25_query_free(&bq);
	free(vbuf);
	free(bbuf);
	free(fused);
	return st;
}

ragdb_status rdb_search_internal(ragdb *db, const char *query, const ragdb_search_options *opts,
                                 ragdb_results **out, uint64_t **doc_nums_out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (!query || !*query)
		return rdb_failf(db, RAGDB_EINVAL, "the query is empty; give the words to search for");
	plan p;
	if ((st = make_plan(db, opts, &p)) != RAGDB_OK)
		return st;
	double t0 = now_ms();
	uint32_t dim = db->embedder->dim;
	rdb_err e = {0};
	snap s;
	memset(&s, 0, sizeof s);
	float *q = malloc(sizeof(float) * dim);
	rdb_scored *sc = malloc(sizeof *sc * p.k);
	ragdb_results *r = calloc(1, sizeof *r);
	uint64_t *doc_nums = doc_nums_out ? calloc(p.k, sizeof *doc_nums) : NULL;
	size_t nsc = 0;
	if (!q || !sc || !r || (doc_nums_out && !doc_nums)) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory for a search");
		goto out;
	}
	size_t qlen = strlen(query);
	const char *qp = query;
	if (p.use_vec &&
	    (st = rdb_embedder_embed(db->embedder, &qp, &qlen, 1, RDB_EMBED_QUERY, q, &e)) != RAGDB_OK)
		goto out;
	if ((st = snap_open(db, &p, &s, &e)) != RAGDB_OK)
		goto out;
	if ((st = rank_one(db, &p, &s, q, NULL, 0, query, sc, &nsc, &e)) != RAGDB_OK)
		goto out;
	if ((st = resolve_all(s.t, sc, nsc, r, doc_nums, &e)) != RAGDB_OK)
		goto out;
	r->query = strdup(query);
	if (!r->query) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
		goto out;
	}
	r->took_ms = now_ms() - t0;
out:
	snap_free(&s);
	free(sc);
	free(q);
	if (st != RAGDB_OK) {
		ragdb_results_free(r);
		free(doc_nums);
		return rdb_fail(db, &e);
	}
	*out = r;
	if (doc_nums_out)
		*doc_nums_out = doc_nums;
	return RAGDB_OK;
}

ragdb_status ragdb_search(ragdb *db, const char *query, const ragdb_search_options *opts,
                          ragdb_results **out)
{
	return rdb_search_internal(db, query, opts, out, NULL);
}

ragdb_status ragdb_search_batch(ragdb *db, const char *const *queries,
                                const char *const *query_ids, size_t n,
                                const ragdb_search_options *opts, ragdb_results **out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	plan p;
	if ((st = make_plan(db, opts, &p)) != RAGDB_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		if (!queries[i] || !*queries[i])
			return rdb_failf(db, RAGDB_EINVAL, "query %zu%s%s%s of the batch is empty", i + 1,
			                 query_ids ? " (id " : "", query_ids ? query_ids[i] : "",
			                 query_ids ? ")" : "");
	double t0 = now_ms();
	uint32_t dim = db->embedder->dim;
	rdb_err e = {0};
	snap s;
	memset(&s, 0, sizeof s);
	ragdb_results *rs = calloc(n ? n : 1, sizeof *rs);
	float *Q = NULL;
	size_t *lens = NULL, *nvec = NULL;
	rdb_scored *vl = NULL, *sc = NULL;
	/* The vector lists come from one batched pass unless filters need the
	 * per-query scan with its keep predicate. */
	size_t vdepth = p.use_vec ? p.depth : 0;
	if (n > SIZE_MAX / sizeof(float) / dim || (vdepth && n > SIZE_MAX / sizeof *vl / vdepth)) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "a batch of %zu queries is too large", n);
		goto out;
	}
	Q = malloc(sizeof(float) * dim * (n ? n : 1));
	lens = malloc(sizeof *lens * (n ? n : 1));
	nvec = calloc(n ? n : 1, sizeof *nvec);
	sc = malloc(sizeof *sc * p.k);
	if (vdepth && p.n_filters == 0)
		vl = malloc(sizeof *vl * vdepth * (n ? n : 1));
	if (!rs || !Q || !lens || !nvec || !sc || (vdepth && p.n_filters == 0 && !vl)) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory for a batch of %zu queries", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(queries[i]);
	size_t bmax = db->embedder->batch_max ? db->embedder->batch_max : 64;
	for (size_t i = 0; p.use_vec && i < n; i += bmax) {
		size_t m = n - i < bmax ? n - i : bmax;
		if (db->interrupted) {
			st = rdb_err_set(&e, RAGDB_EINTR, "interrupted");
			goto out;
		}
		st = rdb_embedder_embed(db->embedder, (const char *const *)queries + i, lens + i, m,
		                        RDB_EMBED_QUERY, Q + i * dim, &e);
		if (st != RAGDB_OK)
			goto out;
	}
	if ((st = snap_open(db, &p, &s, &e)) != RAGDB_OK)
		goto out;
	if (vl && (st = vector_topk_batch(&p, &s, Q, n, dim, vdepth, vl, nvec, &e)) != RAGDB_OK)
		goto out;
	double each = n ? (now_ms() - t0) / (double)n : 0;
	for (size_t i = 0; i < n; i++) {
		double t1 = now_ms();
		size_t nsc = 0;
		if (db->interrupted) {
			st = rdb_err_set(&e, RAGDB_EINTR, "interrupted");
			goto out;
		}
		if ((st = rank_one(db, &p, &s, Q + i * dim, vl ? vl + i * vdepth : NULL,
		                   vl ? nvec[i] : 0, queries[i], sc, &nsc, &e)) != RAGDB_OK)
			goto out;
		if ((st = resolve_all(s.t, sc, nsc, &rs[i], NULL, &e)) != RAGDB_OK)
			goto out;
		rs[i].query = strdup(query_ids ? query_ids[i] : queries[i]);
		if (!rs[i].query) {
			st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
			goto out;
		}
		rs[i].took_ms = each + (now_ms() - t1);
	}
out:
	snap_free(&s);
	free(sc);
	free(vl);
	free(nvec);
	free(lens);
	free(Q);
	if (st != RAGDB_OK) {
		ragdb_results_free_array(rs, n);
		return rdb_fail(db, &e);
	}
	*out = rs;
	return RAGDB_OK;
}

ragdb_status ragdb_search_vectors(ragdb *db, const float *vecs, size_t n, uint32_t dim,
                                  const ragdb_search_options *opts, ragdb_results **out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (!out || (n && !vecs))
		return rdb_failf(db, RAGDB_EINVAL, "ragdb_search_vectors: no vectors or no result "
		                 "pointer given");
	uint32_t kdim = rdb_store_meta(db->store)->dim;
	if (dim != kdim)
		return rdb_failf(db, RAGDB_EINVAL, "query vectors have dimension %u; this knowledge "
		                 "base holds vectors of dimension %u", dim, kdim);
	if (opts && opts->mode != RAGDB_MODE_DEFAULT && opts->mode != RAGDB_MODE_VECTOR)
		return rdb_failf(db, RAGDB_EINVAL, "a search by vector has no text for BM25; use "
		                 "mode vector (or the default)");
	ragdb_search_options o = opts ? *opts : (ragdb_search_options){0};
	o.mode = RAGDB_MODE_VECTOR;
	o.expand = -1;
	plan p;
	if ((st = make_plan(db, &o, &p)) != RAGDB_OK)
		return st;
	if (n > SIZE_MAX / sizeof(float) / dim)
		return rdb_failf(db, RAGDB_ENOMEM, "%zu query vectors are too many", n);
	rdb_err e = {0};
	snap s;
	memset(&s, 0, sizeof s);
	double t0 = now_ms();
	ragdb_results *rs = calloc(n ? n : 1, sizeof *rs);
	float *Q = malloc(sizeof(float) * dim * (n ? n : 1));
	rdb_scored *sc = malloc(sizeof *sc * p.k);
	rdb_scored *vl = NULL;
	size_t *nvec = NULL;
	if (!rs || !Q || !sc) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory for %zu query vectors", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		/* Normalised like the stored vectors, so scores are cosines. */
		double ss = 0;
		for (uint32_t j = 0; j < dim; j++)
			ss += (double)vecs[i * dim + j] * vecs[i * dim + j];
		if (!(ss > 0) || !(ss < 1e300)) {
			st = rdb_err_set(&e, RAGDB_EINVAL, "query vector %zu is %s; give a finite, "
			                 "non-zero vector", i, ss == 0 ? "all zeros" : "not finite");
			goto out;
		}
		float inv = (float)(1.0 / sqrt(ss));
		for (uint32_t j = 0; j < dim; j++)
			Q[i * dim + j] = vecs[i * dim + j] * inv;
	}
	if ((st = snap_open(db, &p, &s, &e)) != RAGDB_OK)
		goto out;
	/* Several vectors without filters: one pass over the blocks for all of
	 * them (the batch kernels), as ragdb_search_batch does. */
	if (n > 1 && p.n_filters == 0 && n <= SIZE_MAX / sizeof *vl / p.depth) {
		vl = malloc(sizeof *vl * p.depth * n);
		nvec = calloc(n, sizeof *nvec);
		if (!vl || !nvec) {
			st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory for %zu query vectors", n);
			goto out;
		}
		if ((st = vector_topk_batch(&p, &s, Q, n, dim, p.depth, vl, nvec, &e)) != RAGDB_OK)
			goto out;
	}
	double each = vl ? (now_ms() - t0) / (double)n : 0;
	for (size_t i = 0; i < n; i++) {
		double t1 = now_ms();
		if (db->interrupted) {
			st = rdb_err_set(&e, RAGDB_EINTR, "interrupted");
			goto out;
		}
		size_t nsc = 0;
		if ((st = rank_one(db, &p, &s, Q + i * dim, vl ? vl + i * p.depth : NULL,
		                   vl ? nvec[i] : 0, NULL, sc, &nsc, &e)) != RAGDB_OK)
			goto out;
		if ((st = resolve_all(s.t, sc, nsc, &rs[i], NULL, &e)) != RAGDB_OK)
			goto out;
		char num[32];
		snprintf(num, sizeof num, "%zu", i);
		if (!(rs[i].query = strdup(num))) {
			st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
			goto out;
		}
		rs[i].took_ms = each + (now_ms() - t1);
	}
out:
	snap_free(&s);
	free(nvec);
	free(vl);
	free(sc);
	free(Q);
	if (st != RAGDB_OK) {
		ragdb_results_free_array(rs, n);
		return rdb_fail(db, &e);
	}
	*out = rs;
	return RAGDB_OK;
}

ragdb_status ragdb_scan_stats(ragdb *db, uint64_t *passes, uint64_t *shared)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	rdb_share_stats(&db->share, passes, shared);
	return RAGDB_OK;
}
