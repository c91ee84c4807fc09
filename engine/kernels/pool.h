/*
 * engine/kernels/pool.h — the kernels' persistent worker pool (internal).
 *
 * A parallel-for: rdb_pool_run(fn, ctx, n) calls fn(ctx, i) once for every
 * i < n, spread over the pool's threads and the calling thread, and returns
 * when all calls have returned. The threads are created on first use and
 * live until the process exits, so a small query pays no thread start.
 * Several callers may run jobs at once: the caller always works on its own
 * job too, so a job finishes even when every worker is busy elsewhere (or
 * no worker could be started), just with less parallelism.
 */
#ifndef RDB_KERNELS_POOL_H
#define RDB_KERNELS_POOL_H

#include <stddef.h>

/* Most parts a job may have (and most threads the pool will hold + 1). */
#define RDB_POOL_MAX 64

/* Run fn(ctx, 0 .. n-1); n <= RDB_POOL_MAX. Cannot fail: if threads cannot
 * be started the caller runs every part itself. */
void rdb_pool_run(void (*fn)(void *ctx, size_t part), void *ctx, size_t n);

#endif
