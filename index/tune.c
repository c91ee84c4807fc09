/*
 * index/tune.c — what `ragdb tune` stores: the tuned embedder's parameters
 * (meta "tune", an opaque blob the embedder defines) with its model string
 * (meta "model"), and the rewrite of every stored vector in place.
 *
 * Invariants (docs/ARCHITECTURE.md, "meta" and invariant 4):
 *   T1. meta "tune" exists exactly when meta "model" contains "+tuned-",
 *       and the 16 hex digits after it are the XXH3-64 of the blob: a blob
 *       and the model naming it change together, in one write transaction,
 *       together with every vector re-embedded by it.
 *   T2. A write transaction begins only on a handle whose cached model is
 *       the stored one (rdb_tune_model_check): a process that opened the
 *       knowledge base before another process tuned it cannot add vectors
 *       of the old embedder to a re-embedded store.
 */
#include "index/ivf.h"
#include "index/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#define TUNE_KEY "tune"
#define TUNED_MARK "+tuned-"
#define TUNE_MAX_BLOB ((size_t)512 << 20)

static MDB_val key_of(const char *k)
{
	MDB_val v = { strlen(k), (void *)k };
	return v;
}

ragdb_status rdb_tune_get(rdb_txn *t, const void **blob, size_t *len, rdb_err *err)
{
	MDB_val k = key_of(TUNE_KEY), v;
	int rc = mdb_get(t->txn, t->s->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "%s holds no tuned embedder", t->s->dir);
	if (rc)
		return rdb_mdb_fail(t->s, rc, err, "reading the tuned embedder");
	*blob = v.mv_data;
	*len = v.mv_size;
	return RAGDB_OK;
}

ragdb_status rdb_tune_set(rdb_txn *t, const char *model, const void *blob, size_t len,
                          rdb_err *err)
{
	rdb_store *s = t->s;
	if (!t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_tune_set needs a write transaction");
	size_t ml = strlen(model);
	if (ml == 0 || ml >= sizeof s->m.model || len > TUNE_MAX_BLOB || (len && !blob))
		return rdb_err_set(err, RAGDB_EINVAL, "model \"%s\" (1..%zu bytes) or tune blob of %zu "
		                   "bytes (limit %zu) out of range", model, sizeof s->m.model - 1, len,
		                   TUNE_MAX_BLOB);
	MDB_val k = key_of("model"), v = { ml, (void *)model };
	int rc = mdb_put(t->txn, s->meta, &k, &v, 0);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "writing the embedder model");
	k = key_of(TUNE_KEY);
	if (len) {
		v.mv_size = len;
		v.mv_data = NULL;
		if ((rc = mdb_put(t->txn, s->meta, &k, &v, MDB_RESERVE)))
			return rdb_mdb_fail(s, rc, err, "writing the tuned embedder");
		memcpy(v.mv_data, blob, len);
	} else if ((rc = mdb_del(t->txn, s->meta, &k, NULL)) && rc != MDB_NOTFOUND) {
		return rdb_mdb_fail(s, rc, err, "removing the tuned embedder");
	}
	return RAGDB_OK;
}

void rdb_store_set_model(rdb_store *s, const char *model)
{
	snprintf(s->m.model, sizeof s->m.model, "%s", model);
}

ragdb_status rdb_tune_model_check(rdb_txn *t, rdb_err *err)
{
	MDB_val k = key_of("model"), v;
	int rc = mdb_get(t->txn, t->s->meta, &k, &v);
	if (rc)
		return rdb_mdb_fail(t->s, rc, err, "reading the embedder model");
	const char *cur = t->s->m.model;
	/* `ragdb reembed` (reembed.c) may keep the model and change the
	 * dimension or the provider: those are compared too. */
	MDB_val dk = key_of("dim"), dv, ek = key_of("embedder"), ev;
	const char *curname = t->s->m.embedder;
	int same = v.mv_size == strlen(cur) && memcmp(v.mv_data, cur, v.mv_size) == 0 &&
	           mdb_get(t->txn, t->s->meta, &dk, &dv) == 0 && dv.mv_size == 8 &&
	           rdb_ld64(dv.mv_data) == t->s->m.dim &&
	           mdb_get(t->txn, t->s->meta, &ek, &ev) == 0 && ev.mv_size == strlen(curname) &&
	           memcmp(ev.mv_data, curname, ev.mv_size) == 0;
	if (same)
		return RAGDB_OK;
	return rdb_err_set(err, RAGDB_EEMBEDDER, "the embedder of %s changed to %.*s since it was "
	                   "opened here (with %s:%s, dim %u): `ragdb tune` or `ragdb reembed` ran in "
	                   "another process; open the knowledge base again", t->s->dir,
	                   (int)(v.mv_size < 64 ? v.mv_size : 64), (const char *)v.mv_data, curname,
	                   cur, t->s->m.dim);
}

