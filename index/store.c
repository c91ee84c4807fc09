/*
 * index/store.c — the LMDB environment of a knowledge base: opening and
 * creating it, its meta database (identity and counters), transactions,
 * growing the map, statistics, and the one place MDB_* codes become
 * ragdb_status values.
 *
 * Counters (next_doc, documents, ...) are read when a write txn begins, kept
 * in the txn and written back in the same txn just before it commits, so
 * they always change together with the records they count (invariant 3).
 */
#include "index/store_int.h"
#include "index/vstage.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <zstd.h>

#define DEFAULT_MAP_SIZE ((size_t)64 << 30)

/* ------------------------------------------------------------------ */
/* errors */

ragdb_status rdb_mdb_status(int rc)
{
	switch (rc) {
	case MDB_SUCCESS: return RAGDB_OK;
	case MDB_MAP_FULL: return RAGDB_EMAPFULL;
	case ENOSPC: return RAGDB_ENOSPC;
	case EACCES: case EROFS: case EPERM: return RAGDB_EPERM;
	case ENOMEM: return RAGDB_ENOMEM;
	case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND: case MDB_INVALID: return RAGDB_ECORRUPT;
	case MDB_NOTFOUND: return RAGDB_ENOTFOUND;
	case MDB_READERS_FULL: case EAGAIN: case EBUSY: return RAGDB_EBUSY;
	default: return RAGDB_EIO;
	}
}

ragdb_status rdb_mdb_fail(const rdb_store *s, int rc, rdb_err *err, const char *what)
{
	/* LMDB reports a short write (a disk that filled part-way through a
	 * page run) as EIO; say what it was when the disk is full. */
	struct statvfs vfs;
	if (rc == EIO && s && statvfs(s->dir, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < (1u << 20))
		rc = ENOSPC;
	ragdb_status st = rdb_mdb_status(rc);
	const char *hint = "";
	switch (st) {
	case RAGDB_EMAPFULL: hint = "; the memory map is full: abort, grow the map and retry"; break;
	case RAGDB_ENOSPC: hint = "; free disk space and retry"; break;
	case RAGDB_EPERM: hint = "; check the permissions of the directory and its files"; break;
	case RAGDB_ECORRUPT: hint = "; the database file is damaged: run `ragdb check`, restore a backup"; break;
	case RAGDB_EBUSY: hint = "; too many readers or the database is locked: retry later"; break;
	default: break;
	}
	return rdb_err_set(err, st, "%s in %s: %s%s", what, s ? s->dir : "?", mdb_strerror(rc), hint);
}

ragdb_status rdb_corrupt(const rdb_store *s, rdb_err *err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return rdb_err_set(err, RAGDB_ECORRUPT, "corrupt record in %s: %s; run `ragdb check`",
	                   s ? s->dir : "?", msg);
}

/* ------------------------------------------------------------------ */
/* buffers */

void rdb_buf_free(rdb_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

ragdb_status rdb_buf_reserve(rdb_buf *b, size_t need, rdb_err *err)
{
	if (need <= b->cap)
		return RAGDB_OK;
	if (need > (size_t)RDB_MAX_TEXT * 2 + ((size_t)64 << 20))
		return rdb_err_set(err, RAGDB_EINVAL, "buffer of %zu bytes requested; the limit is %u MiB",
		                   need, (unsigned)(RDB_MAX_TEXT >> 20) * 2 + 64);
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory growing a buffer to %zu bytes", cap);
	b->data = p;
	b->cap = cap;
	return RAGDB_OK;
}

/* ------------------------------------------------------------------ */
/* meta */

static const char *const counter_keys[RDB_N_COUNTERS] = {
	"next_doc", "next_chunk", "documents", "chunks",
	"vectors_live", "vectors_dead", "text_bytes", "next_block",
	"next_term", "ft_len_body", "ft_len_title",
};

static uint64_t *counter_slot(rdb_counters *c, int i)
{
	uint64_t *f[RDB_N_COUNTERS] = { &c->next_doc, &c->next_chunk, &c->documents, &c->chunks,
	                   &c->vectors_live, &c->vectors_dead, &c->text_bytes, &c->next_block,
	                   &c->next_term, &c->ft_len_body, &c->ft_len_title };
	return f[i];
}

static int meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v)
{
	uint8_t b[8];
	rdb_st64(b, v);
	MDB_val k = { strlen(key), (void *)key }, d = { 8, b };
	return mdb_put(txn, dbi, &k, &d, 0);
}

static int meta_put_str(MDB_txn *txn, MDB_dbi dbi, const char *key, const char *v)
{
	MDB_val k = { strlen(key), (void *)key }, d = { strlen(v), (void *)v };
	return mdb_put(txn, dbi, &k, &d, 0);
}

/* 1 found, 0 absent, <0 error (err set). */
static int meta_get(rdb_store *s, MDB_txn *txn, const char *key, MDB_val *out, rdb_err *err)
{
	MDB_val k = { strlen(key), (void *)key };
	int rc = mdb_get(txn, s->meta, &k, out);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc) {
		rdb_mdb_fail(s, rc, err, "reading meta");
		return -1;
	}
	return 1;
}

