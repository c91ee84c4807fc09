/*
 * engine/providers/llm_cache.c — the LRU answer cache (see llm_cache.h).
 *
 * Invariants: entries form one doubly-linked list, most recently used at
 * the head; g_entries and g_bytes are the list's length and the sum of its
 * answers' lengths, and after every put both are within the caps of that
 * put. Lookup is a scan of 128-bit keys: at the default 1000 entries that
 * is microseconds beside the model call it saves.
 */
#include "engine/providers/llm_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "index/ecache.h"

typedef struct centry {
	struct centry *prev, *next;
	rdb_cache_key k;
	int64_t at;     /* seconds, when stored */
	long ttl_s;
	char stop[32];
	size_t len;
	char *text;
} centry;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static centry *g_head, *g_tail;
static size_t g_entries, g_bytes;
static rdb_ecache *g_disk; /* under g_mu; a reference of its own */
static int g_disk_users;   /* handles attached to g_disk */

/* A disk entry: the stop reason (32 bytes) then the answer. */
#define DISK_STOP 32u

void rdb_llm_cache_attach_disk(rdb_ecache *c)
{
	rdb_ecache *ref = rdb_ecache_ref(c), *old = NULL;
	pthread_mutex_lock(&g_mu);
	if (g_disk == c && c) {
		g_disk_users++; /* another handle on the same cache */
		old = ref;      /* the global holds one reference already */
	} else {
		old = g_disk;
		g_disk = ref;
		g_disk_users = c ? 1 : 0;
	}
	pthread_mutex_unlock(&g_mu);
	rdb_ecache_close(old);
}

void rdb_llm_cache_detach_disk(rdb_ecache *c)
{
	rdb_ecache *old = NULL;
	pthread_mutex_lock(&g_mu);
	if (c && g_disk == c && --g_disk_users == 0) {
		old = g_disk;
		g_disk = NULL;
	}
	pthread_mutex_unlock(&g_mu);
	rdb_ecache_close(old);
}

/* The disk cache, referenced for the caller (close it), or NULL. */
static rdb_ecache *disk_get(void)
{
	pthread_mutex_lock(&g_mu);
	rdb_ecache *d = rdb_ecache_ref(g_disk);
	pthread_mutex_unlock(&g_mu);
	return d;
}

/* Query vectors (keys built from "embed" parts) stay in memory only. */
static int disk_hit(rdb_cache_key k, int64_t now, char **text, size_t *len, char *stop)
{
	rdb_ecache *d = disk_get();
	if (!d)
		return 0;
	char *blob = NULL;
	size_t bl = 0;
	rdb_ekey ek = {k.lo, k.hi};
	int hit = rdb_ecache_get_blob(d, ek, now, &blob, &bl) && bl >= DISK_STOP;
	if (hit) {
		memcpy(stop, blob, DISK_STOP);
		stop[DISK_STOP - 1] = 0;
		memmove(blob, blob + DISK_STOP, bl - DISK_STOP + 1);
		*text = blob;
		*len = bl - DISK_STOP;
	} else {
		free(blob);
	}
	rdb_ecache_close(d);
	return hit;
}

static void disk_put(rdb_cache_key k, const char *text, size_t len, const char *stop,
                     long ttl_s, int64_t now)
{
	rdb_ecache *d = disk_get();
	if (!d)
		return;
	char *blob = len <= SIZE_MAX - DISK_STOP ? calloc(1, len + DISK_STOP) : NULL;
	if (blob) {
		snprintf(blob, DISK_STOP, "%s", stop ? stop : "");
		memcpy(blob + DISK_STOP, text, len);
		rdb_ekey ek = {k.lo, k.hi};
		rdb_ecache_put_blob(d, ek, blob, len + DISK_STOP, ttl_s, now);
	}
	free(blob);
	rdb_ecache_close(d);
}

rdb_cache_key rdb_llm_cache_key(const char *const *parts, size_t n)
{
	size_t lens[8];
	if (n > 8)
		n = 8;
	for (size_t i = 0; i < n; i++)
		lens[i] = parts[i] ? strlen(parts[i]) : 0;
	return rdb_llm_cache_key_n(parts, lens, n);
}

