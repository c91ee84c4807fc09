/*
 * engine/bm25.c — BM25F ranking over the full-text index.
 *
 * Document-at-a-time with MaxScore pruning (see rdb_bm25_topk): postings
 * are read through cursors in chunk order, a segment at a time; each chunk
 * that can still enter the bounded top-k heap is scored once; the filter
 * predicate is asked only about chunks whose score would enter the heap, so
 * a filtered search still returns min(k, matching chunks).
 */
#include "engine/retrieve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/postings.h"

#define RDB_BM25_MAX_TERMS 1024 /* distinct query terms kept */

static int q_add(rdb_bm25_query *q, uint32_t id, float w)
{
	for (size_t i = 0; i < q->n; i++)
		if (q->ids[i] == id) {
			q->w[i] += w;
			return 0;
		}
	if (q->n == RDB_BM25_MAX_TERMS)
		return 0;
	if (q->n == q->cap) {
		size_t nc = q->cap ? q->cap * 2 : 16;
		uint32_t *ni = realloc(q->ids, nc * sizeof *ni);
		if (!ni)
			return -1;
		q->ids = ni;
		float *nw = realloc(q->w, nc * sizeof *nw);
		if (!nw)
			return -1;
		q->w = nw;
		q->cap = nc;
	}
	q->ids[q->n] = id;
	q->w[q->n++] = w;
	return 0;
}

struct qctx {
	rdb_txn *t;
	rdb_bm25_query *q;
	ragdb_status st;
	rdb_err *err;
};

static int on_qterm(void *ctx, const char *term, size_t len)
{
	struct qctx *c = ctx;
	uint32_t id;
	ragdb_status st = rdb_term_id(c->t, term, &id, c->err);
	if (st == RAGDB_ENOTFOUND) {
		rdb_err_clear(c->err);
		return 0;
	}
	if (st == RAGDB_OK && q_add(c->q, id, 1.0f))
		st = rdb_err_set(c->err, RAGDB_ENOMEM, "out of memory parsing a query");
	c->st = st;
	return st != RAGDB_OK;
}

ragdb_status rdb_bm25_query_parse(rdb_txn *t, rdb_tokenizer *tok, const char *text,
                                  rdb_bm25_query *out, rdb_err *err)
{
	rdb_bm25_query q = { 0 };
	struct qctx c = { t, &q, RAGDB_OK, err };
	rdb_tokenize(tok, text, strlen(text), on_qterm, &c);
	if (c.st) {
		rdb_bm25_query_free(&q);
		return c.st;
	}
	*out = q;
	return RAGDB_OK;
}

void rdb_bm25_query_free(rdb_bm25_query *q)
{
	if (!q)
		return;
	free(q->ids);
	free(q->w);
	memset(q, 0, sizeof *q);
}

typedef struct contrib {
	uint32_t id;
	double p;
} contrib;

static int contrib_by_id(const void *a, const void *b)
{
	uint32_t x = ((const contrib *)a)->id, y = ((const contrib *)b)->id;
	return (x > y) - (x < y);
}

static int contrib_best(const void *a, const void *b)
{
	const contrib *x = a, *y = b;
	if (x->p != y->p)
		return x->p > y->p ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

ragdb_status rdb_bm25_expand(rdb_txn *t, rdb_bm25_query *q, const rdb_scored *fb, size_t n_fb,
                             size_t n_terms, float orig, rdb_err *err)
{
	ragdb_status st = RAGDB_OK;
	contrib *all = NULL;
	size_t n = 0, cap = 0;
	double zsum = 0;
	if (q->n == 0 || n_fb == 0)
		return RAGDB_OK;
	for (size_t i = 0; i < n_fb; i++)
		zsum += fb[i].score > 0 ? fb[i].score : 0;
	if (zsum <= 0)
		return RAGDB_OK;
	for (size_t i = 0; i < n_fb; i++) {
		rdb_chunk_term *ct = NULL;
		size_t nt = 0;
		uint32_t lb, lt;
		if ((st = rdb_chunk_terms_get(t, fb[i].id, &ct, &nt, &lb, &lt, err)))
			goto out_free;
		double pd = (fb[i].score > 0 ? fb[i].score : 0) / zsum;
		double len = (double)lb + lt;
		if (n + nt > cap) {
			size_t nc = cap ? cap : 1024;
			while (nc < n + nt)
				nc *= 2;
			contrib *na = realloc(all, nc * sizeof *na);
			if (!na) {
				free(ct);
				st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory expanding a query");
				goto out_free;
			}
			all = na;
			cap = nc;
		}
		for (size_t j = 0; j < nt && len > 0; j++)
			all[n++] = (contrib){ ct[j].term,
			                      pd * ((double)ct[j].tf_body + ct[j].tf_title) / len };
		free(ct);
	}
	if (n == 0)
		goto out_free;
	qsort(all, n, sizeof *all, contrib_by_id);
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (w && all[w - 1].id == all[i].id)
			all[w - 1].p += all[i].p;
		else
			all[w++] = all[i];
	}
	qsort(all, w, sizeof *all, contrib_best);
	if (w > n_terms)
		w = n_terms;
	double fsum = 0, qsum = 0;
	for (size_t i = 0; i < w; i++)
		fsum += all[i].p;
	for (size_t i = 0; i < q->n; i++)
		qsum += q->w[i];
	for (size_t i = 0; i < q->n; i++)
		q->w[i] = (float)(orig * q->w[i] / qsum);
	for (size_t i = 0; i < w && fsum > 0; i++)
		if (q_add(q, all[i].id, (float)((1.0 - orig) * all[i].p / fsum))) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory expanding a query");
			goto out_free;
		}
