/*
 * index/vstage.c — which database holds the live vector blocks, and the
 * staged rewrite that fills the other one and switches (invariants in
 * vstage.h).
 *
 * LMDB cannot rename a database, so the two names take turns: meta
 * "vectors_db" says which is live, each txn reads it once when it begins
 * (t->vec), and every reader of blocks goes through t->vec. The handle of
 * "vectors.1" is opened once per process: at open when it exists, else by
 * the write txn that creates it (kept when it commits), or, when another
 * process created it, in a read txn of its own before the txn that needs
 * it begins again (rdb_vectors1_open).
 */
#include "index/ivf.h"
#include "index/store_int.h"
#include "index/vstage.h"

#include <stdio.h>
#include <stdlib.h>

#define VDB_KEY "vectors_db"
#define STAGED_KEY "vstaged"

static MDB_val key_of(const char *k)
{
	MDB_val v = { strlen(k), (void *)k };
	return v;
}

/* The "vectors.1" handle. A read txn uses the process's (rdb_txn_begin
 * made sure it exists when the txn may need it: MDB_NOTFOUND otherwise); a
 * write txn opens it, with @p create creating it, when the process has none
 * (kept once the txn commits). 0 or an MDB rc. */
static int v1_dbi(rdb_txn *t, int create, MDB_dbi *out)
{
	rdb_store *s = t->s;
	int rc = 0;
	pthread_mutex_lock(&s->dbi_lock);
	if (s->have_v1) {
		*out = s->vectors1;
	} else if (t->v1_opened) {
		*out = t->v1;
	} else if (!t->write) {
		rc = MDB_NOTFOUND;
	} else if ((rc = mdb_dbi_open(t->txn, "vectors.1", create ? MDB_CREATE : 0, out)) == 0) {
		t->v1_opened = 1;
		t->v1 = *out;
	}
	pthread_mutex_unlock(&s->dbi_lock);
	return rc;
}

void rdb_vectors1_adopt(rdb_txn *t)
{
	rdb_store *s = t->s;
	pthread_mutex_lock(&s->dbi_lock);
	if (!s->have_v1) {
		s->vectors1 = t->v1;
		s->have_v1 = 1;
	}
	pthread_mutex_unlock(&s->dbi_lock);
}

/* LMDB lets a txn use only the handles opened before it began, and two
 * txns opening one name each make a slot of their own: so the handle is
 * opened once, in a read txn that commits (which keeps it), and the txn
 * that needed it begins again. */
ragdb_status rdb_vectors1_open(rdb_store *s, rdb_err *err)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc = 0;
	pthread_mutex_lock(&s->dbi_lock);
	if (!s->have_v1 && (rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) == 0) {
		if ((rc = mdb_dbi_open(txn, "vectors.1", 0, &dbi)) == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		if (rc == 0) {
			s->vectors1 = dbi;
			s->have_v1 = 1;
		}
	}
	pthread_mutex_unlock(&s->dbi_lock);
	if (rc == MDB_NOTFOUND)
		return rdb_corrupt(s, err, "meta names \"vectors.1\", which is missing");
	return rc ? rdb_mdb_fail(s, rc, err, "opening the vector blocks") : RAGDB_OK;
}

