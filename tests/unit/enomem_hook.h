/*
 * tests/unit/enomem_hook.h — the allocation-failure hook of the ENOMEM
 * tests (test_engine_enomem*.c), included by each (one hook per test
 * program): malloc, calloc, realloc, posix_memalign, aligned_alloc, strdup
 * and strndup are interposed; after arm(n) the n-th call counted
 * process-wide (atomics, so worker threads count) fails, and n_failed says
 * whether a run reached it; disarm() stops failing.
 */
#ifndef RDB_TEST_ENOMEM_HOOK_H
#define RDB_TEST_ENOMEM_HOOK_H

#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);

/* dlsym may allocate before the real functions are known: serve those
 * calls from a static arena that is never freed. */
static _Alignas(64) unsigned char boot[1 << 16];
static size_t boot_used;
static int resolving;

static atomic_long armed_target; /* 0: never fail; else fail call number N */
static atomic_long n_calls;       /* calls since arming */
static atomic_long n_failed;

static void resolve(void)
{
	if (real_free || resolving)
		return;
	resolving = 1;
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	resolving = 0;
}

static void *boot_alloc(size_t n)
{
	n = (n + 63) & ~(size_t)63;
	if (boot_used + n > sizeof boot)
		return NULL;
	void *p = boot + boot_used;
	boot_used += n;
	return p;
}

static int is_boot(const void *p)
{
	return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof boot;
}

static int inject(void)
{
	long t = atomic_load(&armed_target);
	if (!t)
		return 0;
	if (atomic_fetch_add(&n_calls, 1) + 1 != t)
		return 0;
	atomic_fetch_add(&n_failed, 1);
	return 1;
}

void *malloc(size_t n)
{
	resolve();
	if (!real_malloc)
		return boot_alloc(n);
	return inject() ? NULL : real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	resolve();
	if (!real_calloc) {
		if (b && a > SIZE_MAX / b)
			return NULL;
		return boot_alloc(a * b); /* static: already zero */
	}
	return inject() ? NULL : real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	resolve();
	if (is_boot(p)) {
		/* The old size is unknown: copy what can lie within the arena. */
		size_t room = (size_t)(boot + sizeof boot - (unsigned char *)p);
		void *q = malloc(n);
		if (q)
			memcpy(q, p, n < room ? n : room);
		return q;
	}
	return inject() ? NULL : real_realloc(p, n);
}

void free(void *p)
{
	if (!p || is_boot(p))
		return;
	resolve();
	real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	resolve();
	return inject() ? 12 /* ENOMEM */ : real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	resolve();
	return inject() ? NULL : real_aligned_alloc(align, n);
}

char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

char *strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

static void arm(long n)
{
	atomic_store(&n_calls, 0);
	atomic_store(&n_failed, 0);
	atomic_store(&armed_target, n);
}

static void disarm(void) { atomic_store(&armed_target, 0); }

#endif
