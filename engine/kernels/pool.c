/*
 * engine/kernels/pool.c — persistent worker pool behind rdb_pool_run().
 *
 * Invariants (all fields under g_pool.mu):
 *   1. queue holds the jobs that still have unclaimed parts, oldest first;
 *      a job leaves the queue when its last part is claimed, not when it is
 *      done.
 *   2. job->claimed <= job->n and job->done <= job->claimed; the job is
 *      finished when done == n, and only then may its owner (whose stack
 *      holds it) return.
 *   3. Workers are only ever added (up to RDB_POOL_MAX - 1), never joined:
 *      they sleep on `work` while the queue is empty.
 */
#include "engine/kernels/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

typedef struct rdb_job {
	void (*fn)(void *ctx, size_t part);
	void *ctx;
	size_t n, claimed, done;
	struct rdb_job *next;
} rdb_job;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work;  /* the queue became non-empty */
	pthread_cond_t done;  /* some job finished */
	rdb_job *head, *tail;
	size_t workers;
	int start_failed;     /* stop trying after the first failure */
} g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
            NULL, NULL, 0, 0};

/* Claim the next part of the queue's head job; called with mu held. */
static rdb_job *claim(size_t *part)
{
	rdb_job *j = g_pool.head;
	if (!j)
		return NULL;
	*part = j->claimed++;
	if (j->claimed == j->n) {
		g_pool.head = j->next;
		if (!g_pool.head)
			g_pool.tail = NULL;
	}
	return j;
}

/* Run one claimed part and record it; called and returns with mu held. */
static void run_part(rdb_job *j, size_t part)
{
	pthread_mutex_unlock(&g_pool.mu);
	j->fn(j->ctx, part);
	pthread_mutex_lock(&g_pool.mu);
	if (++j->done == j->n)
		pthread_cond_broadcast(&g_pool.done);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_pool.mu);
	for (;;) {
		size_t part;
		rdb_job *j = claim(&part);
		if (!j) {
			pthread_cond_wait(&g_pool.work, &g_pool.mu);
			continue;
		}
		run_part(j, part);
	}
	return NULL;
}

/* Start workers until there are @p want; called with mu held. */
static void grow(size_t want)
{
	if (want > RDB_POOL_MAX - 1)
		want = RDB_POOL_MAX - 1;
	while (g_pool.workers < want && !g_pool.start_failed) {
		pthread_attr_t attr;
		pthread_t th;
		/* Workers must not take the process's asynchronous signals (Ctrl-C
		 * handling lives in the main thread); faults stay deliverable so a
		 * crash in a worker is reported as usual. */
		sigset_t block, old;
		sigfillset(&block);
		static const int sync_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
		for (size_t i = 0; i < sizeof sync_sigs / sizeof *sync_sigs; i++)
			sigdelset(&block, sync_sigs[i]);
		pthread_sigmask(SIG_SETMASK, &block, &old);
		int rc = pthread_attr_init(&attr);
		if (rc == 0) {
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			rc = pthread_create(&th, &attr, worker, NULL);
			pthread_attr_destroy(&attr);
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0) {
			/* Benign: the callers do the work themselves. */
			g_pool.start_failed = 1;
			break;
		}
		g_pool.workers++;
	}
}

void rdb_pool_run(void (*fn)(void *ctx, size_t part), void *ctx, size_t n)
{
	if (n == 0)
		return;
	if (n == 1) {
		fn(ctx, 0);
		return;
	}
	rdb_job job = {fn, ctx, n, 0, 0, NULL};
	pthread_mutex_lock(&g_pool.mu);
	grow(n - 1);
	if (g_pool.tail)
		g_pool.tail->next = &job;
	else
		g_pool.head = &job;
	g_pool.tail = &job;
	pthread_cond_broadcast(&g_pool.work);
	/* Work on our own job (never on others': that could make a small
	 * query wait behind a big one). */
	while (job.claimed < job.n) {
		size_t part = job.claimed++;
		if (job.claimed == job.n) {
			/* Unlink: it may sit anywhere in the queue. */
			rdb_job **pp = &g_pool.head;
			rdb_job *prev = NULL;
			while (*pp != &job) {
				prev = *pp;
				pp = &(*pp)->next;
			}
			*pp = job.next;
			if (g_pool.tail == &job)
				g_pool.tail = prev;
		}
		run_part(&job, part);
	}
	while (job.done < job.n)
		pthread_cond_wait(&g_pool.done, &g_pool.mu);
	pthread_mutex_unlock(&g_pool.mu);
}
