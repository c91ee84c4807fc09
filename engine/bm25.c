/*
 * engine/bm25.c — BM25F ranking over the full-text index.
 *
 * Document-at-a-time: the postings of each query term (sorted by chunk id)
 * are merged; each chunk holding any term is scored once and offered to a
 * bounded top-k heap; the filter predicate is asked only about chunks whose
 * score would enter the heap, so a filtered search still returns min(k,
 * matching chunks). Cost O(sum of df x terms); queries have few terms.
 */
#include "engine/retrieve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/postings.h"

#define RDB_BM25_MAX_TERMS 256 /* distinct query terms kept */

struct qctx {
	rdb_bm25_query *q;
	int oom;
};

static int on_qterm(void *ctx, const char *term, size_t len)
{
	struct qctx *c = ctx;
	rdb_bm25_query *q = c->q;
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->terms[i], term) == 0) {
			q->qtf[i]++;
			return 0;
		}
	if (q->n == RDB_BM25_MAX_TERMS)
		return 0;
	memcpy(q->terms[q->n], term, len + 1);
	q->qtf[q->n++] = 1;
	return 0;
}

ragdb_status rdb_bm25_query_parse(rdb_tokenizer *tok, const char *text, rdb_bm25_query *out,
                                  rdb_err *err)
{
	rdb_bm25_query q = { 0 };
	q.terms = malloc(RDB_BM25_MAX_TERMS * sizeof *q.terms);
	q.qtf = malloc(RDB_BM25_MAX_TERMS * sizeof *q.qtf);
	if (!q.terms || !q.qtf) {
		rdb_bm25_query_free(&q);
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory parsing a query");
	}
	struct qctx c = { &q, 0 };
	rdb_tokenize(tok, text, strlen(text), on_qterm, &c);
	*out = q;
	return RAGDB_OK;
}

void rdb_bm25_query_free(rdb_bm25_query *q)
{
	if (!q)
		return;
	free(q->terms);
	free(q->qtf);
	memset(q, 0, sizeof *q);
}

static double idf_of(uint64_t n, uint64_t df)
{
	double N = (double)n, d = (double)df;
	return log(1.0 + (N - d + 0.5) / (d + 0.5));
}

/* tf~ (k1 + 1) / (k1 + tf~): the saturated, length-normalised frequency. */
static double tf_part(const rdb_bm25_params *p, double avg_body, double avg_title,
                      uint32_t tf_body, uint32_t tf_title, uint32_t len_body, uint32_t len_title)
{
	double tf = 0;
	if (tf_body)
		tf += tf_body / (1.0 - p->b + p->b * len_body / avg_body);
	if (tf_title)
		tf += p->w_title * tf_title / (1.0 - p->b_title + p->b_title * len_title / avg_title);
	return tf * (p->k1 + 1.0) / (p->k1 + tf);
}

double rdb_bm25_term_score(const rdb_bm25_params *p, uint64_t n_chunks, uint64_t df,
                           double avg_body, double avg_title, uint32_t tf_body,
                           uint32_t tf_title, uint32_t len_body, uint32_t len_title)
{
	return idf_of(n_chunks, df) *
	       tf_part(p, avg_body, avg_title, tf_body, tf_title, len_body, len_title);
}

typedef struct term_cur {
	rdb_posting *v;
	size_t n, pos;
	double w; /* idf x qtf */
} term_cur;

ragdb_status rdb_bm25_topk(rdb_txn *t, const rdb_bm25_query *q, const rdb_bm25_params *p,
                           size_t k, rdb_keep_fn keep, void *keep_ctx, rdb_scored *out,
                           size_t *n_out, rdb_err *err)
{
	rdb_ft_stats fs;
	ragdb_status st = rdb_ft_stats_get(t, &fs, err);
	if (st)
		return st;
	*n_out = 0;
	if (q->n == 0 || fs.chunks == 0 || k == 0)
		return RAGDB_OK;
	double avg_b = fs.len_body ? (double)fs.len_body / fs.chunks : 1.0;
	double avg_t = fs.len_title ? (double)fs.len_title / fs.chunks : 1.0;
	term_cur *c = calloc(q->n, sizeof *c);
	rdb_scored *heap = malloc(k * sizeof *heap);
	if (!c || !heap) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory for a BM25 search");
		goto out_free;
	}
	size_t nc = 0;
	for (size_t i = 0; i < q->n; i++) {
		uint64_t df;
		if ((st = rdb_postings_get(t, q->terms[i], &df, &c[nc].v, &c[nc].n, err)))
			goto out_free;
		if (c[nc].n == 0)
			continue;
		c[nc].w = idf_of(fs.chunks, df) * q->qtf[i];
		nc++;
	}
	rdb_topk top;
	rdb_topk_init(&top, heap, k);
	for (;;) {
		uint64_t id = UINT64_MAX;
		for (size_t i = 0; i < nc; i++)
			if (c[i].pos < c[i].n && c[i].v[c[i].pos].chunk < id)
				id = c[i].v[c[i].pos].chunk;
		if (id == UINT64_MAX)
			break;
		double s = 0;
		for (size_t i = 0; i < nc; i++) {
			if (c[i].pos < c[i].n && c[i].v[c[i].pos].chunk == id) {
				const rdb_posting *x = &c[i].v[c[i].pos++];
				s += c[i].w * tf_part(p, avg_b, avg_t, x->tf_body, x->tf_title, x->len_body,
				                      x->len_title);
			}
		}
		float fsc = (float)s;
		if (!rdb_topk_would_enter(&top, fsc))
			continue;
		if (keep && !keep(keep_ctx, id))
			continue;
		rdb_topk_push(&top, fsc, id);
	}
	*n_out = rdb_topk_drain(&top, out);
out_free:
	if (c)
		for (size_t i = 0; i < q->n; i++)
			free(c[i].v);
	free(c);
	free(heap);
	return st;
}
