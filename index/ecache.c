/*
 * index/ecache.c — the persistent cache environment (see ecache.h).
 *
 * Layout: named databases in their own LMDB environment
 *   vec   16-byte key -> header + f32[dim]        (embedding vectors)
 *   llm   16-byte key -> header + answer bytes    (language-model answers)
 *   lru   kind byte + 16-byte key -> u64 stamp    (last use, a generation)
 *   meta  "gen" -> u64, the generation counter; "bytes" -> u64, E3
 * Header (32 bytes, little-endian): u32 magic, u32 kind, u32 n (dim, or
 * payload bytes), u32 ttl seconds, i64 stored-at seconds, u64 XXH3-64 of
 * the first 24 header bytes and the payload.
 *
 * Invariants:
 *   E1. Every entry of vec and llm has exactly one lru record, and every lru
 *       record names an entry (verify checks; repair restores).
 *   E2. A value is returned only when its size, kind, dimension and checksum
 *       all agree; anything else is a miss and is overwritten by the next put.
 *   E3. meta "bytes" is the sum of entry_cost() over the entries (repair
 *       recounts it); after a put commits it is at most max_bytes (the put
 *       evicts the oldest stamps first, down to 3/4 of the cap, in its txn).
 * The stamp of an entry is the generation at its last put or touch; every
 * put txn advances the generation, and a lookup re-stamps a hit only when
 * its stamp lags by more than TOUCH_SLACK generations, so repeated hits do
 * not each cost a write transaction.
 *
 * A child process after fork() never uses its parent's environment: it
 * opens its own (the registry matches the process id).
 *
 * Best effort: no function here fails its caller; a write that cannot be
 * made (map full twice, an I/O error) is dropped.
 */
#include "index/ecache.h"

#include <errno.h>
#include <lmdb.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define EC_MAGIC 0x45424452u /* "RDBE" */
#define EC_HDR 32u
#define EC_VEC 1u
#define EC_BLOB 2u
#define EC_MAX_BLOB ((size_t)64 << 20)
#define TOUCH_SLACK 64u

struct rdb_ecache {
	struct rdb_ecache *next;
	int refs;
	pid_t pid; /* the process that opened it: LMDB environments do not cross fork() */
	char *dir;
	MDB_env *env;
	MDB_dbi vec, llm, lru, meta;
	uint64_t max_bytes;
	uint64_t hits, misses, evicted; /* atomic adds */
};

static pthread_mutex_t g_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static rdb_ecache *g_reg;

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		char c = buf[i];
		buf[i] = 0;
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		buf[i] = c;
	}
	return 0;
}

int rdb_ecache_path(const char *kb_dir, const char *cfg_dir, char *out, size_t cap)
{
	const char *env = getenv("RAGDB_CACHE_DIR");
	int n;
	if (env && *env)
		n = snprintf(out, cap, "%s", env);
	else if (cfg_dir && *cfg_dir)
		n = snprintf(out, cap, "%s", cfg_dir);
	else
		n = snprintf(out, cap, "%s/cache", kb_dir ? kb_dir : ".");
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void key_bytes(rdb_ekey k, uint8_t out[16])
{
	memcpy(out, &k.lo, 8);
	memcpy(out + 8, &k.hi, 8);
}

static uint64_t value_sum(const uint8_t *hdr, const void *payload, size_t len)
{
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, hdr, 24);
	XXH3_64bits_update(&st, payload, len);
	return XXH3_64bits_digest(&st);
}

static void hdr_fill(uint8_t *h, uint32_t kind, uint32_t n, uint32_t ttl, int64_t at,
                     const void *payload, size_t len)
{
	uint32_t magic = EC_MAGIC;
	memcpy(h, &magic, 4);
	memcpy(h + 4, &kind, 4);
	memcpy(h + 8, &n, 4);
	memcpy(h + 12, &ttl, 4);
	memcpy(h + 16, &at, 8);
	uint64_t sum = value_sum(h, payload, len);
	memcpy(h + 24, &sum, 8);
}