ragdb_status rdb_vectors_rewrite(rdb_txn *t, rdb_rewrite_fn fill, void *ctx, uint64_t *n_live,
                                 rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t dim = s->m.dim;
	ragdb_status st;
	int rc;
	if (!t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_vectors_rewrite needs a write transaction");
	/* The IVF lists hold copies of the old vectors (ivf.h, I4): drop them. */
	if ((st = rdb_tail_flush(t, err)) || (st = rdb_ivf_drop(t, err)))
		return st;
	/* The block numbers first: the loop rewrites the database it walks. */
	size_t nb = 0;
	uint32_t *nos = NULL;
	if ((st = rdb_block_numbers(t, &nos, &nb, err)))
		return st;
	uint8_t *buf = malloc(rdb_block_size(s->m.block_cap, dim));
	uint64_t live_total = 0;
	if (!buf) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory re-embedding %s", s->dir);
		goto out_free;
	}
	for (size_t b = 0; b < nb; b++) {
		uint8_t kb[4];
		rdb_put_be32(kb, nos[b]);
		MDB_val bk = { 4, kb }, bv;
		if ((rc = mdb_get(t->txn, s->vectors, &bk, &bv))) {
			st = rdb_mdb_fail(s, rc, err, "reading a vector block");
			goto out_free;
		}
		uint32_t count, live;
		if ((st = rdb_block_parse(s, nos[b], &bv, &count, &live, err)))
			goto out_free;
		/* A private copy: fill() reads chunks, and the new block is
		 * written only after it returns. */
		memcpy(buf, bv.mv_data, bv.mv_size);
		uint64_t *ids = malloc((size_t)count * 8 + 8);
		if (!ids) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory re-embedding %s", s->dir);
			goto out_free;
		}
		memcpy(ids, buf + RDB_BLOCK_HDR, (size_t)count * 8);
		float *vecs = (float *)(void *)(buf + rdb_block_vecs_off(count));
		st = fill(ctx, ids, count, vecs, err);
		for (uint32_t i = 0; st == RAGDB_OK && i < count; i++) {
			if (!ids[i])
				continue;
			double ss = 0;
			for (uint32_t d = 0; d < dim; d++)
				ss += (double)vecs[(size_t)i * dim + d] * vecs[(size_t)i * dim + d];
			if (ss != 0 && (ss < 0.998 || ss > 1.002))
				st = rdb_err_set(err, RAGDB_EINVAL, "re-embedded vector of chunk %llu has "
				                 "norm %.4f; vectors must be L2-normalised",
				                 (unsigned long long)ids[i], ss);
		}
		free(ids);
		if (st)
			goto out_free;
		live_total += live;
		MDB_val nv = { bv.mv_size, NULL };
		if ((rc = mdb_put(t->txn, s->vectors, &bk, &nv, MDB_RESERVE))) {
			st = rdb_mdb_fail(s, rc, err, "writing a re-embedded vector block");
			goto out_free;
		}
		memcpy(nv.mv_data, buf, bv.mv_size);
	}
	/* New vectors: new quantized codes (qblocks.c Q2). */
	if ((st = rdb_qblocks_rebuild(t, err)))
		goto out_free;
	if (n_live)
		*n_live = live_total;
	st = RAGDB_OK;
out_free:
	free(nos);
	free(buf);
	return st;
}

ragdb_status rdb_tune_check(rdb_txn *t, void (*problem)(void *ctx, const char *msg), void *ctx,
                            rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_val mk = key_of("model"), mv, tk = key_of(TUNE_KEY), tv;
	int rc = mdb_get(t->txn, s->meta, &mk, &mv);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading the embedder model");
	char model[128], msg[512];
	snprintf(model, sizeof model, "%.*s", (int)(mv.mv_size < 127 ? mv.mv_size : 127),
	         (const char *)mv.mv_data);
	rc = mdb_get(t->txn, s->meta, &tk, &tv);
	if (rc && rc != MDB_NOTFOUND)
		return rdb_mdb_fail(s, rc, err, "reading the tuned embedder");
	const char *mark = strstr(model, TUNED_MARK);
	if (rc == MDB_NOTFOUND) {
		if (mark) {
			snprintf(msg, sizeof msg, "meta model %s names a tuned embedder, but meta tune "
			         "(its weights) is missing", model);
			problem(ctx, msg);
		}
		return RAGDB_OK;
	}
	char want[32];
	snprintf(want, sizeof want, "%016llx", (unsigned long long)XXH3_64bits(tv.mv_data, tv.mv_size));
	if (!mark) {
		snprintf(msg, sizeof msg, "meta tune holds tuned-embedder weights (%zu bytes), but meta "
		         "model %s does not name them", tv.mv_size, model);
		problem(ctx, msg);
	} else if (strcmp(mark + strlen(TUNED_MARK), want) != 0) {
		snprintf(msg, sizeof msg, "meta model %s does not match its weights in meta tune "
		         "(hash %s)", model, want);
		problem(ctx, msg);
	}
	return RAGDB_OK;
}