ragdb_status rdb_txn_vectors_select(rdb_txn *t, int *v1_needed, rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_val k = key_of(VDB_KEY), v;
	*v1_needed = 0;
	t->vsel = 0;
	t->vgen = 0;
	t->vec = s->vectors;
	int rc = mdb_get(t->txn, s->meta, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return rdb_mdb_fail(s, rc, err, "reading meta \"" VDB_KEY "\"");
	if (rc == 0 && v.mv_size != 8)
		return rdb_corrupt(s, err, "meta \"" VDB_KEY "\" is %zu bytes, expected 8", v.mv_size);
	if (rc == 0)
		t->vgen = rdb_ld64(v.mv_data);
	t->vsel = (uint32_t)(t->vgen & 1);
	pthread_mutex_lock(&s->dbi_lock);
	int have = s->have_v1;
	pthread_mutex_unlock(&s->dbi_lock);
	if (!have) {
		/* Live, or holding a re-embed's staged blocks (stats, check). */
		MDB_val sk = key_of(STAGED_KEY), sv;
		*v1_needed = t->vsel || mdb_get(t->txn, s->meta, &sk, &sv) == 0;
		return RAGDB_OK;
	}
	if (t->vsel)
		t->vec = s->vectors1;
	return RAGDB_OK;
}

/* The database that is not live. */
static int other_dbi(rdb_txn *t, int create, MDB_dbi *out)
{
	if (t->vsel) {
		*out = t->s->vectors;
		return 0;
	}
	return v1_dbi(t, create, out);
}

static int put_u64(rdb_txn *t, const char *key, uint64_t x)
{
	uint8_t b[8];
	rdb_st64(b, x);
	MDB_val k = key_of(key), v = { 8, b };
	return mdb_put(t->txn, t->s->meta, &k, &v, 0);
}

/* The recorded token: 0 when there is none. */
static int staged_token(rdb_txn *t, uint64_t *token)
{
	MDB_val k = key_of(STAGED_KEY), v;
	int rc = mdb_get(t->txn, t->s->meta, &k, &v);
	*token = rc == 0 && v.mv_size == 8 ? rdb_ld64(v.mv_data) : 0;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static ragdb_status token_check(rdb_txn *t, uint64_t token, rdb_err *err)
{
	uint64_t have;
	int rc = staged_token(t, &have);
	if (rc)
		return rdb_mdb_fail(t->s, rc, err, "reading meta \"" STAGED_KEY "\"");
	if (have != token)
		return rdb_err_set(err, RAGDB_EBUSY, "the re-embedded vectors staged so far were "
		                   "removed meanwhile (by `ragdb compact`, or another re-embed or tune "
		                   "that began); nothing was changed; run the command again");
	return RAGDB_OK;
}

/* A step's start: the sequence still owns the staged blocks, the live
 * ones are all in LMDB (the tail flushed), and the staged database. */
static ragdb_status staged_open(rdb_txn *t, uint64_t token, MDB_dbi *other, rdb_err *err)
{
	ragdb_status st;
	if ((st = token_check(t, token, err)) || (st = rdb_tail_flush(t, err)))
		return st;
	int rc = other_dbi(t, 0, other);
	return rc ? rdb_mdb_fail(t->s, rc, err, "opening the staged vector blocks") : RAGDB_OK;
}

ragdb_status rdb_vstage_begin(rdb_txn *t, uint64_t token, rdb_err *err)
{
	MDB_dbi other;
	if (!t->write || !token)
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_vstage_begin needs a write txn and a token");
	int rc = other_dbi(t, 1, &other);
	if (rc == 0)
		rc = mdb_drop(t->txn, other, 0); /* what an unfinished re-embed left */
	if (rc == 0)
		rc = put_u64(t, STAGED_KEY, token);
	return rc ? rdb_mdb_fail(t->s, rc, err, "starting to stage re-embedded vectors") : RAGDB_OK;
}

/* Buffers for one block: its ids and its new vectors. */
typedef struct stage_buf {
	uint64_t *ids;
	float *vecs;
} stage_buf;

static ragdb_status buf_alloc(rdb_store *s, uint32_t dim, stage_buf *b, rdb_err *err)
{
	b->ids = malloc((size_t)s->m.block_cap * 8 + 8);
	b->vecs = malloc((size_t)s->m.block_cap * dim * 4 + 4);
	if (!b->ids || !b->vecs) {
		free(b->ids);
		free(b->vecs);
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory re-embedding %s", s->dir);
	}
	return RAGDB_OK;
}

static void buf_free(stage_buf *b)
{
	free(b->ids);
	free(b->vecs);
}

/* Embed live block @p no (value @p lv) into database @p dbi at @p dim:
 * same header fields but the dimension, same ids, the new vectors. */
static ragdb_status stage_block(rdb_txn *t, MDB_dbi dbi, uint32_t no, const MDB_val *lv,
                                uint32_t dim, rdb_rewrite_fn fill, void *ctx, stage_buf *b,
                                size_t *bytes, uint64_t *n_live, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t count, live;
	ragdb_status st = rdb_block_parse(s, no, lv, &count, &live, err);
	if (st)
		return st;
	memcpy(b->ids, (const uint8_t *)lv->mv_data + RDB_BLOCK_HDR, (size_t)count * 8);
	memset(b->vecs, 0, (size_t)count * dim * 4);
	if ((st = fill(ctx, b->ids, count, b->vecs, err)))
		return st;
	uint64_t filled = 0;
	for (uint32_t i = 0; i < count; i++) {
		if (!b->ids[i])
			continue;
		filled++;
		double ss = 0;
		for (uint32_t d = 0; d < dim; d++)
			ss += (double)b->vecs[(size_t)i * dim + d] * b->vecs[(size_t)i * dim + d];
		if (ss != 0 && (ss < 0.998 || ss > 1.002))
			return rdb_err_set(err, RAGDB_EINVAL, "re-embedded vector of chunk %llu has norm "
			                   "%.4f; vectors must be L2-normalised",
			                   (unsigned long long)b->ids[i], ss);
	}
	uint8_t kb[4];
	rdb_put_be32(kb, no);
	MDB_val k = { 4, kb }, nv = { rdb_block_size(count, dim), NULL };
	int rc = mdb_put(t->txn, dbi, &k, &nv, MDB_RESERVE);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "writing a re-embedded vector block");
	uint8_t *p = nv.mv_data;
	memset(p, 0, rdb_block_vecs_off(count));
	rdb_st32(p, RDB_BLOCK_MAGIC);
	rdb_st32(p + 4, count);
	rdb_st32(p + 8, dim);
	rdb_st32(p + 12, live);
	memcpy(p + RDB_BLOCK_HDR, b->ids, (size_t)count * 8);
	memcpy(p + rdb_block_vecs_off(count), b->vecs, (size_t)count * dim * 4);
	*bytes += nv.mv_size;
	*n_live += filled;
	return RAGDB_OK;
}

ragdb_status rdb_vstage_step(rdb_txn *t, uint64_t token, uint32_t dim, rdb_rewrite_fn fill,
                             void *ctx, uint32_t *next_no, size_t budget, int *done,
                             uint64_t *n_live, rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_dbi other;
	*done = 0;
	ragdb_status st;
	if ((st = staged_open(t, token, &other, err)))
		return st;
	int rc;
	stage_buf b;
	if ((st = buf_alloc(s, dim, &b, err)))
		return st;
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(t->txn, t->vec, &cur))) {
		buf_free(&b);
		return rdb_mdb_fail(s, rc, err, "opening a cursor on the vector blocks");
	}
	uint8_t kb[4];
	rdb_put_be32(kb, *next_no);
	MDB_val k = { 4, kb }, v;
	size_t bytes = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && bytes < budget;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4) {
			st = rdb_corrupt(s, err, "a vector block key is %zu bytes, expected 4", k.mv_size);
			break;
		}
		uint32_t no = rdb_get_be32(k.mv_data);
		if ((st = stage_block(t, other, no, &v, dim, fill, ctx, &b, &bytes, n_live, err)))
			break;
		*next_no = no + 1;
	}
	if (!st && rc == MDB_NOTFOUND)
		*done = 1;
	else if (!st && rc)
		st = rdb_mdb_fail(s, rc, err, "reading the vector blocks");
	mdb_cursor_close(cur);
	buf_free(&b);
	return st;
}