/* Why value @p v is not a valid entry of @p kind, or NULL when it is. */
static const char *value_bad(const MDB_val *v, uint32_t kind)
{
	const uint8_t *p = v->mv_data;
	uint32_t magic, k, n;
	uint64_t sum;
	if (v->mv_size < EC_HDR)
		return "shorter than its header";
	memcpy(&magic, p, 4);
	memcpy(&k, p + 4, 4);
	memcpy(&n, p + 8, 4);
	memcpy(&sum, p + 24, 8);
	if (magic != EC_MAGIC || k != kind)
		return "wrong magic or kind";
	size_t want = kind == EC_VEC ? (size_t)n * 4 : (size_t)n;
	if (v->mv_size - EC_HDR != want)
		return "its size does not match its header";
	if (value_sum(p, p + EC_HDR, want) != sum)
		return "checksum mismatch";
	return NULL;
}

static uint64_t ld64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint64_t gen_get(rdb_ecache *c, MDB_txn *txn)
{
	MDB_val k = {3, (void *)"gen"}, v;
	if (mdb_get(txn, c->meta, &k, &v) == 0 && v.mv_size == 8)
		return ld64(v.mv_data);
	return 0;
}

static int gen_put(rdb_ecache *c, MDB_txn *txn, uint64_t g)
{
	MDB_val k = {3, (void *)"gen"}, v = {8, &g};
	return mdb_put(txn, c->meta, &k, &v, 0);
}

static int lru_put(rdb_ecache *c, MDB_txn *txn, uint32_t kind, const uint8_t key[16], uint64_t g)
{
	uint8_t lk[17];
	lk[0] = (uint8_t)kind;
	memcpy(lk + 1, key, 16);
	MDB_val k = {17, lk}, v = {8, &g};
	return mdb_put(txn, c->lru, &k, &v, 0);
}

static uint64_t lru_stamp(rdb_ecache *c, MDB_txn *txn, uint32_t kind, const uint8_t key[16])
{
	uint8_t lk[17];
	lk[0] = (uint8_t)kind;
	memcpy(lk + 1, key, 16);
	MDB_val k = {17, lk}, v;
	if (mdb_get(txn, c->lru, &k, &v) == 0 && v.mv_size == 8)
		return ld64(v.mv_data);
	return 0;
}

/* What an entry of @p vsize value bytes is charged against the cap: its
 * value, its key and its lru record with LMDB's node headers. */
static uint64_t entry_cost(size_t vsize)
{
	return (uint64_t)vsize + 96;
}

/* Bytes of entries stored (meta "bytes"), as @p txn sees them. Charged per
 * entry rather than measured in pages: deleting entries scattered over
 * leaf pages frees few pages until LMDB merges them, so a page count would
 * not fall after an eviction and the next put would evict again. */
static uint64_t used_bytes(rdb_ecache *c, MDB_txn *txn)
{
	MDB_val k = {5, (void *)"bytes"}, v;
	if (mdb_get(txn, c->meta, &k, &v) == 0 && v.mv_size == 8)
		return ld64(v.mv_data);
	return 0;
}

static int used_add(rdb_ecache *c, MDB_txn *txn, int64_t delta)
{
	uint64_t u = used_bytes(c, txn);
	u = delta < 0 && (uint64_t)-delta > u ? 0 : u + (uint64_t)delta;
	MDB_val k = {5, (void *)"bytes"}, v = {8, &u};
	return mdb_put(txn, c->meta, &k, &v, 0);
}

typedef struct lru_rec {
	uint64_t stamp;
	uint8_t key[17];
} lru_rec;

static int lru_cmp(const void *a, const void *b)
{
	const lru_rec *x = a, *y = b;
	return x->stamp < y->stamp ? -1 : x->stamp > y->stamp;
}

/* Delete the oldest entries in @p txn until about @p target bytes are in
 * use. 0 or an LMDB error. */
