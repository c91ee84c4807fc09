/*
 * index/tune.c — what `ragdb tune` stores: the tuned embedder's parameters
 * (meta "tune", an opaque blob the embedder defines) with its model string
 * (meta "model"), and the rewrite of every stored vector in place.
 *
 * Invariants (docs/ARCHITECTURE.md, "meta" and invariant 4):
 *   T1. meta "tune" exists exactly when meta "model" contains "+tuned-",
 *       and the 16 hex digits after it are the XXH3-64 of the blob: a blob
 *       and the model naming it change together, in one write transaction,
 *       the one that switches to the vectors re-embedded by it (vstage.h V3).
 *   T2. A write transaction begins only on a handle whose cached model is
 *       the stored one (rdb_tune_model_check): a process that opened the
 *       knowledge base before another process tuned it cannot add vectors
 *       of the old embedder to a re-embedded store.
 */
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

/* The length of @p model's family: the model without a tune's mark. */
static size_t family_len(const char *model, size_t len)
{
	for (size_t i = 0; i + sizeof TUNED_MARK - 1 <= len; i++)
		if (memcmp(model + i, TUNED_MARK, sizeof TUNED_MARK - 1) == 0)
			return i;
	return len;
}

/* Is the stored embedder the one the handle opened with? @p retune_ok:
 * another tune of the same model counts as the same. */
static ragdb_status identity_check(rdb_txn *t, int retune_ok, rdb_err *err)
{
	MDB_val k = key_of("model"), v;
	int rc = mdb_get(t->txn, t->s->meta, &k, &v);
	if (rc)
		return rdb_mdb_fail(t->s, rc, err, "reading the embedder model");
	const char *cur = t->s->m.model;
	/* `ragdb reembed` (reembed.c) may keep the model and change the
	 * dimension or the provider: those are compared too. */
	MDB_val dk = key_of("dim"), dv = { 0, NULL }, ek = key_of("embedder"), ev = { 0, NULL };
	const char *curname = t->s->m.embedder;
	int have_dim = mdb_get(t->txn, t->s->meta, &dk, &dv) == 0 && dv.mv_size == 8;
	int have_name = mdb_get(t->txn, t->s->meta, &ek, &ev) == 0;
	uint64_t dim = have_dim ? rdb_ld64(dv.mv_data) : 0;
	size_t fl = retune_ok ? family_len(v.mv_data, v.mv_size) : v.mv_size,
	       cl = retune_ok ? family_len(cur, strlen(cur)) : strlen(cur);
	if (fl == cl && memcmp(v.mv_data, cur, fl) == 0 && have_dim && dim == t->s->m.dim &&
	    have_name && ev.mv_size == strlen(curname) && memcmp(ev.mv_data, curname, ev.mv_size) == 0)
		return RAGDB_OK;
	return rdb_err_set(err, RAGDB_EEMBEDDER, "the embedder of %s changed to %.*s:%.*s, dim %llu "
	                   "since it was opened here (with %s:%s, dim %u): `ragdb tune` or `ragdb "
	                   "reembed` ran in another process; open the knowledge base again",
	                   t->s->dir, (int)(ev.mv_size < 64 ? ev.mv_size : 64),
	                   ev.mv_data ? (const char *)ev.mv_data : "",
	                   (int)(v.mv_size < 64 ? v.mv_size : 64), (const char *)v.mv_data,
	                   (unsigned long long)dim, curname, cur, t->s->m.dim);
}

ragdb_status rdb_tune_model_check(rdb_txn *t, rdb_err *err)
{
	return identity_check(t, 0, err);
}

ragdb_status rdb_txn_embedder_current(rdb_txn *t, rdb_err *err)
{
	/* The vectors were switched (vstage.c) since this handle read its
	 * meta: compare what it embeds queries with. */
	return t->vgen == t->s->vgen ? RAGDB_OK : identity_check(t, 1, err);
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
