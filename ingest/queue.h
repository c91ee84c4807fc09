/*
 * ingest/queue.h — a bounded multi-producer, multi-consumer queue of
 * pointers between the pipeline's stages. Bounded by item count and by the
 * bytes the items hold (as their producers weigh them), so a fast reader
 * cannot hold a whole corpus in memory while the embedder catches up, and a
 * queue long enough to keep the workers busy through a commit stays small
 * when the documents are large.
 */
#ifndef RDB_QUEUE_H
#define RDB_QUEUE_H

#include <pthread.h>
#include <stddef.h>

typedef struct rdb_queue {
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full;
	void **items;
	size_t *weights;
	size_t cap, head, n;
	size_t max_weight, weight; /* bytes allowed and held */
	int producers;   /* producers still running; 0 and empty = end */
} rdb_queue;

/* At most @p cap items and @p max_weight bytes. 0 on success, -1 when
 * memory runs out. */
int rdb_queue_init(rdb_queue *q, size_t cap, size_t max_weight, int producers);
void rdb_queue_destroy(rdb_queue *q);
/* Blocks while the queue holds cap items, or while adding @p weight bytes
 * would pass max_weight; an empty queue takes any one item, however heavy,
 * so nothing waits forever. */
void rdb_queue_push(rdb_queue *q, void *item, size_t weight);
/* Blocks while empty and producers remain; NULL at the end of the stream. */
void *rdb_queue_pop(rdb_queue *q);
/* A producer is done. */
void rdb_queue_close(rdb_queue *q);

#endif