static int evict_in(rdb_ecache *c, MDB_txn *txn, uint64_t target)
{
	uint64_t used = used_bytes(c, txn);
	if (used <= target)
		return 0;
	MDB_stat ls;
	int rc = mdb_stat(txn, c->lru, &ls);
	if (rc)
		return rc;
	size_t cap = ls.ms_entries, n = 0;
	if (cap == 0)
		return 0;
	lru_rec *recs = malloc(cap * sizeof *recs);
	if (!recs)
		return ENOMEM;
	MDB_cursor *cur;
	if ((rc = mdb_cursor_open(txn, c->lru, &cur))) {
		free(recs);
		return rc;
	}
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < cap;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 17)
			continue;
		recs[n].stamp = v.mv_size == 8 ? ld64(v.mv_data) : 0;
		memcpy(recs[n].key, k.mv_data, 17);
		n++;
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND) {
		free(recs);
		return rc;
	}
	qsort(recs, n, sizeof *recs, lru_cmp);
	uint64_t need = used - target, freed = 0;
	rc = 0;
	for (size_t i = 0; i < n && freed < need; i++) {
		MDB_dbi dbi = recs[i].key[0] == EC_VEC ? c->vec : c->llm;
		MDB_val ek = {16, recs[i].key + 1}, ev;
		int found = mdb_get(txn, dbi, &ek, &ev) == 0;
		size_t sz = found ? ev.mv_size : 0;
		int r = mdb_del(txn, dbi, &ek, NULL);
		if (r && r != MDB_NOTFOUND) {
			rc = r;
			break;
		}
		MDB_val lk = {17, recs[i].key};
		if ((r = mdb_del(txn, c->lru, &lk, NULL)) && r != MDB_NOTFOUND) {
			rc = r;
			break;
		}
		if (found) {
			freed += entry_cost(sz);
			__atomic_fetch_add(&c->evicted, 1, __ATOMIC_RELAXED);
		}
	}
	free(recs);
	if (!rc)
		rc = used_add(c, txn, -(int64_t)freed);
	return rc;
}

void rdb_ecache_evict_to(rdb_ecache *c, uint64_t target)
{
	if (!c)
		return;
	MDB_txn *txn;
	if (mdb_txn_begin(c->env, NULL, 0, &txn))
		return;
	if (evict_in(c, txn, target))
		mdb_txn_abort(txn);
	else
		mdb_txn_commit(txn);
}

static void env_free(rdb_ecache *c)
{
	if (!c)
		return;
	if (c->env) {
		mdb_env_sync(c->env, 1);
		mdb_env_close(c->env);
	}
	free(c->dir);
	free(c);
}

static int env_open(rdb_ecache *c)
{
	int rc = mdb_env_create(&c->env);
	if (rc)
		return rc;
	/* Four times the cap: the cap counts entry bytes, pages may be half
	 * full, and copy-on-write needs room for new pages while readers keep
	 * old ones. Address space only: the file grows with what is stored. */
	uint64_t map = c->max_bytes * 4 + ((uint64_t)64 << 20);
	if ((rc = mdb_env_set_maxdbs(c->env, 8)) || (rc = mdb_env_set_mapsize(c->env, map)) ||
	    (rc = mdb_env_set_maxreaders(c->env, 512)))
		return rc;
	/* NOSYNC, synced once at close: a commit per embedding call with an
	 * fsync each cost a bulk ingest of 3,000 one-chunk records 6.1 s
	 * instead of 4.2 s (no cache); without the fsync, 4.6 s. A killed
	 * process loses nothing (the pages are in the OS); a system crash
	 * during a run may lose recent entries or, where the filesystem
	 * reorders writes, damage the cache: entries carry checksums, check
	 * reports it, and the directory can be deleted. */
	if ((rc = mdb_env_open(c->env, c->dir, MDB_NOTLS | MDB_NOSYNC, 0644)))
		return rc;
	MDB_txn *txn;
	if ((rc = mdb_txn_begin(c->env, NULL, 0, &txn)))
		return rc;
	if ((rc = mdb_dbi_open(txn, "vec", MDB_CREATE, &c->vec)) ||
	    (rc = mdb_dbi_open(txn, "llm", MDB_CREATE, &c->llm)) ||
	    (rc = mdb_dbi_open(txn, "lru", MDB_CREATE, &c->lru)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &c->meta))) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