/* Bring the staged blocks up to the live ones (V3): embed again what
 * differs, delete what the live side lost. */
static ragdb_status reconcile(rdb_txn *t, MDB_dbi other, uint32_t dim, rdb_rewrite_fn fill,
                              void *ctx, uint64_t *n_live, rdb_err *err)
{
	rdb_store *s = t->s;
	uint32_t *live = NULL, *staged = NULL;
	size_t nl = 0, ns = 0, bytes = 0;
	stage_buf b = { 0 };
	ragdb_status st;
	if ((st = rdb_block_numbers(t, &live, &nl, err)) ||
	    (st = rdb_block_numbers_in(t, other, &staged, &ns, err)) ||
	    (st = buf_alloc(s, dim, &b, err)))
		goto out;
	size_t j = 0;
	for (size_t i = 0; i < nl; i++) {
		uint8_t kb[4];
		rdb_put_be32(kb, live[i]);
		MDB_val k = { 4, kb }, lv, sv;
		int rc = mdb_get(t->txn, t->vec, &k, &lv);
		if (rc) {
			st = rdb_mdb_fail(s, rc, err, "reading a vector block");
			goto out;
		}
		while (j < ns && staged[j] < live[i])
			j++;
		if (j < ns && staged[j] == live[i] &&
		    (rc = mdb_get(t->txn, other, &k, &sv)) == 0 && sv.mv_size >= RDB_BLOCK_HDR &&
		    lv.mv_size >= RDB_BLOCK_HDR) {
			uint32_t cnt = rdb_ld32((const uint8_t *)lv.mv_data + 4);
			const uint8_t *sp = sv.mv_data;
			if (rdb_ld32(sp) == RDB_BLOCK_MAGIC && rdb_ld32(sp + 4) == cnt &&
			    rdb_ld32(sp + 8) == dim && sv.mv_size == rdb_block_size(cnt, dim) &&
			    lv.mv_size >= RDB_BLOCK_HDR + (size_t)cnt * 8 &&
			    memcmp(sp + RDB_BLOCK_HDR, (const uint8_t *)lv.mv_data + RDB_BLOCK_HDR,
			           (size_t)cnt * 8) == 0)
				continue; /* staged from the block as it still is */
		}
		if (rc && rc != MDB_NOTFOUND) {
			st = rdb_mdb_fail(s, rc, err, "reading a staged vector block");
			goto out;
		}
		if ((st = stage_block(t, other, live[i], &lv, dim, fill, ctx, &b, &bytes, n_live, err)))
			goto out;
	}
	/* Staged blocks whose live block is gone (compacted or emptied). */
	for (size_t i = 0, l = 0; i < ns; i++) {
		while (l < nl && live[l] < staged[i])
			l++;
		if (l < nl && live[l] == staged[i])
			continue;
		uint8_t kb[4];
		rdb_put_be32(kb, staged[i]);
		MDB_val k = { 4, kb };
		int rc = mdb_del(t->txn, other, &k, NULL);
		if (rc && rc != MDB_NOTFOUND) {
			st = rdb_mdb_fail(s, rc, err, "deleting a staged vector block");
			goto out;
		}
	}
out:
	free(live);
	free(staged);
	buf_free(&b);
	return st;
}