out_free:
	free(all);
	return st;
}

static double idf_of(uint64_t n, uint64_t df)
{
	double N = (double)n, d = (double)df;
	return log(1.0 + (N - d + 0.5) / (d + 0.5));
}

/* A search's constants of tf_part, so each posting costs one division per
 * field and one for the saturation. */
typedef struct bm25_norm {
	double k1, k1p1;
	double body0, body1;           /* 1 - b, b / avg_body */
	double w_title, title0, title1; /* 1 - b_title, b_title / avg_title */
} bm25_norm;

static bm25_norm norm_of(const rdb_bm25_params *p, double avg_body, double avg_title)
{
	return (bm25_norm){ p->k1, p->k1 + 1.0, 1.0 - p->b, p->b / avg_body,
	                    p->w_title, 1.0 - p->b_title, p->b_title / avg_title };
}

/* tf~ (k1 + 1) / (k1 + tf~): the saturated, length-normalised frequency. */
static inline double tf_part(const bm25_norm *n, uint32_t tf_body, uint32_t tf_title,
                             uint32_t len_body, uint32_t len_title)
{
	double tf = 0;
	if (tf_body)
		tf += tf_body / (n->body0 + n->body1 * len_body);
	if (tf_title)
		tf += n->w_title * tf_title / (n->title0 + n->title1 * len_title);
	return tf * n->k1p1 / (n->k1 + tf);
}

double rdb_bm25_term_score(const rdb_bm25_params *p, uint64_t n_chunks, uint64_t df,
                           double avg_body, double avg_title, uint32_t tf_body,
                           uint32_t tf_title, uint32_t len_body, uint32_t len_title)
{
	bm25_norm n = norm_of(p, avg_body, avg_title);
	return idf_of(n_chunks, df) * tf_part(&n, tf_body, tf_title, len_body, len_title);
}

/* The snapshot's statistics and the constants of its tf_part. */
static ragdb_status collection(rdb_txn *t, const rdb_bm25_params *p, rdb_ft_stats *fs,
                               bm25_norm *n, rdb_err *err)
{
	ragdb_status st = rdb_ft_stats_get(t, fs, err);
	if (st)
		return st;
	*n = norm_of(p, fs->len_body ? (double)fs->len_body / fs->chunks : 1.0,
	             fs->len_title ? (double)fs->len_title / fs->chunks : 1.0);
	return RAGDB_OK;
}

/*
 * MaxScore (Turtle and Flood, 1995). One chunk gets at most ub = w (k1 + 1)
 * from a term, tf~ (k1 + 1) / (k1 + tf~) staying below k1 + 1. With the
 * terms sorted by ub, the longest prefix whose ub sum is below the heap's
 * entry score cannot put a chunk into the heap on its own: those terms are
 * "non-essential". Only the essential terms' postings are walked to find
 * candidates; a candidate looks up the non-essential terms (best first, by
 * seeking, so the segments in between are never decoded) only while its
 * bound can still reach the heap. Scores are summed in the query's term
 * order as in rdb_bm25_topk_ref, so both return the same chunks and the
 * same scores, bit for bit; bounds are compared with a margin far above
 * the rounding of either sum.
 */
typedef struct term_it {
	rdb_pcur pc;
	double w;    /* idf x query weight */
	double ub;   /* the most one chunk gets from this term */
	double part; /* the current chunk's contribution (0: none) */
} term_it;

static int by_ub(const void *a, const void *b)
{
	double x = (*(term_it *const *)a)->ub, y = (*(term_it *const *)b)->ub;
	return (x > y) - (x < y);
}

/* Below this, a bound cannot reach a heap whose entry score is @p s. */
static double prune_below(float s)
{
	return (double)s - fabs((double)s) * 1e-6 - 1e-30;
}

static double part_of(const term_it *c, const bm25_norm *n)
{
	const rdb_posting *x = rdb_pcur_at(&c->pc);
	return c->w * tf_part(n, x->tf_body, x->tf_title, x->len_body, x->len_title);
}