ragdb_status rdb_ecache_open(const char *dir, uint64_t max_bytes, rdb_ecache **out, rdb_err *err)
{
	if (!dir || !*dir)
		return rdb_err_set(err, RAGDB_EINVAL, "no cache directory given");
	if (max_bytes == 0)
		max_bytes = RDB_ECACHE_DEFAULT_BYTES;
	if (max_bytes < RDB_ECACHE_MIN_BYTES)
		max_bytes = RDB_ECACHE_MIN_BYTES;
	if (max_bytes > ((uint64_t)1 << 44))
		max_bytes = (uint64_t)1 << 44;
	if (mkdir_p(dir) != 0)
		return rdb_err_set(err, errno == EACCES ? RAGDB_EPERM : RAGDB_EIO,
		                   "cannot create the cache directory %s: %s", dir, strerror(errno));
	char real[PATH_MAX];
	if (!realpath(dir, real))
		return rdb_err_set(err, RAGDB_EIO, "cache directory %s: %s", dir, strerror(errno));
	ragdb_status st = RAGDB_OK;
	pthread_mutex_lock(&g_reg_mu);
	rdb_ecache *c;
	for (c = g_reg; c; c = c->next)
		if (c->pid == getpid() && strcmp(c->dir, real) == 0)
			break;
	if (c) {
		c->refs++;
		*out = c;
		goto out_unlock;
	}
	c = calloc(1, sizeof *c);
	if (!c || !(c->dir = strdup(real))) {
		free(c);
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory opening the cache");
		goto out_unlock;
	}
	c->max_bytes = max_bytes;
	c->refs = 1;
	c->pid = getpid();
	int rc = env_open(c);
	if (rc) {
		st = rdb_err_set(err, rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH
		                      ? RAGDB_ECORRUPT : RAGDB_EIO,
		                 "cannot open the cache in %s: %s; it holds only cached vectors and "
		                 "answers, so it may be deleted",
		                 real, mdb_strerror(rc));
		env_free(c);
		goto out_unlock;
	}
	c->next = g_reg;
	g_reg = c;
	*out = c;
out_unlock:
	pthread_mutex_unlock(&g_reg_mu);
	return st;
}

rdb_ecache *rdb_ecache_ref(rdb_ecache *c)
{
	if (!c)
		return NULL;
	pthread_mutex_lock(&g_reg_mu);
	c->refs++;
	pthread_mutex_unlock(&g_reg_mu);
	return c;
}

void rdb_ecache_close(rdb_ecache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&g_reg_mu);
	int last = --c->refs == 0;
	if (last) {
		for (rdb_ecache **pp = &g_reg; *pp; pp = &(*pp)->next)
			if (*pp == c) {
				*pp = c->next;
				break;
			}
	}
	pthread_mutex_unlock(&g_reg_mu);
	/* An environment inherited through fork() is left alone: its parent
	 * still uses it. */
	if (last && c->pid == getpid())
		env_free(c);
}

const char *rdb_ecache_dir(const rdb_ecache *c)
{
	return c ? c->dir : "";
}

/* Re-stamp the @p n keys of @p kind flagged in @p touch with the current
 * generation, in one write txn. */
static void touch(rdb_ecache *c, uint32_t kind, const rdb_ekey *keys, size_t n,
                  const uint8_t *flag)
{
	MDB_txn *txn;
	if (mdb_txn_begin(c->env, NULL, 0, &txn))
		return;
	uint64_t g = gen_get(c, txn);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (!flag[i])
			continue;
		uint8_t kb[16];
		key_bytes(keys[i], kb);
		rc = lru_put(c, txn, kind, kb, g);
	}
	if (rc)
		mdb_txn_abort(txn);
	else
		mdb_txn_commit(txn);
}

