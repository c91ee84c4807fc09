/*
 * index/viewcache.c — the last read snapshot's block listings, reused by
 * read txns of the same snapshot (see viewcache.h for why that is safe).
 */
#include <stdlib.h>

#include "index/store_int.h"
#include "index/viewcache.h"

void rdb_viewcache_init(rdb_viewcache *c)
{
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->lock, NULL);
}

void rdb_viewcache_free(rdb_viewcache *c)
{
	free(c->views);
	free(c->qviews);
	pthread_mutex_destroy(&c->lock);
}

/* The snapshot and map address of a read txn (0 for write txns). */
static uint64_t snapshot(rdb_txn *t, void **map)
{
	if (t->write)
		return 0;
	MDB_envinfo info;
	if (mdb_env_info(t->s->env, &info))
		return 0;
	*map = info.me_mapaddr;
	return (uint64_t)mdb_txn_id(t->txn);
}

static int same(const rdb_viewcache *c, uint64_t id, const void *map)
{
	return id && c->txnid == id && c->map == map;
}

int rdb_viewcache_blocks(rdb_txn *t, rdb_block_view **out, size_t *n)
{
	rdb_viewcache *c = &t->s->vcache;
	void *map = NULL;
	uint64_t id = snapshot(t, &map);
	if (!id)
		return 0;
	int hit = 0;
	pthread_mutex_lock(&c->lock);
	if (same(c, id, map)) {
		rdb_block_view *v = malloc((c->n ? c->n : 1) * sizeof *v);
		if (v) {
			memcpy(v, c->views, c->n * sizeof *v);
			*out = v;
			*n = c->n;
			hit = 1;
		} else {
			hit = -1;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void rdb_viewcache_put_blocks(rdb_txn *t, const rdb_block_view *views, size_t n)
{
	rdb_viewcache *c = &t->s->vcache;
	void *map = NULL;
	uint64_t id = snapshot(t, &map);
	if (!id)
		return;
	rdb_block_view *v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return; /* a cache: without memory, simply nothing is kept */
	memcpy(v, views, n * sizeof *v);
	pthread_mutex_lock(&c->lock);
	free(c->views);
	free(c->qviews);
	c->views = v;
	c->n = n;
	c->qviews = NULL;
	c->qkind = 0;
	c->txnid = id;
	c->map = map;
	pthread_mutex_unlock(&c->lock);
}

int rdb_viewcache_qblocks(rdb_txn *t, uint32_t kind, size_t n, rdb_qview **out)
{
	rdb_viewcache *c = &t->s->vcache;
	void *map = NULL;
	uint64_t id = snapshot(t, &map);
	if (!id)
		return 0;
	int hit = 0;
	pthread_mutex_lock(&c->lock);
	if (same(c, id, map) && c->qviews && c->qkind == kind && c->n == n) {
		rdb_qview *q = malloc((n ? n : 1) * sizeof *q);
		if (q) {
			memcpy(q, c->qviews, n * sizeof *q);
			*out = q;
			hit = 1;
		} else {
			hit = -1;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void rdb_viewcache_put_qblocks(rdb_txn *t, uint32_t kind, const rdb_qview *qv, size_t n)
{
	rdb_viewcache *c = &t->s->vcache;
	void *map = NULL;
	uint64_t id = snapshot(t, &map);
	if (!id)
		return;
	rdb_qview *q = malloc((n ? n : 1) * sizeof *q);
	if (!q)
		return;
	memcpy(q, qv, n * sizeof *q);
	pthread_mutex_lock(&c->lock);
	/* Only alongside the block listing it is parallel to. */
	if (same(c, id, map) && c->n == n) {
		free(c->qviews);
		c->qviews = q;
		c->qkind = kind;
		q = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	free(q);
}
