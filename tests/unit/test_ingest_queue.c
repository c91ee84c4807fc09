/* tests/unit/test_ingest_queue.c — the pipeline's stage queue: bounded by
 * item count and by bytes, first in first out, never stuck on a heavy item,
 * and ended by its producers. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "ingest/queue.h"
#include "testutil.h"

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Items come out in the order they went in; NULL once the producers are
 * done and the queue is empty. */
START_TEST(test_fifo_and_end)
{
	rdb_queue q;
	ck_assert_int_eq(rdb_queue_init(&q, 4, 1000, 1), 0);
	for (int round = 0; round < 3; round++) { /* wraps around the ring */
		for (uintptr_t i = 1; i <= 3; i++)
			rdb_queue_push(&q, (void *)(i + 10 * round), 100);
		for (uintptr_t i = 1; i <= 3; i++)
			ck_assert_ptr_eq(rdb_queue_pop(&q), (void *)(i + 10 * round));
	}
	rdb_queue_push(&q, (void *)7, 1);
	rdb_queue_close(&q);
	ck_assert_ptr_eq(rdb_queue_pop(&q), (void *)7);
	ck_assert_ptr_null(rdb_queue_pop(&q));
	ck_assert_ptr_null(rdb_queue_pop(&q));
	rdb_queue_destroy(&q);
}
END_TEST

typedef struct pusher {
	rdb_queue *q;
	size_t weights[4];
	int n;
	volatile int *popped; /* how many pops the consumer had begun ... */
	int seen[4];          /* ... when each push returned */
} pusher;

static void *push_all(void *arg)
{
	pusher *p = arg;
	for (int i = 0; i < p->n; i++) {
		rdb_queue_push(p->q, (void *)(uintptr_t)(i + 1), p->weights[i]);
		p->seen[i] = __atomic_load_n(p->popped, __ATOMIC_SEQ_CST);
	}
	rdb_queue_close(p->q);
	return NULL;
}

/* Pop everything after a pause and return how many. *popped counts the pops
 * begun: it goes up before each pop, so a push that a pop unblocked always
 * sees it, while a push that did not wait sees 0 (the pause). */
static int drain(rdb_queue *q, volatile int *popped)
{
	int n = 0;
	pause_ms(100); /* let the producer fill the queue and block */
	for (;;) {
		__atomic_add_fetch(popped, 1, __ATOMIC_SEQ_CST);
		if (!rdb_queue_pop(q))
			return n;
		n++;
		pause_ms(20);
	}
}

/* A push that would pass the byte bound waits for a pop; so does one past
 * the item bound. */
START_TEST(test_bounds_block)
{
	rdb_queue q;
	volatile int popped = 0;
	/* bytes: 600 + 300 fit in 1000, the third (200) must wait for a pop */
	ck_assert_int_eq(rdb_queue_init(&q, 16, 1000, 1), 0);
	pusher p = { &q, { 600, 300, 200, 1 }, 4, &popped, { 0 } };
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, push_all, &p), 0);
	ck_assert_int_eq(drain(&q, &popped), 4);
	pthread_join(th, NULL);
	ck_assert_int_eq(p.seen[0], 0);
	ck_assert_int_eq(p.seen[1], 0);
	ck_assert_int_ge(p.seen[2], 1);
	rdb_queue_destroy(&q);

	/* items: two fit, the third waits */
	popped = 0;
	ck_assert_int_eq(rdb_queue_init(&q, 2, 1000, 1), 0);
	pusher c = { &q, { 0, 0, 0, 0 }, 4, &popped, { 0 } };
	ck_assert_int_eq(pthread_create(&th, NULL, push_all, &c), 0);
	ck_assert_int_eq(drain(&q, &popped), 4);
	pthread_join(th, NULL);
	ck_assert_int_eq(c.seen[0], 0);
	ck_assert_int_eq(c.seen[1], 0);
	ck_assert_int_ge(c.seen[2], 1);
	ck_assert_int_ge(c.seen[3], 2);
	rdb_queue_destroy(&q);
}
END_TEST

/* An item heavier than the whole bound goes into an empty queue (else it
 * would wait forever), and alone: the next push waits for it to leave. */
START_TEST(test_heavy_item_alone)
{
	rdb_queue q;
	volatile int popped = 0;
	ck_assert_int_eq(rdb_queue_init(&q, 16, 1000, 1), 0);
	pusher p = { &q, { 5000, 1, 1, 0 }, 3, &popped, { 0 } };
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, push_all, &p), 0);
	ck_assert_int_eq(drain(&q, &popped), 3);
	pthread_join(th, NULL);
	ck_assert_int_eq(p.seen[0], 0);
	ck_assert_int_ge(p.seen[1], 1);
	rdb_queue_destroy(&q);
	/* once it is out, the bound is whole again */
	ck_assert_int_eq(rdb_queue_init(&q, 16, 1000, 1), 0);
	rdb_queue_push(&q, (void *)1, 5000);
	ck_assert_ptr_eq(rdb_queue_pop(&q), (void *)1);
	rdb_queue_push(&q, (void *)2, 500);
	rdb_queue_push(&q, (void *)3, 500); /* 1000: fits exactly, returns at once */
	ck_assert_ptr_eq(rdb_queue_pop(&q), (void *)2);
	ck_assert_ptr_eq(rdb_queue_pop(&q), (void *)3);
	rdb_queue_destroy(&q);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ingest_queue");
	TCase *tc = tcase_create("queue");
	tcase_add_test(tc, test_fifo_and_end);
	tcase_add_test(tc, test_bounds_block);
	tcase_add_test(tc, test_heavy_item_alone);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