size_t rdb_ecache_get_vecs(rdb_ecache *c, const rdb_ekey *keys, size_t n, uint32_t dim,
                           float *out, uint8_t *hit)
{
	size_t hits = 0, stale = 0;
	memset(hit, 0, n);
	if (!c || n == 0)
		return 0;
	uint8_t *old = calloc(n, 1);
	MDB_txn *txn;
	if (!old || mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn)) {
		free(old);
		__atomic_fetch_add(&c->misses, n, __ATOMIC_RELAXED);
		return 0;
	}
	uint64_t g = gen_get(c, txn);
	for (size_t i = 0; i < n; i++) {
		uint8_t kb[16];
		key_bytes(keys[i], kb);
		MDB_val k = {16, kb}, v;
		if (mdb_get(txn, c->vec, &k, &v) || value_bad(&v, EC_VEC))
			continue;
		uint32_t vd;
		memcpy(&vd, (const uint8_t *)v.mv_data + 8, 4);
		if (vd != dim)
			continue;
		memcpy(out + i * (size_t)dim, (const uint8_t *)v.mv_data + EC_HDR, (size_t)dim * 4);
		hit[i] = 1;
		hits++;
		if (lru_stamp(c, txn, EC_VEC, kb) + TOUCH_SLACK < g) {
			old[i] = 1;
			stale++;
		}
	}
	mdb_txn_abort(txn);
	if (stale)
		touch(c, EC_VEC, keys, n, old);
	free(old);
	__atomic_fetch_add(&c->hits, hits, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->misses, n - hits, __ATOMIC_RELAXED);
	return hits;
}

/* One put attempt: 0, or the LMDB error (the txn is then aborted). */
static int put_txn(rdb_ecache *c, uint32_t kind, const rdb_ekey *keys, size_t n, uint32_t dim,
                   const void *data, size_t blob_len, long ttl_s, int64_t now,
                   const uint8_t *skip)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
	if (rc)
		return rc;
	uint64_t g = gen_get(c, txn);
	MDB_dbi dbi = kind == EC_VEC ? c->vec : c->llm;
	size_t plen = kind == EC_VEC ? (size_t)dim * 4 : blob_len;
	for (size_t i = 0; i < n && !rc; i++) {
		if (skip && skip[i])
			continue;
		const uint8_t *payload = kind == EC_VEC ? (const uint8_t *)data + i * plen : data;
		uint8_t kb[16];
		key_bytes(keys[i], kb);
		MDB_val k = {16, kb}, v = {EC_HDR + plen, NULL}, ov;
		int64_t delta = (int64_t)entry_cost(EC_HDR + plen);
		if (mdb_get(txn, dbi, &k, &ov) == 0)
			delta -= (int64_t)entry_cost(ov.mv_size); /* overwritten */
		if ((rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE)) || (rc = used_add(c, txn, delta)))
			break;
		uint8_t *p = v.mv_data;
		memcpy(p + EC_HDR, payload, plen);
		hdr_fill(p, kind, kind == EC_VEC ? dim : (uint32_t)plen,
		         ttl_s > 0 ? (uint32_t)(ttl_s > UINT32_MAX ? UINT32_MAX : ttl_s) : 0, now,
		         payload, plen);
		rc = lru_put(c, txn, kind, kb, g);
	}
	if (!rc)
		rc = gen_put(c, txn, g + 1);
	if (!rc && used_bytes(c, txn) > c->max_bytes)
		rc = evict_in(c, txn, c->max_bytes / 4 * 3);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

static void put_any(rdb_ecache *c, uint32_t kind, const rdb_ekey *keys, size_t n, uint32_t dim,
                    const void *data, size_t blob_len, long ttl_s, int64_t now,
                    const uint8_t *skip)
{
	int rc = put_txn(c, kind, keys, n, dim, data, blob_len, ttl_s, now, skip);
	if (rc == MDB_MAP_FULL) {
		/* Freed pages are reusable only once no reader holds them: make
		 * plenty of room, then try once more; else the entries are lost. */
		rdb_ecache_evict_to(c, c->max_bytes / 2);
		put_txn(c, kind, keys, n, dim, data, blob_len, ttl_s, now, skip);
	}
}

void rdb_ecache_put_vecs(rdb_ecache *c, const rdb_ekey *keys, size_t n, uint32_t dim,
                         const float *vecs, const uint8_t *skip)
{
	if (!c || n == 0 || dim == 0 || (uint64_t)dim * 4 * 4 > c->max_bytes)
		return;
	put_any(c, EC_VEC, keys, n, dim, vecs, 0, 0, 0, skip);
}

