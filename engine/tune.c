/*
 * engine/tune.c — ragdb_tune: fit the local embedder to the knowledge base
 * (inverse-document-frequency weights per word feature, over the stored
 * chunks) and re-embed every chunk with it.
 *
 * Atomicity: the weights are counted over one read snapshot; the vectors
 * they give are staged over bounded write transactions (engine/restage.c),
 * and the weights and model (meta "tune", "model") are recorded in the one
 * that switches to them, so a crash or an error at any point leaves the
 * knowledge base exactly as it was, or fully tuned; `ragdb check` verifies
 * that the stored weights match the model that names them (index/tune.c,
 * T1). Documents another process adds while it runs are embedded with the
 * new weights, as if added after the tune. The handle's embedder takes
 * the new weights only after the commit, under the write lock, so this
 * handle's ingests never mix the two embedders; other processes that had
 * the knowledge base open are refused writes until they reopen it (T2).
 *
 * The text embedded for a chunk is built by the same function the ingest
 * pipeline uses (rdb_embed_text_build: the document title, the heading
 * path, then the chunk text), so a chunk re-embedded here has the vector a fresh ingest with the
 * tuned embedder gives it (tests/unit/test_engine_tune.c checks that).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/internal.h"
#include "engine/block_embed.h"
#include "engine/providers/text.h"
#include "engine/providers/local_tune.h"
#include "engine/restage.h"
#include "engine/tune.h"

typedef struct tune_ctx {
	ragdb *db;
	rdb_txn *t;
	rdb_local_df *df;
	rdb_embedder *work;     /* the embedder the vectors are rewritten with */
	rdb_buf text;           /* the embed text of one chunk */
	rdb_buf scratch;        /* chunk text decompression */
	char **texts;           /* one block's embed texts */
	size_t *lens;
	float *tmp;             /* one block's new vectors */
	uint32_t cap;           /* block capacity */
	uint64_t chunks, vectors;
	const void *blob;       /* the new weights (rdb_tune_set) */
	size_t blob_len;
	ragdb_status st;        /* failure inside a callback */
	rdb_err *err;
} tune_ctx;

ragdb_status rdb_tune_attach(rdb_store *s, rdb_embedder *e, rdb_err *err)
{
	const rdb_meta *m = rdb_store_meta(s);
	if (strncmp(m->model, RDB_LOCAL_TUNED_PREFIX, strlen(RDB_LOCAL_TUNED_PREFIX)) != 0 ||
	    !rdb_local_is(e))
		return RAGDB_OK;
	rdb_txn *t = NULL;
	const void *blob;
	size_t len;
	ragdb_status st = rdb_txn_begin(s, 0, &t, err);
	if (st == RAGDB_OK && (st = rdb_tune_get(t, &blob, &len, err)) == RAGDB_ENOTFOUND)
		st = rdb_err_set(err, RAGDB_ECORRUPT, "%s: the model %s names a tuned embedder whose "
		                 "weights are missing; run `ragdb check`, then `ragdb tune` to rebuild "
		                 "them", rdb_store_dir(s), m->model);
	if (st == RAGDB_OK)
		st = rdb_local_retune(e, blob, len, err);
	rdb_txn_abort(t);
	return st;
}

/* The text the embedder sees for chunk @p c of document @p d (as the
 * ingest pipeline builds it), into ctx->text. */
static ragdb_status embed_text(tune_ctx *x, const rdb_doc *d, const rdb_chunk *c, size_t *len)
{
	ragdb_status st = rdb_buf_reserve(&x->text, rdb_embed_text_size(d->title, c->heading, c->text_len),
	                                  x->err);
	if (st)
		return st;
	*len = rdb_embed_text_build(x->text.data, d->title, c->heading, c->text, c->text_len);
	return RAGDB_OK;
}

/* Count the word features of every chunk of one document. */
static int count_doc(void *vctx, const rdb_doc *d)
{
	tune_ctx *x = vctx;
	rdb_chunk c;
	size_t len;
	for (uint32_t i = 0; i < d->n_chunks && !x->st; i++) {
		if (x->db->interrupted) {
			x->st = rdb_err_set(x->err, RAGDB_EINTR, "interrupted; nothing was changed");
			break;
		}
		if ((x->st = rdb_chunk_get(x->t, d->first_chunk + i, &c, &x->scratch, x->err)) ||
		    (x->st = embed_text(x, d, &c, &len)) ||
		    (x->st = rdb_local_df_add(x->df, x->text.data, len, x->err)))
			break;
		x->chunks++;
	}
	return x->st != RAGDB_OK;
}

