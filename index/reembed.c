/*
 * index/reembed.c — every vector block rewritten at a new dimension, with
 * the embedder identity, in one write transaction (invariants in
 * reembed.h).
 *
 * The store's cached meta (s->m.dim) is what block parsing and the
 * quantized-block rebuild read; it is switched to the new dimension only
 * for the rebuild inside this function and restored before returning, so a
 * transaction that is aborted later leaves the handle as it was.
 */
#include "index/reembed.h"
#include "index/store_int.h"

#include <stdio.h>
#include <stdlib.h>

static int put_str(rdb_txn *t, const char *key, const char *v)
{
	MDB_val k = {strlen(key), (void *)key}, d = {strlen(v), (void *)v};
	return mdb_put(t->txn, t->s->meta, &k, &d, 0);
}

/* Empty every database whose name starts with "ivf" (an IVF index built
 * from the old vectors). Emptied, not deleted: handles stay valid, and an
 * index without its header reads as no index. */
static ragdb_status drop_ivf(rdb_txn *t, int *dropped, rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_dbi main;
	int rc = mdb_dbi_open(t->txn, NULL, 0, &main);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "listing the databases");
	char names[16][64];
	size_t n = 0;
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(t->txn, main, &cur)))
		return rdb_mdb_fail(s, rc, err, "listing the databases");
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < 16;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size >= 3 && k.mv_size < 64 && memcmp(k.mv_data, "ivf", 3) == 0) {
			memcpy(names[n], k.mv_data, k.mv_size);
			names[n++][k.mv_size] = 0;
		}
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return rdb_mdb_fail(s, rc, err, "listing the databases");
	for (size_t i = 0; i < n; i++) {
		MDB_dbi d;
		MDB_stat ms;
		if ((rc = mdb_dbi_open(t->txn, names[i], 0, &d)))
			continue; /* a key of the main database that is not a database */
		if ((rc = mdb_stat(t->txn, d, &ms)))
			return rdb_mdb_fail(s, rc, err, "reading the IVF index");
		if (ms.ms_entries)
			*dropped = 1;
		if ((rc = mdb_drop(t->txn, d, 0)))
			return rdb_mdb_fail(s, rc, err, "dropping the IVF index");
	}
	return RAGDB_OK;
}

ragdb_status rdb_store_reembed(rdb_txn *t, const char *name, const char *model, uint32_t dim,
                               rdb_rewrite_fn fill, void *ctx, int *dropped_ivf, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t old_dim = s->m.dim, cap = s->m.block_cap;
	ragdb_status st;
	int rc;
	*dropped_ivf = 0;
	if (!t->write)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_store_reembed needs a write transaction");
	if (dim == 0 || dim > 65536 || !*name || strlen(name) >= sizeof s->m.embedder || !*model ||
	    strlen(model) >= sizeof s->m.model)
		return rdb_err_set(err, RAGDB_EINVAL, "embedder %s:%s (dim %u) is out of range", name,
		                   model, dim);
	if ((st = rdb_tail_flush(t, err)))
		return st;
	rdb_tail_free(&t->tail); /* sized for the old dimension */
	size_t nb = 0;
	uint32_t *nos = NULL;
	if ((st = rdb_block_numbers(t, &nos, &nb, err)))
		return st;
	uint64_t *ids = malloc((size_t)cap * 8 + 8);
	float *vecs = malloc((size_t)cap * dim * 4 + 4);
	if (!ids || !vecs) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory re-embedding %s", s->dir);
		goto out_free;
	}
	for (size_t b = 0; b < nb; b++) {
		uint8_t kb[4];
		rdb_put_be32(kb, nos[b]);
		MDB_val bk = {4, kb}, bv;
		uint32_t count, live;
		if ((rc = mdb_get(t->txn, s->vectors, &bk, &bv))) {
			st = rdb_mdb_fail(s, rc, err, "reading a vector block");
			goto out_free;
		}
		if ((st = rdb_block_parse(s, nos[b], &bv, &count, &live, err)))
			goto out_free;
		memcpy(ids, (const uint8_t *)bv.mv_data + RDB_BLOCK_HDR, (size_t)count * 8);
		memset(vecs, 0, (size_t)count * dim * 4);
		if ((st = fill(ctx, ids, count, vecs, err)))
			goto out_free;
		for (uint32_t i = 0; i < count; i++) {
			if (!ids[i])
				continue;
			double ss = 0;
			for (uint32_t d = 0; d < dim; d++)
				ss += (double)vecs[(size_t)i * dim + d] * vecs[(size_t)i * dim + d];
			if (ss != 0 && (ss < 0.998 || ss > 1.002)) {
				st = rdb_err_set(err, RAGDB_EINVAL, "re-embedded vector of chunk %llu has norm "
				                 "%.4f; vectors must be L2-normalised",
				                 (unsigned long long)ids[i], ss);
				goto out_free;
			}
		}
		/* The new value: same header fields but the dimension, same ids,
		 * the new vectors (block layout in blocks.c). */
		MDB_val nv = {rdb_block_size(count, dim), NULL};
		if ((rc = mdb_put(t->txn, s->vectors, &bk, &nv, MDB_RESERVE))) {
			st = rdb_mdb_fail(s, rc, err, "writing a re-embedded vector block");
			goto out_free;
		}
		uint8_t *p = nv.mv_data;
		memset(p, 0, rdb_block_vecs_off(count));
		rdb_st32(p, RDB_BLOCK_MAGIC);
		rdb_st32(p + 4, count);
		rdb_st32(p + 8, dim);
		rdb_st32(p + 12, live);
		memcpy(p + RDB_BLOCK_HDR, ids, (size_t)count * 8);
		memcpy(p + rdb_block_vecs_off(count), vecs, (size_t)count * dim * 4);
	}
	uint8_t d8[8];
	rdb_st64(d8, dim);
	MDB_val dk = {3, (void *)"dim"}, dv = {8, d8};
	if ((rc = mdb_put(t->txn, s->meta, &dk, &dv, 0)) || (rc = put_str(t, "embedder", name))) {
		st = rdb_mdb_fail(s, rc, err, "recording the new embedder");
		goto out_free;
	}
	/* Writes meta "model" and removes a tuned embedder's blob (R3). */
	if ((st = rdb_tune_set(t, model, NULL, 0, err)))
		goto out_free;
	s->m.dim = dim;
	st = rdb_qblocks_rebuild(t, err);
	s->m.dim = old_dim;
	if (st)
		goto out_free;
	st = drop_ivf(t, dropped_ivf, err);
out_free:
	free(nos);
	free(ids);
	free(vecs);
	return st;
}

void rdb_store_reembed_done(rdb_store *s, const char *name, const char *model, uint32_t dim)
{
	snprintf(s->m.embedder, sizeof s->m.embedder, "%s", name);
	snprintf(s->m.model, sizeof s->m.model, "%s", model);
	s->m.dim = dim;
}