static ragdb_status meta_get_u64(rdb_store *s, MDB_txn *txn, const char *key, uint64_t *v,
                                 rdb_err *err)
{
	MDB_val d;
	int r = meta_get(s, txn, key, &d, err);
	if (r < 0)
		return err ? err->status : RAGDB_EIO;
	if (r == 0 || d.mv_size != 8)
		return rdb_corrupt(s, err, "meta key \"%s\" is %s (expected 8 bytes)", key,
		                   r == 0 ? "missing" : "the wrong size");
	*v = rdb_ld64(d.mv_data);
	return RAGDB_OK;
}

static ragdb_status meta_get_str(rdb_store *s, MDB_txn *txn, const char *key, char *dst,
                                 size_t cap, rdb_err *err)
{
	MDB_val d;
	int r = meta_get(s, txn, key, &d, err);
	if (r < 0)
		return err ? err->status : RAGDB_EIO;
	if (r == 0 || d.mv_size >= cap)
		return rdb_corrupt(s, err, "meta key \"%s\" is %s", key,
		                   r == 0 ? "missing" : "too long");
	memcpy(dst, d.mv_data, d.mv_size);
	dst[d.mv_size] = 0;
	return RAGDB_OK;
}

ragdb_status rdb_counters_read(rdb_txn *t, rdb_counters *c, rdb_err *err)
{
	rdb_counters tmp;
	for (int i = 0; i < RDB_N_COUNTERS; i++) {
		ragdb_status st = meta_get_u64(t->s, t->txn, counter_keys[i], counter_slot(&tmp, i), err);
		if (st)
			return st;
	}
	*c = tmp;
	return RAGDB_OK;
}

static int counters_write(rdb_txn *t)
{
	for (int i = 0; i < RDB_N_COUNTERS; i++) {
		int rc = meta_put_u64(t->txn, t->s->meta, counter_keys[i], *counter_slot(&t->c, i));
		if (rc)
			return rc;
	}
	return 0;
}

static uint32_t default_block_cap(uint32_t dim)
{
	uint32_t cap = 4096;
	while (cap > 16 && (uint64_t)cap * dim * 4 > (1u << 20))
		cap /= 2;
	return cap;
}

