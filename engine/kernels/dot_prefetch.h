/*
 * engine/kernels/dot_prefetch.h — how far ahead the SIMD dot kernels
 * prefetch (internal).
 *
 * The binary kernels walk one row at a time; on row r they prefetch the
 * row rdb_prefetch_rows_bytes(row bytes) rows later. The AVX2 bf16 and
 * int8 kernels walk rows whole too, and prefetch RDB_PREFETCH_STREAM_BYTES
 * ahead of each line they load (0.75-6 KB measured on a Zen 3 EPYC: 1.5-3
 * KB best, within noise of each other); the AVX2 f32 kernel prefetches
 * only one line per row, twice that distance ahead (dot_avx2.c).
 * The AVX-512 f32, bf16 and int8 kernels walk sixteen rows column by
 * column and prefetch the same line of the next group
 * (rdb_prefetch_group_bytes) into L2 (prefetcht1): at 1M x 384 on 2
 * threads, from the map, that beat prefetcht0 by 3-7% for each of the
 * three (queries interleaved between variants in one process, 3 rounds);
 * twice or four times the distance, or NTA, were slower.
 * The hardware prefetcher alone left a single core at ~15 GB/s from DRAM;
 * prefetching at least ~3 KB ahead gave ~18-19 GB/s (1.5 GB of vectors,
 * dims 100, 384, 768, Xeon with AVX-512, 2 vCPUs under KVM). Prefetches past
 * the end of the data are harmless: they never fault.
 */
#ifndef RDB_KERNELS_DOT_PREFETCH_H
#define RDB_KERNELS_DOT_PREFETCH_H

#include <stddef.h>

/* Rows ahead for rows of @p bytes (the binary kernels): ~3 KB. */
static inline size_t rdb_prefetch_rows_bytes(size_t bytes)
{
	if (bytes == 0 || bytes >= 768)
		return 4;
	size_t rows = (3072 + bytes - 1) / bytes;
	return rows > 64 ? 64 : rows;
}

/* For the kernels that walk rows whole: bytes ahead of each load. */
#define RDB_PREFETCH_STREAM_BYTES 3072

/* For the 16-row kernels, which walk a group of rows column by column: the
 * same line of the next group, @p group_bytes ahead (at least 4 KB). */
static inline size_t rdb_prefetch_group_bytes(size_t group_bytes)
{
	return group_bytes < 4096 ? 4096 : group_bytes;
}

#endif
