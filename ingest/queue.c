/* ingest/queue.c — the bounded pointer queue between pipeline stages. */
#include "ingest/queue.h"

#include <stdlib.h>

int rdb_queue_init(rdb_queue *q, size_t cap, size_t max_weight, int producers)
{
	q->items = malloc(cap * sizeof *q->items);
	q->weights = malloc(cap * sizeof *q->weights);
	if (!q->items || !q->weights) {
		free(q->items);
		free(q->weights);
		q->items = NULL;
		q->weights = NULL;
		return -1;
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	q->cap = cap;
	q->head = q->n = 0;
	q->max_weight = max_weight;
	q->weight = 0;
	q->producers = producers;
	return 0;
}

void rdb_queue_destroy(rdb_queue *q)
{
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->not_empty);
	pthread_cond_destroy(&q->not_full);
	free(q->items);
	free(q->weights);
	q->items = NULL;
	q->weights = NULL;
}

void rdb_queue_push(rdb_queue *q, void *item, size_t weight)
{
	pthread_mutex_lock(&q->mu);
	while (q->n == q->cap || (q->n > 0 && weight > q->max_weight - q->weight))
		pthread_cond_wait(&q->not_full, &q->mu);
	size_t at = (q->head + q->n) % q->cap;
	q->items[at] = item;
	q->weights[at] = weight;
	q->n++;
	/* A single item may pass max_weight (weight saturates at the cap). */
	q->weight = weight > q->max_weight - q->weight ? q->max_weight : q->weight + weight;
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
		size_t w = q->weights[q->head];
		q->head = (q->head + 1) % q->cap;
		q->n--;
		q->weight = q->n == 0 || w > q->weight ? 0 : q->weight - w;
		/* The room freed may fit more than one waiting producer. */
		pthread_cond_broadcast(&q->not_full);
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
