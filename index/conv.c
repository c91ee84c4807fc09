/*
 * index/conv.c — the conversations database (index/conv.h has the layout
 * and invariants; docs/ARCHITECTURE.md the encoding).
 *
 * Records are little-endian: a turn is u32 version (1), u32 role, i64
 * time_ms, u64 input_tokens, u64 output_tokens, then four strings (text,
 * model, query, sources_json), each u32 length + bytes + NUL so a reader
 * can point into the map. A head is u32 version (1), u32 n_turns, i64
 * created_ms, i64 updated_ms, then the title as one such string.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/conv.h"
#include "index/store_int.h"

#define CONV_VERSION 1u
#define TURN_HDR 32u
#define HEAD_HDR 24u
#define TITLE_MAX 200u

/* mdb_dbi_open must not run in two transactions of one process at once. */
static pthread_mutex_t conv_open_lock = PTHREAD_MUTEX_INITIALIZER;

ragdb_status rdb_conv_ready(rdb_store *s, int create, rdb_err *err)
{
	ragdb_status st = RAGDB_OK;
	pthread_mutex_lock(&conv_open_lock);
	if (s->conv_open)
		goto out;
	if (create && (s->flags & RDB_STORE_RDONLY))
		create = 0;
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
	if (rc == MDB_MAP_RESIZED) {
		mdb_env_set_mapsize(s->env, 0);
		rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
	}
	if (rc) {
		st = rdb_mdb_fail(s, rc, err, "starting a transaction for the conversations");
		goto out;
	}
	rc = mdb_dbi_open(txn, "conversations", create ? MDB_CREATE : 0, &s->conv);
	if (rc) {
		mdb_txn_abort(txn);
		st = rc == MDB_NOTFOUND
		     ? rdb_err_set(err, RAGDB_ENOTFOUND, "no conversation is stored in %s", s->dir)
		     : rdb_mdb_fail(s, rc, err, "opening the conversations database");
		goto out;
	}
	/* A read-only txn's commit keeps the handle open, as a write txn's does. */
	if ((rc = mdb_txn_commit(txn))) {
		st = rdb_mdb_fail(s, rc, err, "opening the conversations database");
		goto out;
	}
	s->conv_open = 1;
out:
	pthread_mutex_unlock(&conv_open_lock);
	return st;
}

static ragdb_status need_open(rdb_txn *t, const char *id, rdb_err *err)
{
	if (!t->s->conv_open)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "no conversation %s", id ? id : "is stored");
	return RAGDB_OK;
}

static ragdb_status check_id(const char *id, rdb_err *err)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > RDB_CONV_MAX_ID)
		return rdb_err_set(err, RAGDB_EINVAL, "a conversation id must be 1..%d bytes, got %zu; "
		                   "use a shorter id", RDB_CONV_MAX_ID, n);
	return RAGDB_OK;
}

static void make_key(uint8_t *k, const char *id, size_t idlen, uint32_t n)
{
	memcpy(k, id, idlen);
	k[idlen] = 0;
	rdb_put_be32(k + idlen + 1, n);
}

/* Read a u32-length-prefixed, NUL-ended string at *off in v. */
static int get_str(const MDB_val *v, size_t *off, const char **out)
{
	const uint8_t *p = v->mv_data;
	if (*off + 4 > v->mv_size)
		return -1;
	uint32_t len = rdb_ld32(p + *off);
	if (len > v->mv_size - *off - 4 || len + 5 > v->mv_size - *off || p[*off + 4 + len] != 0)
		return -1;
	*out = (const char *)p + *off + 4;
	*off += 4 + (size_t)len + 1;
	return 0;
}

static void put_str(uint8_t *p, size_t *off, const char *s)
{
	uint32_t len = (uint32_t)strlen(s);
	rdb_st32(p + *off, len);
	memcpy(p + *off + 4, s, len);
	p[*off + 4 + len] = 0;
	*off += 4 + (size_t)len + 1;
}

static ragdb_status head_decode(const rdb_store *s, const MDB_val *v, rdb_conv_head *h,
                                rdb_err *err)
{
	const uint8_t *p = v->mv_data;
	size_t off = HEAD_HDR;
	if (v->mv_size < HEAD_HDR || rdb_ld32(p) != CONV_VERSION || get_str(v, &off, &h->title))
		return rdb_corrupt(s, err, "a conversation head record is malformed");
	h->n_turns = rdb_ld32(p + 4);
	h->created_ms = (int64_t)rdb_ld64(p + 8);
	h->updated_ms = (int64_t)rdb_ld64(p + 16);
	return RAGDB_OK;
}

