/*
 * tools/cli/ivf_hint.c — the note an ingest or import prints when it leaves
 * a knowledge base large enough that exact searches get slow, naming what
 * would make them cheaper (an IVF index, or int8 blocks for the local
 * embedder), so users find it when they need it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* From 512 MiB of vectors (~175,000 at the local embedder's dimension) an
 * exact search takes ~0.1 s on 2 cores, so an ingest that leaves that much
 * unindexed says what would make searches cheaper. RAGDB_IVF_HINT_BYTES
 * moves the threshold (tests). With the local embedder that is int8
 * blocks, not an IVF index: its hashed vectors have little cluster
 * structure, and on the man pages a text query needed half of 128 lists
 * probed to find 0.95 of its exact top 10 (docs/search.md), where int8
 * reads a quarter of the bytes and still returns the exact top k. */
#define IVF_HINT_BYTES ((uint64_t)512 << 20)

void cli_ivf_hint(ragdb *db)
{
	const char *env = getenv("RAGDB_IVF_HINT_BYTES");
	uint64_t min_bytes = env && *env ? strtoull(env, NULL, 10) : IVF_HINT_BYTES;
	ragdb_stats s;
	ragdb_index_stats ix;
	if (ragdb_get_stats(db, &s) != RAGDB_OK)
		return;
	uint64_t bytes = s.vectors_live * s.dim * sizeof(float);
	if (s.vectors_live < RAGDB_IVF_MIN_VECTORS || bytes < min_bytes ||
	    ragdb_index_stats_get(db, &ix) != RAGDB_ENOTFOUND)
		return;
	char b[32];
	cli_human_bytes(bytes, b, sizeof b);
	if (strcmp(s.embedder, "local") == 0) {
		const char *q = ragdb_quantization(db);
		if (q && strcmp(q, "f32") == 0)
			fprintf(stderr,
			        "note: %llu vectors (%s), so every vector or hybrid search reads all of "
			        "them; `ragdb quantize int8` makes it read a quarter of the bytes with the "
			        "same results (docs/cli.md, \"ragdb quantize\")\n",
			        (unsigned long long)s.vectors_live, b);
		return;
	}
	/* the power of two nearest sqrt(vectors), docs/search.md's rule of thumb */
	uint32_t nlist = 1;
	while ((uint64_t)nlist * nlist * 2 < s.vectors_live)
		nlist <<= 1;
	fprintf(stderr,
	        "note: %llu vectors (%s) and no IVF index, so every vector or hybrid search reads all "
	        "of them; `ragdb index build --ivf %u` lets them read a few lists instead, at a "
	        "recall@10 tuned to 0.95 on held-out vectors (docs/search.md, \"IVF index\")\n",
	        (unsigned long long)s.vectors_live, b, nlist);
}