int rdb_ecache_get_blob(rdb_ecache *c, rdb_ekey key, int64_t now, char **data, size_t *len)
{
	if (!c)
		return 0;
	MDB_txn *txn;
	if (mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn))
		return 0;
	int hit = 0, stale = 0;
	uint8_t kb[16];
	key_bytes(key, kb);
	MDB_val k = {16, kb}, v;
	if (mdb_get(txn, c->llm, &k, &v) == 0 && !value_bad(&v, EC_BLOB)) {
		const uint8_t *p = v.mv_data;
		uint32_t ttl;
		int64_t at;
		memcpy(&ttl, p + 12, 4);
		memcpy(&at, p + 16, 8);
		size_t n = v.mv_size - EC_HDR;
		if (ttl == 0 || now - at < (int64_t)ttl) {
			char *t = malloc(n + 1);
			if (t) {
				memcpy(t, p + EC_HDR, n);
				t[n] = 0;
				*data = t;
				*len = n;
				hit = 1;
				stale = lru_stamp(c, txn, EC_BLOB, kb) + TOUCH_SLACK < gen_get(c, txn);
			}
		}
	}
	mdb_txn_abort(txn);
	if (stale) {
		uint8_t one = 1;
		touch(c, EC_BLOB, &key, 1, &one);
	}
	return hit;
}

void rdb_ecache_put_blob(rdb_ecache *c, rdb_ekey k, const void *data, size_t len, long ttl_s,
                         int64_t now)
{
	if (!c || len > EC_MAX_BLOB || (uint64_t)len * 4 > c->max_bytes)
		return;
	put_any(c, EC_BLOB, &k, 1, 0, data, len, ttl_s, now, NULL);
}

void rdb_ecache_stats_get(rdb_ecache *c, rdb_ecache_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!c)
		return;
	out->hits = __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
	out->misses = __atomic_load_n(&c->misses, __ATOMIC_RELAXED);
	out->evicted = __atomic_load_n(&c->evicted, __ATOMIC_RELAXED);
	out->max_bytes = c->max_bytes;
	MDB_txn *txn;
	if (mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn))
		return;
	MDB_stat s;
	if (mdb_stat(txn, c->vec, &s) == 0)
		out->entries += s.ms_entries;
	if (mdb_stat(txn, c->llm, &s) == 0)
		out->entries += s.ms_entries;
	out->bytes = used_bytes(c, txn);
	mdb_txn_abort(txn);
}

typedef struct bad_key {
	uint8_t key[17]; /* kind byte + key */
	int lru_only;    /* an lru record without an entry */
} bad_key;

/* Collect the bad entries of one database (and entries without an lru
 * record, which are given one on repair). */
static int scan_db(rdb_ecache *c, MDB_txn *txn, uint32_t kind, bad_key **bad, size_t *nbad,
                   size_t *cap, uint64_t *entries, uint64_t *good_bytes,
                   void (*report)(void *, const char *), void *ctx)
{
	MDB_dbi dbi = kind == EC_VEC ? c->vec : c->llm;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc)
		return rc;
	MDB_val k, v;
	char msg[256];
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		(*entries)++;
		const char *why = k.mv_size != 16 ? "its key is not 16 bytes" : value_bad(&v, kind);
		if (!why && lru_stamp(c, txn, kind, k.mv_data) == 0) {
			uint8_t lk[17];
			lk[0] = (uint8_t)kind;
			memcpy(lk + 1, k.mv_data, 16);
			MDB_val lkv = {17, lk}, lv;
			if (mdb_get(txn, c->lru, &lkv, &lv) != 0)
				why = "it has no last-use record";
		}
		if (!why) {
			*good_bytes += entry_cost(v.mv_size);
			continue;
		}
		uint64_t lo = 0;
		if (k.mv_size >= 8)
			memcpy(&lo, k.mv_data, 8);
		snprintf(msg, sizeof msg, "cache %s: %s entry %016llx...: %s", c->dir,
		         kind == EC_VEC ? "vector" : "answer", (unsigned long long)lo, why);
		if (report)
			report(ctx, msg);
		if (*nbad == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			bad_key *nb = realloc(*bad, nc * sizeof *nb);
			if (!nb) {
				rc = ENOMEM;
				break;
			}
			*bad = nb;
			*cap = nc;
		}
		bad_key *b = &(*bad)[(*nbad)++];
		memset(b, 0, sizeof *b);
		b->key[0] = (uint8_t)kind;
		memcpy(b->key + 1, k.mv_data, k.mv_size < 16 ? k.mv_size : 16);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

