/*
 * engine/search.c — ragdb_search and ragdb_search_batch: embed the query,
 * scan the vector blocks in one read snapshot, resolve hits to chunks and
 * documents.
 *
 * The scan reads the blocks where they lie in the LMDB map (zero-copy); only
 * the k winners are decoded and copied into the results, which then outlive
 * the read transaction.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/internal.h"
#include "engine/kernels/kernels.h"

#define RDB_DEFAULT_K 10
#define RDB_MAX_K 10000

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

/* Copy the views the store hands out into the kernel's block type. */
static ragdb_status load_blocks(rdb_txn *t, rdb_vblock **out, size_t *n, rdb_err *e)
{
	rdb_block_view *views = NULL;
	size_t nv = 0;
	ragdb_status st = rdb_blocks_get(t, &views, &nv, e);
	if (st != RAGDB_OK)
		return st;
	rdb_vblock *b = calloc(nv ? nv : 1, sizeof *b);
	if (!b) {
		free(views);
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory listing %zu vector blocks", nv);
	}
	for (size_t i = 0; i < nv; i++) {
		b[i].ids = views[i].ids;
		b[i].vecs = views[i].vecs;
		b[i].count = views[i].count;
	}
	free(views);
	*out = b;
	*n = nv;
	return RAGDB_OK;
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

/* Validate the options; what is not built yet is refused, never ignored. */
static ragdb_status check_k(ragdb *db, const ragdb_search_options *opts, size_t *k)
{
	*k = (opts && opts->k) ? opts->k : RDB_DEFAULT_K;
	if (*k > RDB_MAX_K)
		return rdb_failf(db, RAGDB_EINVAL, "k = %zu is too large; the limit is %d", *k, RDB_MAX_K);
	if (!opts)
		return RAGDB_OK;
	switch (opts->mode) {
	case RAGDB_MODE_DEFAULT:
	case RAGDB_MODE_VECTOR:
		break;
	case RAGDB_MODE_BM25:
	case RAGDB_MODE_HYBRID:
		return rdb_failf(db, RAGDB_EUNSUPPORTED,
		                 "%s search is not built yet; use the vector mode",
		                 opts->mode == RAGDB_MODE_BM25 ? "BM25" : "hybrid");
	default:
		return rdb_failf(db, RAGDB_EINVAL, "unknown search mode %d", (int)opts->mode);
	}
	if (opts->n_filters > 0)
		return rdb_failf(db, RAGDB_EUNSUPPORTED, "search filters are not built yet; search without them");
	if (opts->mmr_lambda != 0)
		return rdb_failf(db, RAGDB_EUNSUPPORTED, "MMR diversification is not built yet; search without it");
	return RAGDB_OK;
}

ragdb_status rdb_search_internal(ragdb *db, const char *query, const ragdb_search_options *opts,
                                 ragdb_results **out, uint64_t **doc_nums_out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (!query || !*query)
		return rdb_failf(db, RAGDB_EINVAL, "the query is empty; give the words to search for");
	size_t k;
	if ((st = check_k(db, opts, &k)) != RAGDB_OK)
		return st;
	double t0 = now_ms();
	uint32_t dim = db->embedder->dim;
	rdb_err e = {0};
	float *q = malloc(sizeof(float) * dim);
	rdb_scored *sc = malloc(sizeof *sc * k);
	ragdb_results *r = calloc(1, sizeof *r);
	uint64_t *doc_nums = doc_nums_out ? calloc(k, sizeof *doc_nums) : NULL;
	rdb_txn *t = NULL;
	rdb_vblock *blocks = NULL;
	size_t nb = 0, nsc = 0;
	if (!q || !sc || !r || (doc_nums_out && !doc_nums)) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory for a search");
		goto out;
	}
	size_t qlen = strlen(query);
	const char *qp = query;
	if ((st = rdb_embedder_embed(db->embedder, &qp, &qlen, 1, RDB_EMBED_QUERY, q, &e)) != RAGDB_OK)
		goto out;
	if ((st = rdb_txn_begin(db->store, 0, &t, &e)) != RAGDB_OK)
		goto out;
	if ((st = load_blocks(t, &blocks, &nb, &e)) != RAGDB_OK)
		goto out;
	if ((st = rdb_scan_topk(q, dim, blocks, nb, k, opts ? opts->threads : 0, NULL, NULL, sc, &nsc,
	                        &e)) != RAGDB_OK)
		goto out;
	if ((st = resolve_all(t, sc, nsc, r, doc_nums, &e)) != RAGDB_OK)
		goto out;
	r->query = strdup(query);
	if (!r->query) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
		goto out;
	}
	r->took_ms = now_ms() - t0;
out:
	rdb_txn_abort(t);
	free(blocks);
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
	size_t k;
	if ((st = check_k(db, opts, &k)) != RAGDB_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		if (!queries[i] || !*queries[i])
			return rdb_failf(db, RAGDB_EINVAL, "query %zu%s%s%s of the batch is empty", i + 1,
			                 query_ids ? " (id " : "", query_ids ? query_ids[i] : "",
			                 query_ids ? ")" : "");
	double t0 = now_ms();
	uint32_t dim = db->embedder->dim;
	rdb_err e = {0};
	ragdb_results *rs = calloc(n ? n : 1, sizeof *rs);
	float *Q = NULL;
	size_t *lens = NULL, *nsc = NULL;
	rdb_scored *sc = NULL;
	rdb_txn *t = NULL;
	rdb_vblock *blocks = NULL;
	size_t nb = 0;
	if (n > SIZE_MAX / sizeof(float) / dim || n > SIZE_MAX / sizeof *sc / k) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "a batch of %zu queries is too large", n);
		goto out;
	}
	Q = malloc(sizeof(float) * dim * (n ? n : 1));
	lens = malloc(sizeof *lens * (n ? n : 1));
	nsc = calloc(n ? n : 1, sizeof *nsc);
	sc = malloc(sizeof *sc * k * (n ? n : 1));
	if (!rs || !Q || !lens || !nsc || !sc) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory for a batch of %zu queries", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(queries[i]);
	size_t bmax = db->embedder->batch_max ? db->embedder->batch_max : 64;
	for (size_t i = 0; i < n; i += bmax) {
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
	if ((st = rdb_txn_begin(db->store, 0, &t, &e)) != RAGDB_OK)
		goto out;
	if ((st = load_blocks(t, &blocks, &nb, &e)) != RAGDB_OK)
		goto out;
	if ((st = rdb_scan_topk_batch(Q, n, dim, blocks, nb, k, opts ? opts->threads : 0, sc, nsc,
	                              &e)) != RAGDB_OK)
		goto out;
	double each = n ? (now_ms() - t0) / (double)n : 0;
	for (size_t i = 0; i < n; i++) {
		if ((st = resolve_all(t, sc + i * k, nsc[i], &rs[i], NULL, &e)) != RAGDB_OK)
			goto out;
		rs[i].query = strdup(query_ids ? query_ids[i] : queries[i]);
		if (!rs[i].query) {
			st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
			goto out;
		}
		rs[i].took_ms = each;
	}
out:
	rdb_txn_abort(t);
	free(blocks);
	free(sc);
	free(nsc);
	free(lens);
	free(Q);
	if (st != RAGDB_OK) {
		ragdb_results_free_array(rs, n);
		return rdb_fail(db, &e);
	}
	*out = rs;
	return RAGDB_OK;
}
