/*
 * engine/kernels/dispatch.c — choose the dot-product path once per process.
 *
 * A path runs only if the CPU has the instructions (cpuid) and the OS saves
 * the wider registers across context switches (XCR0 via xgetbv; a kernel or
 * hypervisor may disable AVX-512 state even when cpuid reports it).
 * RAGDB_KERNEL=scalar|avx2|avx512 forces a path for tests and benchmarks; an
 * unknown or unsupported value is reported on stderr and the best supported
 * path is used instead. The choice is the module's only global state,
 * written once under pthread_once.
 */
#include <cpuid.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/kernels/kernels.h"

/* XCR0 bits: SSE and AVX state; AVX-512 opmask, upper ZMM0-15, ZMM16-31. */
#define XCR0_AVX 0x6u
#define XCR0_AVX512 0xe6u

static uint64_t xcr0(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return 0;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

int rdb_kernel_supported(const char *name)
{
	if (!name)
		return 0;
	if (strcmp(name, "scalar") == 0)
		return 1;
	__builtin_cpu_init();
	if (strcmp(name, "avx2") == 0)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
		       (xcr0() & XCR0_AVX) == XCR0_AVX;
	if (strcmp(name, "avx512") == 0)
		/* The file is compiled with F, BW, DQ and VL, so the compiler may
		 * use any of them. */
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
		       __builtin_cpu_supports("fma") && (xcr0() & XCR0_AVX512) == XCR0_AVX512;
	return 0;
}

rdb_dot_fn rdb_kernel_by_name(const char *name)
{
	if (!rdb_kernel_supported(name))
		return NULL;
	if (strcmp(name, "avx512") == 0)
		return rdb_dot_avx512;
	if (strcmp(name, "avx2") == 0)
		return rdb_dot_avx2;
	return rdb_dot_scalar;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static rdb_dot_fn g_dot = rdb_dot_scalar;
static const char *g_name = "scalar";

static void choose(void)
{
	static const char *const best_first[] = {"avx512", "avx2", "scalar"};
	const char *want = getenv("RAGDB_KERNEL");
	if (want && *want) {
		if (rdb_kernel_supported(want)) {
			for (size_t i = 0; i < sizeof best_first / sizeof *best_first; i++)
				if (strcmp(want, best_first[i]) == 0)
					g_name = best_first[i];
			g_dot = rdb_kernel_by_name(g_name);
			return;
		}
		fprintf(stderr,
		        "ragdb: RAGDB_KERNEL=%s is not a kernel this CPU can run "
		        "(expected scalar, avx2 or avx512); using the best supported one\n",
		        want);
	}
	for (size_t i = 0; i < sizeof best_first / sizeof *best_first; i++) {
		if (rdb_kernel_supported(best_first[i])) {
			g_name = best_first[i];
			g_dot = rdb_kernel_by_name(g_name);
			return;
		}
	}
}

rdb_dot_fn rdb_kernel_dot(void)
{
	pthread_once(&g_once, choose);
	return g_dot;
}

const char *rdb_kernel_name(void)
{
	pthread_once(&g_once, choose);
	return g_name;
}

static pthread_once_t g_cores_once = PTHREAD_ONCE_INIT;
static int g_cores = 1;

static void count_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	/* A container or taskset may allow fewer cores than are online. */
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 &&
	    CPU_COUNT(&set) < n)
		n = CPU_COUNT(&set);
	g_cores = n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

int rdb_ncores(void)
{
	pthread_once(&g_cores_once, count_cores);
	return g_cores;
}
