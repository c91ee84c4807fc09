/*
 * engine/reembed_api.c — ragdb_reembed: every chunk embedded again with
 * another embedder; the new vectors are staged over bounded write
 * transactions and switched to, with the recorded identity, in the last
 * (engine/restage.c; index/vstage.h keeps the store's invariants).
 *
 * The texts are the ones the ingest pipeline embedded (rdb_embed_text_build:
 * title, heading path, chunk text) with the document purpose, so the
 * persistent cache's keys are the same as at ingest: re-embedding back to a
 * model used before costs no provider call. A provider failure stops the
 * sequence and removes what it staged: nothing changes. The handle's
 * embedder is replaced only after the last commit.
 *
 * With a remote embedder whose vectors fit in the persistent cache, the
 * provider is called before the write transaction, from short read
 * transactions (prefill), so the hours a large re-embed can take do not
 * hold LMDB's writer lock: other processes keep ingesting meanwhile, and
 * the write transaction then finds every vector in the cache (what came in
 * meanwhile is embedded there). Without that room the calls stay inside it,
 * since vectors evicted before the write would be paid for twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/internal.h"
#include "engine/block_embed.h"
#include "engine/providers/text.h"
#include "engine/restage.h"
#include "index/reembed.h"

typedef struct re_ctx {
	ragdb *db;
	rdb_txn *t;
	rdb_embedder *work;
	rdb_buf text, scratch;
	char **texts;
	size_t *lens;
	float *tmp;          /* block_cap x new dim */
	float *out;          /* block_cap x new dim: prefill's vectors, dropped */
	uint32_t cap;
	uint64_t done, total;
	uint64_t cache_needed; /* the cap a prefill would have needed (0: it ran) */
	const ragdb_reembed_options *o;
} re_ctx;

/* Embed the live chunks of one block (rdb_rewrite_fn). */
static ragdb_status fill_block(void *vctx, const uint64_t *ids, uint32_t count, float *vecs,
                               rdb_err *err)
{
	re_ctx *x = vctx;
	rdb_block_embed_bufs b = { &x->text, &x->scratch, x->texts, x->lens, x->tmp, x->cap };
	uint32_t n = 0;
	ragdb_status st = rdb_block_embed(x->db, x->t, x->work, &b, ids, count, vecs, &n, err);
	if (!st) {
		x->done += n;
		if (x->o && x->o->progress)
			/* Blocks another process changed are embedded again at the
			 * end (engine/restage.c): the count may pass the total. */
			x->o->progress(x->o->ctx, x->done < x->total ? x->done : x->total, x->total);
	}
	return st;
}


/* Blocks a prefill read txn covers: short, so that it does not keep LMDB
 * from reusing the pages writers free meanwhile. */
#define PREFILL_BLOCKS 16

/* Embed every live chunk into the persistent cache without a write txn
 * (see the top). Best effort: the write txn embeds whatever it misses. */
static ragdb_status prefill(re_ctx *x, rdb_err *e)
{
	ragdb *db = x->db;
	ragdb_cache_info ci;
	if (!x->work->remote || !x->work->cache || ragdb_cache_stats(db, &ci) != RAGDB_OK ||
	    !ci.enabled)
		return RAGDB_OK;
	rdb_block_embed_bufs b = { &x->text, &x->scratch, x->texts, x->lens, x->tmp, x->cap };
	ragdb_status st = RAGDB_OK;
	for (size_t at = 0;; at += PREFILL_BLOCKS) {
		rdb_txn *t = NULL;
		rdb_block_view *v = NULL;
		size_t n = 0;
		rdb_store_stats ss;
		if ((st = rdb_txn_begin(db->store, 0, &t, e)) ||
		    (st = rdb_store_stats_get(t, &ss, e)) || (st = rdb_blocks_get(t, &v, &n, e))) {
			rdb_txn_abort(t);
			return st;
		}
		if (at == 0) {
			x->total = ss.vectors_live;
			/* Room for them with half the cache left to what else it holds. */
			uint64_t need = ss.vectors_live * ((uint64_t)x->work->dim * 4 + 64) * 2;
			if (need > ci.max_bytes) {
				x->cache_needed = need;
				free(v);
				rdb_txn_abort(t);
				return RAGDB_OK;
			}
		}
		for (size_t i = at; i < n && i < at + PREFILL_BLOCKS && !st; i++) {
			uint32_t live = 0;
			st = rdb_block_embed(db, t, x->work, &b, v[i].ids, v[i].count, x->out, &live, e);
			x->done += live;
			if (!st && x->o && x->o->progress)
				x->o->progress(x->o->ctx, x->done < x->total ? x->done : x->total, x->total);
		}
		free(v);
		rdb_txn_abort(t);
		if (st || at + PREFILL_BLOCKS >= n)
			return st;
	}
}