ragdb_status rdb_vstage_finish(rdb_txn *t, uint64_t token, uint32_t dim, rdb_rewrite_fn fill,
                               void *ctx, uint64_t *n_live, uint32_t *requant, int *dropped_ivf,
                               rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_dbi other;
	ragdb_status st;
	int rc;
	*requant = 0;
	*dropped_ivf = 0;
	if ((st = staged_open(t, token, &other, err)))
		return st;
	if ((st = reconcile(t, other, dim, fill, ctx, n_live, err)))
		return st;
	/* The switch (V1): the staged blocks become the live ones. */
	MDB_val sk = key_of(STAGED_KEY);
	uint32_t sel = !t->vsel;
	if ((rc = put_u64(t, VDB_KEY, t->vgen + 1)) ||
	    (rc = put_u64(t, "schema", sel ? RDB_SCHEMA_VECTORS1 : RDB_SCHEMA_VERSION)) ||
	    (rc = mdb_drop(t->txn, t->vec, 0)) || (rc = mdb_del(t->txn, s->meta, &sk, NULL)))
		return rdb_mdb_fail(s, rc, err, "switching to the re-embedded vectors");
	t->vec = other;
	t->vsel = sel;
	t->vgen++;
	t->vswitched = 1;
	rdb_tail_free(&t->tail); /* sized for the old dimension */
	/* The IVF lists and the quantized blocks hold the old vectors. */
	rdb_ivf_info info;
	rdb_err e2 = { 0 };
	*dropped_ivf = rdb_ivf_info_get(t, &info, &e2) == RAGDB_OK && info.live > 0;
	if ((st = rdb_ivf_drop(t, err)))
		return st;
	*requant = rdb_txn_quant(t);
	return rdb_store_set_quant_blocks(t, 0, err);
}