static ragdb_status turn_decode(const rdb_store *s, const MDB_val *v, rdb_conv_turn *tn,
                                rdb_err *err)
{
	const uint8_t *p = v->mv_data;
	size_t off = TURN_HDR;
	if (v->mv_size < TURN_HDR || rdb_ld32(p) != CONV_VERSION || get_str(v, &off, &tn->text) ||
	    get_str(v, &off, &tn->model) || get_str(v, &off, &tn->query) ||
	    get_str(v, &off, &tn->sources_json))
		return rdb_corrupt(s, err, "a conversation turn record is malformed");
	tn->role = rdb_ld32(p + 4);
	tn->time_ms = (int64_t)rdb_ld64(p + 8);
	tn->input_tokens = rdb_ld64(p + 16);
	tn->output_tokens = rdb_ld64(p + 24);
	return RAGDB_OK;
}

ragdb_status rdb_conv_head_get(rdb_txn *t, const char *id, rdb_conv_head *out, rdb_err *err)
{
	ragdb_status st;
	if ((st = check_id(id, err)) || (st = need_open(t, id, err)))
		return st;
	size_t idlen = strlen(id);
	uint8_t k[RDB_CONV_MAX_ID + 5];
	make_key(k, id, idlen, 0);
	MDB_val key = {idlen + 5, k}, v;
	int rc = mdb_get(t->txn, t->s->conv, &key, &v);
	if (rc == MDB_NOTFOUND)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "no conversation %s; list them with `ragdb "
		                   "conversations list`", id);
	if (rc)
		return rdb_mdb_fail(t->s, rc, err, "reading a conversation");
	rdb_conv_head h = {.id = id};
	if ((st = head_decode(t->s, &v, &h, err)))
		return st;
	*out = h;
	return RAGDB_OK;
}

static ragdb_status put_head(rdb_txn *t, const char *id, const rdb_conv_head *h, rdb_err *err)
{
	size_t idlen = strlen(id), tl = strlen(h->title);
	uint8_t k[RDB_CONV_MAX_ID + 5];
	make_key(k, id, idlen, 0);
	uint8_t *p = malloc(HEAD_HDR + 5 + tl);
	if (!p)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory writing a conversation");
	rdb_st32(p, CONV_VERSION);
	rdb_st32(p + 4, h->n_turns);
	rdb_st64(p + 8, (uint64_t)h->created_ms);
	rdb_st64(p + 16, (uint64_t)h->updated_ms);
	size_t off = HEAD_HDR;
	put_str(p, &off, h->title);
	MDB_val key = {idlen + 5, k}, v = {off, p};
	int rc = mdb_put(t->txn, t->s->conv, &key, &v, 0);
	free(p);
	return rc ? rdb_mdb_fail(t->s, rc, err, "writing a conversation") : RAGDB_OK;
}

ragdb_status rdb_conv_append(rdb_txn *t, const char *id, const rdb_conv_turn *turns, size_t n,
                             rdb_err *err)
{
	ragdb_status st;
	if ((st = check_id(id, err)) || (st = need_open(t, id, err)))
		return st;
	char title[TITLE_MAX + 1] = "";
	rdb_conv_head h;
	st = rdb_conv_head_get(t, id, &h, err);
	if (st == RAGDB_ENOTFOUND) {
		h = (rdb_conv_head){.id = id, .title = "", .created_ms = n ? turns[0].time_ms : 0};
	} else if (st != RAGDB_OK) {
		return st;
	} else {
		/* The map may change under the pointer with the writes below. */
		snprintf(title, sizeof title, "%s", h.title);
		h.title = title;
	}
	if (n > UINT32_MAX - 1 - h.n_turns)
		return rdb_err_set(err, RAGDB_EINVAL, "conversation %s is full; start a new one", id);
	size_t idlen = strlen(id);
	uint8_t k[RDB_CONV_MAX_ID + 5];
	for (size_t i = 0; i < n; i++) {
		const rdb_conv_turn *tn = &turns[i];
		const char *s[4] = {tn->text ? tn->text : "", tn->model ? tn->model : "",
		                    tn->query ? tn->query : "", tn->sources_json ? tn->sources_json : ""};
		size_t need = TURN_HDR;
		for (int j = 0; j < 4; j++) {
			size_t l = strlen(s[j]);
			if (l > RDB_CONV_MAX_TURN_BYTES - need - 5)
				return rdb_err_set(err, RAGDB_EINVAL, "a conversation turn is over %u bytes; "
				                   "ask a shorter question", RDB_CONV_MAX_TURN_BYTES);
			need += l + 5;
		}
		uint8_t *p = malloc(need);
		if (!p)
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory writing a conversation");
		rdb_st32(p, CONV_VERSION);
		rdb_st32(p + 4, tn->role);
		rdb_st64(p + 8, (uint64_t)tn->time_ms);
		rdb_st64(p + 16, tn->input_tokens);
		rdb_st64(p + 24, tn->output_tokens);
		size_t off = TURN_HDR;
		for (int j = 0; j < 4; j++)
			put_str(p, &off, s[j]);
		h.n_turns++;
		make_key(k, id, idlen, h.n_turns);
		MDB_val key = {idlen + 5, k}, v = {off, p};
		int rc = mdb_put(t->txn, t->s->conv, &key, &v, 0);
		free(p);
		if (rc)
			return rdb_mdb_fail(t->s, rc, err, "writing a conversation turn");
		if (!title[0] && tn->role == RDB_ROLE_USER) {
			/* Cut at a UTF-8 character boundary. */
			size_t l = strlen(s[0]);
			if (l > TITLE_MAX) {
				l = TITLE_MAX;
				while (l > 0 && ((unsigned char)s[0][l] & 0xC0) == 0x80)
					l--;
			}
			memcpy(title, s[0], l);
			title[l] = 0;
			for (char *c = title; *c; c++)
				if (*c == '\n' || *c == '\r' || *c == '\t')
					*c = ' ';
			h.title = title;
		}
		h.updated_ms = tn->time_ms;
	}
	return put_head(t, id, &h, err);
}