/* Re-embed the live chunks of one block (rdb_rewrite_fn). */
static ragdb_status fill_block(void *vctx, const uint64_t *ids, uint32_t count, float *vecs,
                               rdb_err *err)
{
	tune_ctx *x = vctx;
	rdb_block_embed_bufs b = { &x->text, &x->scratch, x->texts, x->lens, x->tmp, x->cap };
	uint32_t n = 0;
	ragdb_status st = rdb_block_embed(x->db, x->t, x->work, &b, ids, count, vecs, &n, err);
	if (!st)
		x->vectors += n;
	return st;
}


static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Count and weigh over a read txn's snapshot, and open the embedder with
 * the new weights (or, with @p reset, the untuned one) into x->work. */
static ragdb_status tune_fit(tune_ctx *x, int reset, void **blob, size_t *blob_len,
                             uint64_t *features)
{
	ragdb *db = x->db;
	const rdb_meta *m = rdb_store_meta(db->store);
	ragdb_status st;
	*blob = NULL;
	*blob_len = 0;
	*features = 0;
	if (reset)
		return rdb_local_embedder_open(m->dim, &x->work, x->err);
	if ((st = rdb_local_df_create(&x->df, x->err)))
		return st;
	if ((st = rdb_txn_begin(db->store, 0, &x->t, x->err)) == RAGDB_OK) {
		st = rdb_doc_iter(x->t, count_doc, x, x->err);
		rdb_txn_abort(x->t);
		x->t = NULL;
	}
	if (st == RAGDB_OK)
		st = x->st;
	if (st == RAGDB_OK)
		st = rdb_local_df_weights(x->df, blob, blob_len, features, x->err);
	rdb_local_df_free(x->df);
	x->df = NULL;
	if (st)
		return st;
	return rdb_local_embedder_open_tuned(m->dim, *blob, *blob_len, &x->work, x->err);
}

/* The switch's txn records the weights and the model naming them (T1). */
static ragdb_status record_tune(rdb_txn *t, void *vctx, rdb_err *e)
{
	tune_ctx *x = vctx;
	return rdb_tune_set(t, x->work->model, x->blob, x->blob_len, e);
}

ragdb_status ragdb_tune(ragdb *db, const ragdb_tune_options *opts, ragdb_tune_summary *summary)
{
	ragdb_status st = rdb_ready_writable(db);
	if (st != RAGDB_OK)
		return st;
	if (!rdb_local_is(db->embedder))
		return rdb_failf(db, RAGDB_EUNSUPPORTED, "tune fits the built-in local embedder; this "
		                 "knowledge base uses %s:%s, which is used as it is",
		                 db->embedder->name, db->embedder->model);
	int reset = opts && opts->reset;
	double t0 = now_s();
	rdb_err e = {0};
	ragdb_tune_summary sum;
	memset(&sum, 0, sizeof sum);
	const rdb_meta *m = rdb_store_meta(db->store);
	uint32_t cap = m->block_cap, dim = m->dim;
	tune_ctx x = { .db = db, .err = &e, .cap = cap };
	x.texts = calloc(cap, sizeof *x.texts);
	x.lens = calloc(cap, sizeof *x.lens);
	x.tmp = malloc(sizeof(float) * dim * cap);
	void *blob = NULL;
	size_t blob_len = 0;
	if (!x.texts || !x.lens || !x.tmp) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory for a tune");
		goto out_free;
	}

	pthread_mutex_lock(&db->write_lock);
	snprintf(sum.model_before, sizeof sum.model_before, "%s", db->embedder->model);
	rdb_restage r = { .dim = dim, .fill = fill_block, .ctx = &x, .txn = &x.t,
	                  .done = &x.vectors, .identity = record_tune, .again = "ragdb tune" };
	if ((st = tune_fit(&x, reset, &blob, &blob_len, &sum.features)) == RAGDB_OK) {
		x.blob = blob;
		x.blob_len = blob_len;
		snprintf(sum.model, sizeof sum.model, "%s", x.work->model);
		st = rdb_restage_run(db, &r, &e);
	}
	rdb_embedder_close(x.work);
	x.work = NULL;
	if (st == RAGDB_OK) {
		/* Committed: from now on this handle embeds with the new weights. */
		rdb_store_set_model(db->store, sum.model);
		rdb_err le = {0};
		if (rdb_local_retune(db->embedder, blob, blob_len, &le) != RAGDB_OK)
			st = rdb_err_set(&e, le.status, "the tune was committed, but this handle could not "
			                 "load it (%s); open the knowledge base again", le.msg);
	}
	db->interrupted = 0;
	pthread_mutex_unlock(&db->write_lock);
	if (st == RAGDB_OK)
		st = rdb_restage_requant(db, &r, &e);
	sum.chunks = x.chunks;
	sum.vectors = x.vectors;
	sum.seconds = now_s() - t0;
out_free:
	free(blob);
	free(x.texts);
	free(x.lens);
	free(x.tmp);
	rdb_buf_free(&x.text);
	rdb_buf_free(&x.scratch);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	if (summary)
		*summary = sum;
	return RAGDB_OK;
}