/* Write a new knowledge base's meta (in the open txn). */
static int meta_create(rdb_store *s, MDB_txn *txn)
{
	const rdb_meta *m = &s->m;
	int rc = meta_put_u64(txn, s->meta, "schema", m->schema);
	if (!rc) rc = meta_put_str(txn, s->meta, "embedder", m->embedder);
	if (!rc) rc = meta_put_str(txn, s->meta, "model", m->model);
	if (!rc) rc = meta_put_u64(txn, s->meta, "dim", m->dim);
	if (!rc) rc = meta_put_u64(txn, s->meta, "block_cap", m->block_cap);
	if (!rc) rc = meta_put_u64(txn, s->meta, "chunk_tokens", m->chunk_tokens);
	if (!rc) rc = meta_put_u64(txn, s->meta, "chunk_overlap", m->chunk_overlap);
	if (!rc) rc = meta_put_u64(txn, s->meta, "created", (uint64_t)m->created);
	if (!rc) rc = meta_put_str(txn, s->meta, "language", m->language);
	if (!rc && m->quant) rc = meta_put_u64(txn, s->meta, "quantize", m->quant);
	rdb_counters c = { .next_doc = 1, .next_chunk = 1, .next_term = 1 };
	for (int i = 0; i < RDB_N_COUNTERS && !rc; i++)
		rc = meta_put_u64(txn, s->meta, counter_keys[i], *counter_slot(&c, i));
	return rc;
}

static ragdb_status meta_load(rdb_store *s, MDB_txn *txn, rdb_err *err)
{
	rdb_meta m;
	memset(&m, 0, sizeof m);
	uint64_t v;
	ragdb_status st = meta_get_u64(s, txn, "schema", &v, err);
	if (st)
		return st;
	if (v != RDB_SCHEMA_VERSION && v != RDB_SCHEMA_VECTORS1)
		return rdb_err_set(err, RAGDB_ESCHEMA,
		                   "this build reads schema %d and %d; %s has schema %llu: use a ragdb "
		                   "version that reads it, or re-create the knowledge base",
		                   RDB_SCHEMA_VERSION, RDB_SCHEMA_VECTORS1, s->dir,
		                   (unsigned long long)v);
	m.schema = (uint32_t)v;
	/* Switches of the vector blocks so far (vstage.c): the meta read here
	 * describes the vectors of that generation. */
	MDB_val gv;
	int hg = meta_get(s, txn, "vectors_db", &gv, err);
	if (hg < 0)
		return err ? err->status : RAGDB_EIO;
	s->vgen = hg && gv.mv_size == 8 ? rdb_ld64(gv.mv_data) : 0;
	if ((st = meta_get_str(s, txn, "embedder", m.embedder, sizeof m.embedder, err)) ||
	    (st = meta_get_str(s, txn, "model", m.model, sizeof m.model, err)) ||
	    (st = meta_get_str(s, txn, "language", m.language, sizeof m.language, err)))
		return st;
	struct { const char *k; uint32_t *dst; } u32s[] = {
		{ "dim", &m.dim }, { "block_cap", &m.block_cap },
		{ "chunk_tokens", &m.chunk_tokens }, { "chunk_overlap", &m.chunk_overlap },
	};
	for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++) {
		if ((st = meta_get_u64(s, txn, u32s[i].k, &v, err)))
			return st;
		if (v > UINT32_MAX)
			return rdb_corrupt(s, err, "meta \"%s\" = %llu is out of range", u32s[i].k,
			                   (unsigned long long)v);
		*u32s[i].dst = (uint32_t)v;
	}
	if ((st = meta_get_u64(s, txn, "created", &v, err)))
		return st;
	m.created = (int64_t)v;
	if (m.dim == 0 || m.dim > 65536 || m.block_cap == 0 || m.block_cap > (1u << 20))
		return rdb_corrupt(s, err, "meta dim %u / block_cap %u out of range", m.dim, m.block_cap);
	MDB_val qv; /* absent in knowledge bases made before quantization: f32 */
	int hq = meta_get(s, txn, "quantize", &qv, err);
	if (hq < 0)
		return err ? err->status : RAGDB_EIO;
	if (hq && (st = meta_get_u64(s, txn, "quantize", &v, err)))
		return st;
	m.quant = hq ? (uint32_t)v : 0;
	s->m = m;
	return RAGDB_OK;
}

/* ------------------------------------------------------------------ */
/* open / close */

static size_t initial_map_size(void)
{
	const char *e = getenv("RAGDB_MAP_SIZE");
	if (e && *e) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(e, &end, 10);
		if (!errno && *end == 0 && v > 0)
			return (size_t)v;
	}
	return DEFAULT_MAP_SIZE;
}