ragdb_status rdb_vstage_usage(rdb_txn *t, uint64_t *bytes, rdb_err *err)
{
	uint64_t have;
	MDB_dbi other;
	MDB_stat ms;
	*bytes = 0;
	int rc = staged_token(t, &have);
	if (rc == 0 && have && (rc = other_dbi(t, 0, &other)) == 0 &&
	    (rc = mdb_stat(t->txn, other, &ms)) == 0)
		*bytes = (uint64_t)(ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages) *
		         ms.ms_psize;
	if (rc && rc != MDB_NOTFOUND)
		return rdb_mdb_fail(t->s, rc, err, "reading the staged vector blocks' size");
	return RAGDB_OK;
}

ragdb_status rdb_vstage_abandon(rdb_txn *t, uint64_t token, uint64_t *bytes, rdb_err *err)
{
	uint64_t have;
	MDB_dbi other;
	MDB_stat ms;
	MDB_val k = key_of(STAGED_KEY);
	int rc = staged_token(t, &have);
	if (rc == 0 && (!have || (token && have != token)))
		return RAGDB_OK; /* none, or another sequence's */
	if (rc == 0 && (rc = other_dbi(t, 0, &other)) == 0) {
		if (bytes && (rc = mdb_stat(t->txn, other, &ms)) == 0)
			*bytes += (uint64_t)(ms.ms_branch_pages + ms.ms_leaf_pages +
			                     ms.ms_overflow_pages) * ms.ms_psize;
		if (rc == 0)
			rc = mdb_drop(t->txn, other, 0);
	}
	if (rc == 0 || rc == MDB_NOTFOUND)
		rc = mdb_del(t->txn, t->s->meta, &k, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return rdb_mdb_fail(t->s, rc, err, "removing the vectors of an unfinished re-embed");
	return RAGDB_OK;
}

ragdb_status rdb_vstage_check(rdb_txn *t, void (*problem)(void *ctx, const char *msg), void *ctx,
                              rdb_err *err)
{
	rdb_store *s = t->s;
	MDB_val k = key_of("schema"), v;
	int rc = mdb_get(t->txn, s->meta, &k, &v);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading meta \"schema\"");
	uint64_t want = t->vsel ? RDB_SCHEMA_VECTORS1 : RDB_SCHEMA_VERSION;
	char msg[256];
	if (v.mv_size != 8 || rdb_ld64(v.mv_data) != want) {
		snprintf(msg, sizeof msg, "meta schema is not %llu, which the live vector blocks in "
		         "\"%s\" need", (unsigned long long)want, t->vsel ? "vectors.1" : "vectors");
		problem(ctx, msg);
	}
	uint64_t token;
	MDB_dbi other;
	MDB_stat ms;
	if ((rc = staged_token(t, &token)))
		return rdb_mdb_fail(s, rc, err, "reading meta \"" STAGED_KEY "\"");
	rc = other_dbi(t, 0, &other);
	if (rc == MDB_NOTFOUND)
		return RAGDB_OK;
	if (rc || (rc = mdb_stat(t->txn, other, &ms)))
		return rdb_mdb_fail(s, rc, err, "reading the vector blocks that are not live");
	if (!token && ms.ms_entries) {
		snprintf(msg, sizeof msg, "\"%s\" holds %llu vector blocks, but no re-embed is staged "
		         "(meta " STAGED_KEY " is missing)",
		         t->vsel ? "vectors" : "vectors.1", (unsigned long long)ms.ms_entries);
		problem(ctx, msg);
	}
	return RAGDB_OK;
}