rdb_cache_key rdb_llm_cache_key_n(const char *const *parts, const size_t *lens, size_t n)
{
	XXH3_state_t st;
	XXH3_128bits_reset(&st);
	for (size_t i = 0; i < n; i++) {
		const char *p = parts[i] ? parts[i] : "";
		uint64_t l = parts[i] ? lens[i] : 0;
		XXH3_128bits_update(&st, &l, sizeof l);
		XXH3_128bits_update(&st, p, l);
	}
	XXH128_hash_t h = XXH3_128bits_digest(&st);
	rdb_cache_key k = {h.low64, h.high64};
	return k;
}

static void unlink_e(centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		g_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		g_tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_head(centry *e)
{
	e->next = g_head;
	e->prev = NULL;
	if (g_head)
		g_head->prev = e;
	g_head = e;
	if (!g_tail)
		g_tail = e;
}

static void drop(centry *e)
{
	unlink_e(e);
	g_entries--;
	g_bytes -= e->len;
	free(e->text);
	free(e);
}

static centry *lookup(rdb_cache_key k)
{
	for (centry *e = g_head; e; e = e->next)
		if (e->k.lo == k.lo && e->k.hi == k.hi)
			return e;
	return NULL;
}

int rdb_llm_cache_get(rdb_cache_key k, int64_t now, char **text, size_t *len, char *stop)
{
	int hit = 0;
	pthread_mutex_lock(&g_mu);
	centry *e = lookup(k);
	if (e && e->ttl_s > 0 && now - e->at >= e->ttl_s) {
		drop(e);
		e = NULL;
	}
	if (e) {
		char *t = malloc(e->len + 1);
		if (t) {
			memcpy(t, e->text, e->len + 1);
			*text = t;
			*len = e->len;
			memcpy(stop, e->stop, sizeof e->stop);
			unlink_e(e);
			push_head(e);
			hit = 1;
		}
	}
	pthread_mutex_unlock(&g_mu);
	if (!hit)
		hit = disk_hit(k, now, text, len, stop);
	return hit;
}

void rdb_llm_cache_put_mem(rdb_cache_key k, const char *text, size_t len, const char *stop,
                           const rdb_cache_opts *o, int64_t now)
{
	if (!o || o->max_entries == 0 || len > o->max_bytes)
		return;
	centry *e = calloc(1, sizeof *e);
	char *t = malloc(len + 1);
	if (!e || !t) {
		free(e);
		free(t);
		return;
	}
	memcpy(t, text, len);
	t[len] = 0;
	e->k = k;
	e->at = now;
	e->ttl_s = o->ttl_s;
	e->text = t;
	e->len = len;
	snprintf(e->stop, sizeof e->stop, "%s", stop ? stop : "");
	pthread_mutex_lock(&g_mu);
	centry *old = lookup(k);
	if (old)
		drop(old);
	push_head(e);
	g_entries++;
	g_bytes += len;
	while (g_tail && (g_entries > o->max_entries || g_bytes > o->max_bytes))
		drop(g_tail);
	pthread_mutex_unlock(&g_mu);
}

void rdb_llm_cache_put(rdb_cache_key k, const char *text, size_t len, const char *stop,
                       const rdb_cache_opts *o, int64_t now)
{
	rdb_llm_cache_put_mem(k, text, len, stop, o, now);
	if (o && o->max_entries > 0 && len <= o->max_bytes)
		disk_put(k, text, len, stop, o->ttl_s, now);
}

void rdb_llm_cache_size(size_t *entries, size_t *bytes)
{
	pthread_mutex_lock(&g_mu);
	*entries = g_entries;
	*bytes = g_bytes;
	pthread_mutex_unlock(&g_mu);
}

void rdb_llm_cache_clear(void)
{
	pthread_mutex_lock(&g_mu);
	while (g_tail)
		drop(g_tail);
	pthread_mutex_unlock(&g_mu);
}