static int mkdir_p(const char *dir)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
		return ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			if (mkdir(buf, 0777) != 0 && errno != EEXIST)
				return errno;
			*p = '/';
		}
	}
	if (mkdir(buf, 0777) != 0 && errno != EEXIST)
		return errno;
	return 0;
}

static int open_dbis(rdb_store *s, MDB_txn *txn, unsigned dflags)
{
	struct { const char *name; MDB_dbi *dbi; } dbs[] = {
		{ "meta", &s->meta }, { "docs", &s->docs }, { "ids", &s->ids },
		{ "sources", &s->sources }, { "chunks", &s->chunks }, { "vectors", &s->vectors },
		{ "terms", &s->terms }, { "postings", &s->postings }, { "chunkterms", &s->chunkterms },
	};
	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		int rc = mdb_dbi_open(txn, dbs[i].name, dflags, dbs[i].dbi);
		if (rc)
			return rc;
	}
	return 0;
}

ragdb_status rdb_store_open(const char *dir, unsigned flags, const rdb_meta *create_meta,
                            rdb_store **out, rdb_err *err)
{
	ragdb_status st;
	int rc;
	int create = (flags & RDB_STORE_CREATE) != 0, rdonly = (flags & RDB_STORE_RDONLY) != 0;
	if (!dir || !*dir || !out || (create && (!create_meta || rdonly)))
		return rdb_err_set(err, RAGDB_EINVAL, "rdb_store_open: a directory is required, and "
		                   "CREATE needs meta and excludes RDONLY");
	if (create && (create_meta->dim == 0 || create_meta->dim > 65536))
		return rdb_err_set(err, RAGDB_EINVAL, "dimension %u is out of range (1..65536)",
		                   create_meta->dim);

	rdb_store *s = calloc(1, sizeof *s);
	if (!s)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory opening %s", dir);
	pthread_rwlock_init(&s->maplock, NULL);
	pthread_mutex_init(&s->dbi_lock, NULL);
	rdb_viewcache_init(&s->vcache);
	s->flags = flags;
	s->dir = strdup(dir);
	if (!s->dir) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory opening %s", dir);
		goto out_free_store;
	}

	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct stat sb;
	int exists = stat(path, &sb) == 0 && sb.st_size > 0;
	if (!exists && !create) {
		st = rdb_err_set(err, RAGDB_ENOTFOUND,
		                 "no knowledge base in %s; create one with `ragdb init --db %s`", dir, dir);
		goto out_free_store;
	}
	if (create && (rc = mkdir_p(dir)) != 0) {
		st = rdb_err_set(err, rc == EACCES || rc == EROFS || rc == EPERM ? RAGDB_EPERM : RAGDB_EIO,
		                 "cannot create directory %s: %s", dir, strerror(rc));
		goto out_free_store;
	}

	if ((rc = mdb_env_create(&s->env))) {
		st = rdb_mdb_fail(s, rc, err, "creating the LMDB environment");
		goto out_free_store;
	}
	mdb_env_set_maxdbs(s->env, 16);
	mdb_env_set_maxreaders(s->env, 254);
	if ((rc = mdb_env_set_mapsize(s->env, initial_map_size()))) {
		st = rdb_mdb_fail(s, rc, err, "setting the map size");
		goto out_close_env;
	}
	rc = mdb_env_open(s->env, dir, MDB_NOTLS | (rdonly ? MDB_RDONLY : 0), 0664);
	if (rc) {
		st = rdb_mdb_fail(s, rc, err, rdonly ? "opening the knowledge base read-only"
		                                      : "opening the knowledge base for writing");
		if (st == RAGDB_EPERM && !rdonly)
			rdb_err_prefix(err, "cannot write to %s (open it read-only to search)", dir);
		goto out_close_env;
	}

	/* Only creating needs a write txn; opening an existing knowledge base
	 * with a read txn does not wait for another process's writer. */
	MDB_txn *txn;
	for (int tries = 0;; tries++) {
		rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
		if (rc == MDB_MAP_RESIZED && tries < 8) {
			mdb_env_set_mapsize(s->env, 0);
			continue;
		}
		break;
	}
	if (rc) {
		st = rdb_mdb_fail(s, rc, err, "starting a transaction");
		goto out_close_env;
	}
	MDB_dbi meta_dbi;
	rc = mdb_dbi_open(txn, "meta", create ? MDB_CREATE : 0, &meta_dbi);
	if (rc == MDB_NOTFOUND) {
		st = rdb_err_set(err, RAGDB_ENOTFOUND, "%s holds an LMDB environment but no knowledge "
		                 "base; create one with `ragdb init --db DIR` in an empty directory", dir);
		goto out_abort;
	}
	if (rc) {
		st = rdb_mdb_fail(s, rc, err, "opening the meta database");
		goto out_abort;
	}
	s->meta = meta_dbi;
	MDB_val sv;
	int have = meta_get(s, txn, "schema", &sv, err);
	if (have < 0) {
		st = err ? err->status : RAGDB_EIO;
		goto out_abort;
	}
	if (have && create) {
		st = rdb_err_set(err, RAGDB_EEXIST, "%s already holds a knowledge base; open it, or "
		                 "choose another directory", dir);
		goto out_abort;
	}
	if (!have && !create) {
		/* A crash while creating leaves an environment without meta. */
		st = rdb_err_set(err, RAGDB_ENOTFOUND, "no knowledge base in %s (the environment has no "
		                 "meta; an interrupted create?); create one with `ragdb init --db %s`",
		                 dir, dir);
		goto out_abort;
	}
	if ((rc = open_dbis(s, txn, create ? MDB_CREATE : 0))) {
		st = rc == MDB_NOTFOUND
		     ? rdb_corrupt(s, err, "a named database is missing")
		     : rdb_mdb_fail(s, rc, err, "opening the named databases");
		goto out_abort;
	}
	/* Quantized blocks: absent in older knowledge bases (made on the first
	 * rdb_store_set_quant). */
	rc = mdb_dbi_open(txn, "qvectors", create ? MDB_CREATE : 0, &s->qvectors);
	if (rc && rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "opening the quantized vector blocks");
		goto out_abort;
	}
	s->have_q = rc == 0;
	/* The IVF index (ivf.c): absent in older knowledge bases until the first
	 * `ragdb index build` creates it. */
	rc = mdb_dbi_open(txn, "ivf", create ? MDB_CREATE : 0, &s->ivf);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "ivflists", create ? MDB_CREATE : 0, &s->ivflists);
	if (rc && rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "opening the IVF index");
		goto out_abort;
	}
	s->ivf_open = rc == 0;
	/* The second vector database (vstage.c): there once a re-embed used it. */
	rc = mdb_dbi_open(txn, "vectors.1", 0, &s->vectors1);
	if (rc && rc != MDB_NOTFOUND) {
		st = rdb_mdb_fail(s, rc, err, "opening the vector blocks");
		goto out_abort;
	}
	s->have_v1 = rc == 0;
	if (create) {
		s->m = *create_meta;
		s->m.schema = RDB_SCHEMA_VERSION;
		if (!s->m.block_cap)
			s->m.block_cap = default_block_cap(s->m.dim);
		if (!s->m.created)
			s->m.created = (int64_t)time(NULL);
		if (!s->m.language[0])
			snprintf(s->m.language, sizeof s->m.language, "english");
		if ((rc = meta_create(s, txn))) {
			st = rdb_mdb_fail(s, rc, err, "writing the meta of a new knowledge base");
			goto out_abort;
		}
	} else if ((st = meta_load(s, txn, err))) {
		goto out_abort;
	}
	if ((rc = mdb_txn_commit(txn))) {
		st = rdb_mdb_fail(s, rc, err, "committing the open");
		goto out_close_env;
	}
	*out = s;
	return RAGDB_OK;

