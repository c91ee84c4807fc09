/*
 * index/reembed.c — the identity a re-embed records (invariants in
 * reembed.h); the vectors themselves are rewritten by vstage.c.
 */
#include "index/reembed.h"
#include "index/store_int.h"

#include <stdio.h>

static int put_str(rdb_txn *t, const char *key, const char *v)
{
	MDB_val k = {strlen(key), (void *)key}, d = {strlen(v), (void *)v};
	return mdb_put(t->txn, t->s->meta, &k, &d, 0);
}

ragdb_status rdb_store_reembed_identity(rdb_txn *t, const char *name, const char *model,
                                        uint32_t dim, rdb_err *err)
{
	rdb_store *s = t->s;
	if (!t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "recording an embedder needs a write transaction");
	if (dim == 0 || dim > 65536 || !*name || strlen(name) >= sizeof s->m.embedder || !*model ||
	    strlen(model) >= sizeof s->m.model)
		return rdb_err_set(err, RAGDB_EINVAL, "embedder %s:%s (dim %u) is out of range", name,
		                   model, dim);
	uint8_t d8[8];
	rdb_st64(d8, dim);
	MDB_val dk = {3, (void *)"dim"}, dv = {8, d8};
	int rc;
	if ((rc = mdb_put(t->txn, s->meta, &dk, &dv, 0)) || (rc = put_str(t, "embedder", name)))
		return rdb_mdb_fail(s, rc, err, "recording the new embedder");
	/* Writes meta "model" and removes a tuned embedder's blob (R2). */
	return rdb_tune_set(t, model, NULL, 0, err);
}

void rdb_store_reembed_done(rdb_store *s, const char *name, const char *model, uint32_t dim)
{
	snprintf(s->m.embedder, sizeof s->m.embedder, "%s", name);
	snprintf(s->m.model, sizeof s->m.model, "%s", model);
	s->m.dim = dim;
}
