/* ingest/queue.c — the bounded pointer queue between pipeline stages. */
#include "ingest/queue.h"

#include <stdlib.h>

int rdb_queue_init(rdb_queue *q, size_t cap, int producers)
{
	q->items = malloc(cap * sizeof *q->items);
	if (!q->items)
		return -1;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	q->cap = cap;
	q->head = q->n = 0;
	q->producers = producers;
	return 0;
}

void rdb_queue_destroy(rdb_queue *q)
{
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->not_empty);
	pthread_cond_destroy(&q->not_full);
	free(q->items);
	q->items = NULL;
}

void rdb_queue_push(rdb_queue *q, void *item)
{
	pthread_mutex_lock(&q->mu);
	while (q->n == q->cap)
		pthread_cond_wait(&q->not_full, &q->mu);
	q->items[(q->head + q->n) % q->cap] = item;
	q->n++;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->mu);
}

void *rdb_queue_pop(rdb_queue *q)
{
	pthread_mutex_lock(&q->mu);
	while (q->n == 0 && q->producers > 0)
		pthread_cond_wait(&q->not_empty, &q->mu);
	void *item = NULL;
	if (q->n > 0) {
		item = q->items[q->head];
		q->head = (q->head + 1) % q->cap;
		q->n--;
		pthread_cond_signal(&q->not_full);
	}
	pthread_mutex_unlock(&q->mu);
	return item;
}

void rdb_queue_close(rdb_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->producers--;
	pthread_cond_broadcast(&q->not_empty);
	pthread_mutex_unlock(&q->mu);
}