out_abort:
	mdb_txn_abort(txn);
out_close_env:
	mdb_env_close(s->env);
out_free_store:
	rdb_viewcache_free(&s->vcache);
	pthread_rwlock_destroy(&s->maplock);
	pthread_mutex_destroy(&s->dbi_lock);
	free(s->dir);
	free(s);
	return st;
}

void rdb_store_close(rdb_store *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	ZSTD_freeCCtx(s->cctx);
	rdb_ft_txn_free(s->ft_spare);
	rdb_viewcache_free(&s->vcache);
	pthread_rwlock_destroy(&s->maplock);
	pthread_mutex_destroy(&s->dbi_lock);
	free(s->dir);
	free(s);
}

const rdb_meta *rdb_store_meta(const rdb_store *s) { return &s->m; }
const char *rdb_store_dir(const rdb_store *s) { return s->dir; }

ragdb_status rdb_store_grow(rdb_store *s, rdb_err *err)
{
	MDB_envinfo info;
	int rc = mdb_env_info(s->env, &info);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading the map size");
	size_t cur = info.me_mapsize;
	if (cur > SIZE_MAX / 2)
		return rdb_err_set(err, RAGDB_EMAPFULL, "the map of %s cannot grow past %zu bytes",
		                   s->dir, cur);
	/* Wait until no transaction of this process is open (readers in worker
	 * threads, searches of a server). */
	pthread_rwlock_wrlock(&s->maplock);
	rc = mdb_env_set_mapsize(s->env, cur * 2);
	pthread_rwlock_unlock(&s->maplock);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "growing the map");
	return RAGDB_OK;
}

