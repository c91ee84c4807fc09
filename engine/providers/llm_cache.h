/*
 * engine/providers/llm_cache.h — the language-model answer cache of this
 * process: LRU with a time to live and caps on entries and bytes.
 *
 * Keyed by a 128-bit hash of the exact request a model would be sent
 * (provider, endpoint, model and the JSON body built with streaming off:
 * system text, prompt, history, max_tokens, temperature), so any parameter
 * that changes the request changes the key. Thread-safe (one mutex).
 * Limits come from each call (ragdb.json "cache"): the latest call's caps
 * apply, and entries over them are evicted oldest-used first.
 *
 * remote_embed.c keeps query vectors in the same store (keys that start
 * with "embed"), so one set of limits bounds both.
 */
#ifndef RDB_LLM_CACHE_H
#define RDB_LLM_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct rdb_cache_opts {
	long ttl_s;          /* 0 = entries do not expire */
	size_t max_entries;  /* 0 = the cache is off */
	size_t max_bytes;    /* answer bytes held in all */
} rdb_cache_opts;

#define RDB_CACHE_DEFAULT_TTL_S 3600
#define RDB_CACHE_DEFAULT_ENTRIES 1000
#define RDB_CACHE_DEFAULT_BYTES (64u << 20)

typedef struct rdb_cache_key {
	uint64_t lo, hi;
} rdb_cache_key;

/* The key of @p n bytes at @p p (the parts are hashed in order, each
 * preceded by its length so "ab"+"c" differs from "a"+"bc"). */
rdb_cache_key rdb_llm_cache_key(const char *const *parts, size_t n);
/* The same with explicit lengths (parts need not be NUL-ended). */
rdb_cache_key rdb_llm_cache_key_n(const char *const *parts, const size_t *lens, size_t n);

/* Copy the cached answer for @p k into a malloc'ed *text (NUL-ended) and
 * *len, and its stop reason into @p stop (cap 32); 1 on a hit, 0 on a miss
 * or out of memory. An entry older than its TTL at @p now (seconds) is a
 * miss and is dropped. */
int rdb_llm_cache_get(rdb_cache_key k, int64_t now, char **text, size_t *len, char *stop);

/* Store an answer (copied), evicting least-recently-used entries to stay
 * within @p o. An answer larger than max_bytes is not stored. */
void rdb_llm_cache_put(rdb_cache_key k, const char *text, size_t len, const char *stop,
                       const rdb_cache_opts *o, int64_t now);
/* The same, in this process's memory only (never written to disk). */
void rdb_llm_cache_put_mem(rdb_cache_key k, const char *text, size_t len, const char *stop,
                           const rdb_cache_opts *o, int64_t now);

void rdb_llm_cache_size(size_t *entries, size_t *bytes);

/* The persistent second level (index/ecache.h): answers missed here are
 * looked up there (their stored TTL honoured) and every put is written
 * through, so a one-shot CLI run answers a repeated question from disk.
 * One per process: the last attached wins (the cache takes a reference);
 * handles attaching the same cache are counted, and the last detach of it
 * drops it. Query vectors (remote_embed.c) use
 * this level only when no persistent cache is attached to their embedder,
 * and are never written through. */
struct rdb_ecache;
void rdb_llm_cache_attach_disk(struct rdb_ecache *c);
void rdb_llm_cache_detach_disk(struct rdb_ecache *c);
void rdb_llm_cache_clear(void);

#endif