ragdb_status rdb_ecache_verify(const char *dir, int repair,
                               void (*report)(void *ctx, const char *problem), void *ctx,
                               uint64_t *entries, uint64_t *bad, rdb_err *err)
{
	char path[PATH_MAX];
	struct stat sb;
	if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path || stat(path, &sb) != 0) {
		*entries = 0;
		*bad = 0;
		return RAGDB_OK; /* no cache there */
	}
	rdb_ecache *c = NULL;
	ragdb_status st = rdb_ecache_open(dir, 0, &c, err);
	if (st != RAGDB_OK)
		return st;
	bad_key *bk = NULL;
	size_t nbad = 0, cap = 0;
	uint64_t n = 0, good = 0;
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(c->env, NULL, repair ? 0 : MDB_RDONLY, &txn);
	if (!rc)
		rc = scan_db(c, txn, EC_VEC, &bk, &nbad, &cap, &n, &good, report, ctx);
	if (!rc)
		rc = scan_db(c, txn, EC_BLOB, &bk, &nbad, &cap, &n, &good, report, ctx);
	/* lru records whose entry is gone. */
	MDB_cursor *cur = NULL;
	if (!rc && !(rc = mdb_cursor_open(txn, c->lru, &cur))) {
		MDB_val k, v;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			const uint8_t *p = k.mv_data;
			MDB_val ek = {16, (void *)(p + 1)}, ev;
			int orphan = k.mv_size != 17 || v.mv_size != 8 || (p[0] != EC_VEC && p[0] != EC_BLOB) ||
			             mdb_get(txn, p[0] == EC_VEC ? c->vec : c->llm, &ek, &ev) != 0;
			if (!orphan)
				continue;
			char msg[256];
			snprintf(msg, sizeof msg, "cache %s: a last-use record names no entry", c->dir);
			if (report)
				report(ctx, msg);
			if (nbad == cap) {
				size_t nc = cap ? cap * 2 : 16;
				bad_key *nb = realloc(bk, nc * sizeof *nb);
				if (!nb) {
					rc = ENOMEM;
					break;
				}
				bk = nb;
				cap = nc;
			}
			memset(&bk[nbad], 0, sizeof bk[nbad]);
			memcpy(bk[nbad].key, p, k.mv_size < 17 ? k.mv_size : 17);
			bk[nbad++].lru_only = 1;
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (!rc && repair) {
		for (size_t i = 0; i < nbad && !rc; i++) {
			MDB_val lk = {17, bk[i].key};
			if (!bk[i].lru_only) {
				MDB_val ek = {16, bk[i].key + 1};
				rc = mdb_del(txn, bk[i].key[0] == EC_VEC ? c->vec : c->llm, &ek, NULL);
				if (rc == MDB_NOTFOUND)
					rc = 0;
			}
			if (!rc && (rc = mdb_del(txn, c->lru, &lk, NULL)) == MDB_NOTFOUND)
				rc = 0;
		}
		if (!rc) {
			/* The charge is recounted from what is left. */
			MDB_val bk2 = {5, (void *)"bytes"}, bv = {8, &good};
			rc = mdb_put(txn, c->meta, &bk2, &bv, 0);
		}
		if (!rc) {
			rc = mdb_txn_commit(txn);
			txn = NULL;
		}
	}
	mdb_txn_abort(txn);
	if (rc)
		st = rdb_err_set(err, rc == ENOMEM ? RAGDB_ENOMEM : rc == MDB_CORRUPTED ? RAGDB_ECORRUPT : RAGDB_EIO,
		                 "verifying the cache in %s: %s; it holds only cached vectors and answers, "
		                 "so it may be deleted", c->dir, mdb_strerror(rc));
	else {
		*entries = n;
		*bad = nbad;
	}
	free(bk);
	rdb_ecache_close(c);
	return st;
}