/* ------------------------------------------------------------------ */
/* transactions */

ragdb_status rdb_txn_begin(rdb_store *s, int write, rdb_txn **out, rdb_err *err)
{
	if (write && (s->flags & RDB_STORE_RDONLY))
		return rdb_err_set(err, RAGDB_EREADONLY, "%s was opened read-only; open it for writing "
		                   "to change it", s->dir);
	rdb_txn *t = calloc(1, sizeof *t);
	if (!t)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory starting a transaction");
	t->s = s;
	t->write = write;
	pthread_mutex_init(&t->lock, NULL);
	int rc, v1_needed = 0;
	ragdb_status st;
	for (int tries = 0;; tries++) {
		pthread_rwlock_rdlock(&s->maplock);
		rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
		if (rc == MDB_MAP_RESIZED && tries < 8) {
			/* Another process grew the map; adopt its size, alone. */
			pthread_rwlock_unlock(&s->maplock);
			pthread_rwlock_wrlock(&s->maplock);
			mdb_env_set_mapsize(s->env, 0);
			pthread_rwlock_unlock(&s->maplock);
			continue;
		}
		if (rc == 0 && (st = rdb_txn_vectors_select(t, &v1_needed, err))) {
			mdb_txn_abort(t->txn);
			pthread_rwlock_unlock(&s->maplock);
			goto out_free;
		}
		if (rc == 0 && v1_needed && tries < 8) {
			/* "vectors.1" appeared since this process opened the store:
			 * open it for good, then begin again so that this txn, begun
			 * after, can use the handle (vstage.c). */
			mdb_txn_abort(t->txn);
			st = rdb_vectors1_open(s, err);
			pthread_rwlock_unlock(&s->maplock);
			if (st)
				goto out_free;
			continue;
		}
		break;
	}
	if (rc) {
		pthread_rwlock_unlock(&s->maplock);
		st = rdb_mdb_fail(s, rc, err, "starting a transaction");
		goto out_free;
	}
	t->maplocked = 1;
	if (v1_needed) {
		mdb_txn_abort(t->txn);
		pthread_rwlock_unlock(&s->maplock);
		st = rdb_corrupt(s, err, "the vector blocks in \"vectors.1\" cannot be opened");
		goto out_free;
	}
	if ((write && ((st = rdb_counters_read(t, &t->c, err)) ||
	              (st = rdb_tune_model_check(t, err))))) {
		mdb_txn_abort(t->txn);
		pthread_rwlock_unlock(&s->maplock);
		goto out_free;
	}
	*out = t;
	return RAGDB_OK;
out_free:
	pthread_mutex_destroy(&t->lock);
	free(t);
	return st;
}

