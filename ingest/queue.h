/*
 * ingest/queue.h — a bounded multi-producer, multi-consumer queue of
 * pointers between the pipeline's stages. Bounded by item count so a fast
 * reader cannot hold a whole corpus in memory while the embedder catches up.
 */
#ifndef RDB_QUEUE_H
#define RDB_QUEUE_H

#include <pthread.h>
#include <stddef.h>

typedef struct rdb_queue {
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full;
	void **items;
	size_t cap, head, n;
	int producers;   /* producers still running; 0 and empty = end */
} rdb_queue;

/* 0 on success, -1 when memory runs out. */
int rdb_queue_init(rdb_queue *q, size_t cap, int producers);
void rdb_queue_destroy(rdb_queue *q);
/* Blocks while full. */
void rdb_queue_push(rdb_queue *q, void *item);
/* Blocks while empty and producers remain; NULL at the end of the stream. */
void *rdb_queue_pop(rdb_queue *q);
/* A producer is done. */
void rdb_queue_close(rdb_queue *q);

#endif