/* The switch's txn records the new embedder (rdb_restage.identity). */
static ragdb_status record_identity(rdb_txn *t, void *vctx, rdb_err *e)
{
	re_ctx *x = vctx;
	return rdb_store_reembed_identity(t, x->work->name, x->work->model, x->work->dim, e);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void spec_of(const char *name, const char *model, char *out, size_t cap)
{
	if (strcmp(name, "local") == 0 && strcmp(model, RDB_LOCAL_MODEL) == 0)
		snprintf(out, cap, "local");
	else
		snprintf(out, cap, "%s:%s", name, model);
}

ragdb_status ragdb_reembed(ragdb *db, const char *spec, const ragdb_reembed_options *opts,
                           ragdb_reembed_summary *summary)
{
	ragdb_status st = rdb_ready_writable(db);
	if (st != RAGDB_OK)
		return st;
	if (!spec || !*spec)
		return rdb_failf(db, RAGDB_EINVAL, "no embedder given; name one, e.g. "
		                 "openai:text-embedding-3-small or local");
	if (strcmp(spec, "external") == 0 || strncmp(spec, "external:", 9) == 0)
		return rdb_failf(db, RAGDB_EINVAL, "the external embedder cannot embed text; "
		                 "re-embed with local or a provider:model, or import vectors");
	double t0 = now_s();
	rdb_err e = {0};
	ragdb_reembed_summary sum;
	memset(&sum, 0, sizeof sum);
	const rdb_meta *m = rdb_store_meta(db->store);
	spec_of(m->embedder, m->model, sum.embedder_before, sizeof sum.embedder_before);
	sum.dim_before = m->dim;
	re_ctx x = {.db = db, .cap = m->block_cap, .o = opts};
	/* Without a dimension a remote embedder asks its provider; one this
	 * cache has seen before is known. */
	uint32_t want = opts ? opts->dim : 0;
	if (!want && strchr(spec, ':') && strncmp(spec, "local:", 6) != 0)
		want = rdb_cache_dim_get(db, spec);
	st = rdb_embedder_open_cfg(spec, want, db->config,
	                           opts && opts->endpoint && *opts->endpoint ? opts->endpoint : NULL,
	                           &x.work, &e);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	if (x.work->remote) {
		x.work->cache = db->ecache;
		rdb_cache_dim_put(db, spec, x.work->dim);
	}
	uint32_t dim = x.work->dim;
	x.texts = calloc(x.cap, sizeof *x.texts);
	x.lens = calloc(x.cap, sizeof *x.lens);
	x.tmp = (size_t)x.cap * dim <= SIZE_MAX / sizeof(float) ? malloc(sizeof(float) * dim * x.cap) : NULL;
	x.out = x.tmp ? malloc(sizeof(float) * dim * x.cap) : NULL;
	if (!x.texts || !x.lens || !x.tmp || !x.out) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory for a re-embed");
		goto out_free;
	}
	db->interrupted = 0; /* as an ingest: a Ctrl-C counts from here */
	if ((st = prefill(&x, &e)) != RAGDB_OK) {
		db->interrupted = 0;
		goto out_free;
	}
	pthread_mutex_lock(&db->write_lock);
	{
		rdb_txn *t = NULL;
		rdb_store_stats ss;
		if ((st = rdb_txn_begin(db->store, 0, &t, &e)) == RAGDB_OK)
			st = rdb_store_stats_get(t, &ss, &e);
		rdb_txn_abort(t);
		x.total = st == RAGDB_OK ? ss.vectors_live : 0;
	}
	rdb_restage r = { .dim = dim, .fill = fill_block, .ctx = &x, .txn = &x.t, .done = &x.done,
	                  .identity = record_identity, .again = "ragdb reembed" };
	if (st == RAGDB_OK)
		st = rdb_restage_run(db, &r, &e);
	if (st == RAGDB_OK) {
		/* Committed: this handle now embeds with the new embedder. */
		rdb_store_reembed_done(db->store, x.work->name, x.work->model, dim);
		rdb_embedder_close(db->embedder);
		db->embedder = x.work;
		x.work = NULL;
	}
	sum.index_dropped = r.dropped_ivf;
	db->interrupted = 0;
	pthread_mutex_unlock(&db->write_lock);
	if (st == RAGDB_OK)
		st = rdb_restage_requant(db, &r, &e);
	sum.vectors = r.vectors;
	sum.cache_needed = x.cache_needed;
	sum.dim = dim;
	spec_of(db->embedder->name, db->embedder->model, sum.embedder, sizeof sum.embedder);
	sum.seconds = now_s() - t0;
out_free:
	rdb_embedder_close(x.work);
	free(x.texts);
	free(x.lens);
	free(x.tmp);
	free(x.out);
	rdb_buf_free(&x.text);
	rdb_buf_free(&x.scratch);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	if (summary)
		*summary = sum;
	return RAGDB_OK;
}