static void txn_free(rdb_txn *t)
{
	rdb_tail_free(&t->tail);
	rdb_ft_txn_release(t->s, t->ft);
	rdb_ivf_txn_free(t->ivf);
	rdb_buf_free(&t->scratch);
	rdb_buf_free(&t->zbuf);
	for (size_t i = 0; i < t->n_copies; i++)
		free(t->copies[i]);
	free(t->copies);
	pthread_mutex_destroy(&t->lock);
	if (t->maplocked)
		pthread_rwlock_unlock(&t->s->maplock);
	free(t);
}

ragdb_status rdb_txn_commit(rdb_txn *t, rdb_err *err)
{
	ragdb_status st = RAGDB_OK;
	int rc;
	if (t->write) {
		if ((st = rdb_tail_flush(t, err)) || (st = rdb_ft_flush(t, err)) ||
		    (st = rdb_ivf_flush(t, err)))
			goto out_abort;
		if (t->c_dirty && (rc = counters_write(t))) {
			st = rdb_mdb_fail(t->s, rc, err, "writing the counters");
			goto out_abort;
		}
	}
	rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	if (rc)
		st = rdb_mdb_fail(t->s, rc, err, "committing");
	if (!rc && t->v1_opened)
		rdb_vectors1_adopt(t); /* its handle is the environment's now */
	if (!rc && t->vswitched)
		t->s->vgen = t->vgen;  /* the caller updates s->m to match */
	txn_free(t);
	return st;
out_abort:
	rdb_txn_abort(t);
	return st;
}

void rdb_txn_abort(rdb_txn *t)
{
	if (!t)
		return;
	if (t->txn)
		mdb_txn_abort(t->txn);
	txn_free(t);
}

rdb_store *rdb_txn_store(rdb_txn *t) { return t->s; }

uint64_t rdb_txn_snapshot(rdb_txn *t)
{
	return t && !t->write ? (uint64_t)mdb_txn_id(t->txn) : 0;
}

uint64_t rdb_txn_write_id(rdb_txn *t)
{
	return t && t->write ? (uint64_t)mdb_txn_id(t->txn) : 0;
}

/* ------------------------------------------------------------------ */
/* statistics */

ragdb_status rdb_store_stats_get(rdb_txn *t, rdb_store_stats *out, rdb_err *err)
{
	rdb_store *s = t->s;
	rdb_counters c;
	ragdb_status st;
	if (t->write)
		c = t->c;
	else if ((st = rdb_counters_read(t, &c, err)))
		return st;
	MDB_stat ms;
	int rc = mdb_stat(t->txn, t->vec, &ms);
	if (rc)
		return rdb_mdb_fail(s, rc, err, "reading the vector block count");
	MDB_envinfo info;
	if ((rc = mdb_env_info(s->env, &info)))
		return rdb_mdb_fail(s, rc, err, "reading the map size");
	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", s->dir);
	struct stat sb;
	if (stat(path, &sb) != 0)
		return rdb_err_set(err, RAGDB_EIO, "cannot stat %s: %s", path, strerror(errno));
	uint32_t staged;
	uint64_t qbytes;
	uint64_t vbytes;
	if ((st = rdb_qblocks_usage(t, &staged, &qbytes, err)) ||
	    (st = rdb_vstage_usage(t, &vbytes, err)))
		return st;
	rdb_store_stats r = {
		.quant = rdb_txn_quant(t), .staged_quant = staged, .quant_bytes = qbytes,
		.vstaged_bytes = vbytes, .schema = t->vsel ? RDB_SCHEMA_VECTORS1 : RDB_SCHEMA_VERSION,
		.documents = c.documents, .chunks = c.chunks,
		.vectors_live = c.vectors_live, .vectors_dead = c.vectors_dead,
		.blocks = ms.ms_entries + (t->tail.active && !t->tail.in_db ? 1 : 0),
		.text_bytes = c.text_bytes, .file_bytes = (uint64_t)sb.st_size,
		.map_bytes = info.me_mapsize,
	};
	*out = r;
	return RAGDB_OK;
}