ragdb_status rdb_bm25_topk(rdb_txn *t, const rdb_bm25_query *q, const rdb_bm25_params *p,
                           size_t k, rdb_keep_fn keep, void *keep_ctx, rdb_scored *out,
                           size_t *n_out, rdb_err *err)
{
	rdb_ft_stats fs;
	bm25_norm nm;
	*n_out = 0;
	ragdb_status st = collection(t, p, &fs, &nm, err);
	if (st || q->n == 0 || fs.chunks == 0 || k == 0)
		return st;
	term_it *c = calloc(q->n, sizeof *c);
	term_it **ord = calloc(q->n, sizeof *ord);
	double *cum = calloc(q->n, sizeof *cum);
	rdb_scored *heap = malloc(k * sizeof *heap);
	size_t nc = 0;
	if (!c || !ord || !cum || !heap) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory for a BM25 search");
		goto out_free;
	}
	for (size_t i = 0; i < q->n; i++) {
		uint64_t df;
		if ((st = rdb_pcur_open(t, q->ids[i], &c[nc].pc, &df, err)))
			goto out_free;
		if (!rdb_pcur_at(&c[nc].pc)) {
			rdb_pcur_close(&c[nc].pc);
			continue;
		}
		c[nc].w = idf_of(fs.chunks, df) * q->w[i];
		/* A df above the chunk count (a damaged header) makes idf negative,
		 * and then 0 is the bound. */
		c[nc].ub = c[nc].w > 0 ? c[nc].w * nm.k1p1 : 0;
		ord[nc] = &c[nc];
		nc++;
	}
	qsort(ord, nc, sizeof *ord, by_ub);
	for (size_t j = 0; j < nc; j++)
		cum[j] = (j ? cum[j - 1] : 0) + ord[j]->ub;
	rdb_topk top;
	rdb_topk_init(&top, heap, k);
	size_t ne = 0; /* ord[0 .. ne) are the non-essential terms */
	double cut = -INFINITY;
	for (;;) {
		uint64_t id = UINT64_MAX;
		for (size_t j = ne; j < nc; j++) {
			const rdb_posting *x = rdb_pcur_at(&ord[j]->pc);
			if (x && x->chunk < id)
				id = x->chunk;
		}
		if (id == UINT64_MAX)
			break;
		double bound = 0;
		for (size_t j = ne; j < nc; j++) {
			term_it *e = ord[j];
			const rdb_posting *x = rdb_pcur_at(&e->pc);
			if (x && x->chunk == id) {
				e->part = part_of(e, &nm);
				bound += e->part;
				if ((st = rdb_pcur_next(&e->pc, err)))
					goto out_free;
			}
		}
		int in_reach = 1;
		for (size_t j = ne; j-- > 0;) {
			if (bound + cum[j] < cut) {
				in_reach = 0;
				break;
			}
			term_it *e = ord[j];
			if ((st = rdb_pcur_seek(&e->pc, id, err)))
				goto out_free;
			const rdb_posting *x = rdb_pcur_at(&e->pc);
			if (x && x->chunk == id) {
				e->part = part_of(e, &nm);
				bound += e->part;
			}
		}
		double s = 0;
		for (size_t i = 0; i < nc; i++) {
			s += c[i].part;
			c[i].part = 0;
		}
		float fsc = (float)s;
		if (!in_reach || !rdb_topk_would_enter(&top, fsc))
			continue;
		if (keep && !keep(keep_ctx, id))
			continue;
		rdb_topk_push(&top, fsc, id);
		if (top.n == top.k) {
			cut = prune_below(top.h[0].score);
			while (ne < nc && cum[ne] < cut)
				ne++;
		}
	}
	*n_out = rdb_topk_drain(&top, out);
out_free:
	if (c) /* slots never opened are zero, which closes as a no-op */
		for (size_t i = 0; i < q->n; i++)
			rdb_pcur_close(&c[i].pc);
	free(c);
	free(ord);
	free(cum);
	free(heap);
	return st;
}

/* The reference: every posting of every term decoded and merged. */
typedef struct term_cur {
	rdb_posting *v;
	size_t n, pos;
	double w; /* idf x qtf */
} term_cur;

ragdb_status rdb_bm25_topk_ref(rdb_txn *t, const rdb_bm25_query *q, const rdb_bm25_params *p,
                               size_t k, rdb_keep_fn keep, void *keep_ctx, rdb_scored *out,
                               size_t *n_out, rdb_err *err)
{
	rdb_ft_stats fs;
	bm25_norm nm;
	*n_out = 0;
	ragdb_status st = collection(t, p, &fs, &nm, err);
	if (st || q->n == 0 || fs.chunks == 0 || k == 0)
		return st;
	term_cur *c = calloc(q->n, sizeof *c);
	rdb_scored *heap = malloc(k * sizeof *heap);
	if (!c || !heap) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory for a BM25 search");
		goto out_free;
	}
	size_t nc = 0;
	for (size_t i = 0; i < q->n; i++) {
		uint64_t df;
		if ((st = rdb_postings_get_id(t, q->ids[i], &df, &c[nc].v, &c[nc].n, err)))
			goto out_free;
		if (c[nc].n == 0)
			continue;
		c[nc].w = idf_of(fs.chunks, df) * q->w[i];
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
				s += c[i].w * tf_part(&nm, x->tf_body, x->tf_title, x->len_body,
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