ragdb_status rdb_conv_turns(rdb_txn *t, const char *id,
                            int (*cb)(void *ctx, uint32_t n, const rdb_conv_turn *turn), void *ctx,
                            rdb_err *err)
{
	rdb_conv_head h;
	ragdb_status st = rdb_conv_head_get(t, id, &h, err);
	if (st)
		return st;
	size_t idlen = strlen(id);
	uint8_t k[RDB_CONV_MAX_ID + 5];
	for (uint32_t i = 1; i <= h.n_turns; i++) {
		make_key(k, id, idlen, i);
		MDB_val key = {idlen + 5, k}, v;
		int rc = mdb_get(t->txn, t->s->conv, &key, &v);
		if (rc == MDB_NOTFOUND)
			return rdb_corrupt(t->s, err, "conversation %s lacks turn %u of %u", id, i,
			                   h.n_turns);
		if (rc)
			return rdb_mdb_fail(t->s, rc, err, "reading a conversation turn");
		rdb_conv_turn tn;
		if ((st = turn_decode(t->s, &v, &tn, err)))
			return st;
		if (cb(ctx, i, &tn))
			break;
	}
	return RAGDB_OK;
}

ragdb_status rdb_conv_iter(rdb_txn *t, int (*cb)(void *ctx, const rdb_conv_head *h), void *ctx,
                           rdb_err *err)
{
	if (!t->s->conv_open)
		return RAGDB_OK; /* nothing stored yet */
	MDB_cursor *c;
	int rc = mdb_cursor_open(t->txn, t->s->conv, &c);
	if (rc)
		return rdb_mdb_fail(t->s, rc, err, "listing conversations");
	ragdb_status st = RAGDB_OK;
	MDB_val key, v;
	char id[RDB_CONV_MAX_ID + 2];
	rc = mdb_cursor_get(c, &key, &v, MDB_FIRST);
	while (rc == 0) {
		size_t klen = key.mv_size;
		const uint8_t *kp = key.mv_data;
		if (klen < 6 || klen - 5 > RDB_CONV_MAX_ID || kp[klen - 5] != 0 ||
		    rdb_get_be32(kp + klen - 4) != 0) {
			st = rdb_corrupt(t->s, err, "a conversation key is malformed or has no head");
			goto out;
		}
		memcpy(id, kp, klen - 5);
		id[klen - 5] = 0;
		rdb_conv_head h = {.id = id};
		if ((st = head_decode(t->s, &v, &h, err)))
			goto out;
		if (cb(ctx, &h))
			goto out;
		/* Skip this conversation's turns: "id\x01" sorts after every
		 * "id\0..." key and before any other conversation's. */
		id[klen - 5] = 1;
		key.mv_data = id;
		key.mv_size = klen - 4;
		rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
	}
	if (rc != MDB_NOTFOUND)
		st = rdb_mdb_fail(t->s, rc, err, "listing conversations");
out:
	mdb_cursor_close(c);
	return st;
}

ragdb_status rdb_conv_delete(rdb_txn *t, const char *id, rdb_err *err)
{
	rdb_conv_head h;
	ragdb_status st = rdb_conv_head_get(t, id, &h, err);
	if (st)
		return st;
	uint32_t n = h.n_turns;
	size_t idlen = strlen(id);
	uint8_t k[RDB_CONV_MAX_ID + 5];
	for (uint32_t i = 0; i <= n; i++) {
		make_key(k, id, idlen, i);
		MDB_val key = {idlen + 5, k};
		int rc = mdb_del(t->txn, t->s->conv, &key, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return rdb_mdb_fail(t->s, rc, err, "deleting a conversation");
	}
	return RAGDB_OK;
}
