/*
 * engine/vectors_api.c — vectors the caller brings (ragdb_add_vectors) and
 * the knowledge base's quantization (ragdb_quantize, ragdb_quantization).
 *
 * A record with its own vector is one document of one chunk: the text is
 * not split (the vector describes the whole record), but it is stored and
 * full-text indexed like any chunk, so show, check, BM25 and delete treat it
 * as every other document. Vectors-only imports store empty text.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "engine/internal.h"
#include "engine/ivf_api.h"
#include "engine/providers/bm25_tokenize.h"

typedef struct add_ctx {
	ragdb *db;
	const ragdb_vector_record *recs;
	size_t n;
	uint32_t dim;
	float *vec;           /* one normalised vector */
	rdb_tokenizer *tok;
	rdb_termbag bag;
} add_ctx;

static ragdb_status add_txn(rdb_txn *t, void *arg, rdb_err *e)
{
	add_ctx *c = arg;
	for (size_t i = 0; i < c->n; i++) {
		const ragdb_vector_record *r = &c->recs[i];
		if (c->db->interrupted)
			return rdb_err_set(e, RAGDB_EINTR, "interrupted");
		double ss = 0;
		for (uint32_t j = 0; j < c->dim; j++)
			ss += (double)r->vector[j] * r->vector[j];
		if (!(ss > 0) || !(ss < 1e300))
			return rdb_err_set(e, RAGDB_EINVAL, "record %zu (id %s): its vector is %s; give "
			                   "a finite, non-zero vector", i, r->id,
			                   ss == 0 ? "all zeros" : "not finite");
		float inv = (float)(1.0 / sqrt(ss));
		for (uint32_t j = 0; j < c->dim; j++)
			c->vec[j] = r->vector[j] * inv;
		const char *text = r->text ? r->text : "";
		size_t len = strlen(text);
		rdb_termbag_reset(&c->bag);
		ragdb_status st;
		const char *title = r->title ? r->title : "";
		if ((st = rdb_termbag_add(&c->bag, c->tok, text, len, 0, e)) ||
		    (st = rdb_termbag_add(&c->bag, c->tok, title, strlen(title), 1, e)))
			return st;
		/* The bag's own terms hold arena offsets until copied out. */
		size_t nt = 0;
		rdb_term_tf *terms = rdb_termbag_dup(&c->bag, &nt);
		if (!terms && c->bag.n)
			return rdb_err_set(e, RAGDB_ENOMEM, "out of memory for the terms of record %zu", i);
		rdb_chunk_in ch = { .start = 0, .end = len, .text = text, .text_len = len,
		                    .terms = terms, .n_terms = nt,
		                    .len_body = c->bag.len_body, .len_title = c->bag.len_title };
		rdb_doc d = {0};
		d.id = r->id;
		d.source = r->source && *r->source ? r->source : "vectors";
		d.title = title;
		d.meta_json = r->meta_json ? r->meta_json : "";
		XXH128_canonical_t h;
		XXH128_canonicalFromHash(&h, XXH3_128bits(text, len));
		memcpy(d.hash, h.digest, 16);
		d.size = len;
		d.mtime = 0;
		d.ingested = (int64_t)time(NULL);
		st = rdb_doc_put(t, &d, &ch, 1, c->vec, e);
		free(terms);
		if (st) {
			rdb_err_prefix(e, "record %zu (id %s)", i, r->id);
			return st;
		}
	}
	return RAGDB_OK;
}

ragdb_status ragdb_add_vectors(ragdb *db, const ragdb_vector_record *recs, size_t n, uint32_t dim)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (n && !recs)
		return rdb_failf(db, RAGDB_EINVAL, "ragdb_add_vectors: %zu records announced, none "
		                 "given", n);
	uint32_t kdim = rdb_store_meta(db->store)->dim;
	if (dim != kdim)
		return rdb_failf(db, RAGDB_EINVAL, "vectors of dimension %u given; this knowledge base "
		                 "holds vectors of dimension %u (set at `ragdb init --dim`)", dim, kdim);
	for (size_t i = 0; i < n; i++) {
		if (!recs[i].id || !*recs[i].id)
			return rdb_failf(db, RAGDB_EINVAL, "record %zu has no id; give each one an id", i);
		if (!recs[i].vector)
			return rdb_failf(db, RAGDB_EINVAL, "record %zu (id %s) has no vector", i,
			                 recs[i].id);
	}
	add_ctx c = { .db = db, .recs = recs, .n = n, .dim = dim };
	rdb_err e = {0};
	c.vec = malloc(sizeof(float) * dim);
	if (!c.vec)
		return rdb_failf(db, RAGDB_ENOMEM, "out of memory");
	if ((st = rdb_tokenizer_create(rdb_store_meta(db->store)->language, &c.tok, &e))) {
		free(c.vec);
		return rdb_fail(db, &e);
	}
	st = rdb_write(db, add_txn, &c);
	rdb_termbag_free(&c.bag);
	rdb_tokenizer_free(c.tok);
	free(c.vec);
	return st;
}

ragdb_status ragdb_quantize(ragdb *db, const char *mode)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	uint32_t kind;
	if (!mode || rdb_qkind_parse(mode, &kind) != 0)
		return rdb_failf(db, RAGDB_EINVAL, "unknown quantization \"%s\"; use f32, bf16, int8 "
		                 "or binary", mode ? mode : "(null)");
	return rdb_ivf_quantize(db, kind);
}

const char *ragdb_quantization(ragdb *db)
{
	if (!db || !db->store)
		return "f32";
	rdb_txn *t;
	rdb_err e = {0};
	if (rdb_txn_begin(db->store, 0, &t, &e) != RAGDB_OK)
		return "f32";
	const char *name = rdb_qkind_name(rdb_txn_quant(t));
	rdb_txn_abort(t);
	return name ? name : "f32";
}
