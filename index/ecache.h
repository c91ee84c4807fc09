/*
 * index/ecache.h — the persistent cache environment: embedding vectors and
 * language-model answers kept on disk between processes.
 *
 * A separate LMDB environment from the knowledge base's, by design: nothing
 * written here can damage stored documents, and it is opened read-write
 * even by a process that holds the knowledge base read-only (ragdb query).
 * It lives in DIR/cache/ by default; several knowledge bases may share one
 * (RAGDB_CACHE_DIR or ragdb.json "cache": {"dir": ...}).
 *
 * Entries are keyed by a 128-bit hash the caller computes (the embedder's
 * identity and the exact text; the model request for answers). Every value
 * carries its size and an XXH3-64 checksum: an entry that fails them is a
 * miss (and is overwritten by the next put), never a wrong answer.
 *
 * The cache is best effort: a full map, a failed write or a damaged
 * environment never fails the caller; it just stops caching (and evicts the
 * least recently used entries when the size cap is reached).
 *
 * Thread-safe; one environment per directory per process (a registry shares
 * it between handles, as LMDB requires).
 */
#ifndef RDB_ECACHE_H
#define RDB_ECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"

typedef struct rdb_ecache rdb_ecache;

typedef struct rdb_ekey {
	uint64_t lo, hi;
} rdb_ekey;

#define RDB_ECACHE_DEFAULT_BYTES ((uint64_t)1 << 30)
#define RDB_ECACHE_MIN_BYTES ((uint64_t)1 << 20)

/* Open (creating it) the cache environment in @p dir, capped at
 * @p max_bytes of entries (values, keys, records; 0 = the default). A directory already open
 * in this process is shared (the first opener's cap holds). */
ragdb_status rdb_ecache_open(const char *dir, uint64_t max_bytes, rdb_ecache **out, rdb_err *err);
/* Another reference to @p c (close each). */
rdb_ecache *rdb_ecache_ref(rdb_ecache *c);
void rdb_ecache_close(rdb_ecache *c); /* accepts NULL */
const char *rdb_ecache_dir(const rdb_ecache *c);

/* Look up @p n vectors of @p dim floats: hit[i] = 1 and row i of @p out
 * filled for each found; returns the number of hits. Hits are marked
 * recently used. */
size_t rdb_ecache_get_vecs(rdb_ecache *c, const rdb_ekey *keys, size_t n, uint32_t dim,
                           float *out, uint8_t *hit);
/* Store the rows i of @p vecs with (!skip || !skip[i]) in one write txn. */
void rdb_ecache_put_vecs(rdb_ecache *c, const rdb_ekey *keys, size_t n, uint32_t dim,
                         const float *vecs, const uint8_t *skip);

/* An answer blob: *data malloc'd (NUL-ended), 1 on a hit. An entry older
 * than the ttl it was stored with (at @p now, seconds) is a miss. */
int rdb_ecache_get_blob(rdb_ecache *c, rdb_ekey k, int64_t now, char **data, size_t *len);
void rdb_ecache_put_blob(rdb_ecache *c, rdb_ekey k, const void *data, size_t len, long ttl_s,
                         int64_t now);

typedef struct rdb_ecache_stats {
	uint64_t hits, misses;   /* vector lookups by this process */
	uint64_t entries;        /* vectors and answers stored */
	uint64_t bytes;          /* entry bytes charged against the cap */
	uint64_t max_bytes;
	uint64_t evicted;        /* entries evicted by this process */
} rdb_ecache_stats;
void rdb_ecache_stats_get(rdb_ecache *c, rdb_ecache_stats *out);

/* Evict least-recently-used entries until at most @p target entry bytes
 * are charged (tests; puts do it themselves past the cap). */
void rdb_ecache_evict_to(rdb_ecache *c, uint64_t target);

/* Verify every entry of the cache in @p dir (sizes, checksums, the LRU
 * index), calling @p report for each bad one; with @p repair, drop them.
 * A directory with no cache is fine (0 entries). */
ragdb_status rdb_ecache_verify(const char *dir, int repair,
                               void (*report)(void *ctx, const char *problem), void *ctx,
                               uint64_t *entries, uint64_t *bad, rdb_err *err);

/* The cache directory for a knowledge base in @p kb_dir: $RAGDB_CACHE_DIR,
 * else @p cfg_dir (ragdb.json), else KB/cache. 0, or -1 if too long. */
int rdb_ecache_path(const char *kb_dir, const char *cfg_dir, char *out, size_t cap);

#endif
