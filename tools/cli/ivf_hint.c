/*
 * tools/cli/ivf_hint.c — the note an ingest or import prints when it leaves
 * a knowledge base large enough that exact searches get slow and no IVF
 * index to avoid that, so users find `ragdb index build` when they need it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

/* From 512 MiB of vectors (~175,000 at the local embedder's dimension) an
 * exact search takes ~0.1 s on 2 cores, so an ingest that leaves that much
 * and no IVF index says how to get one. RAGDB_IVF_HINT_BYTES moves the
 * threshold (tests). */
#define IVF_HINT_BYTES ((uint64_t)512 << 20)

void cli_ivf_hint(ragdb *db)
{
	const char *env = getenv("RAGDB_IVF_HINT_BYTES");
	uint64_t min_bytes = env && *env ? strtoull(env, NULL, 10) : IVF_HINT_BYTES;
	ragdb_stats s;
	ragdb_index_stats ix;
	if (ragdb_get_stats(db, &s) != RAGDB_OK || s.vectors_live < RAGDB_IVF_MIN_VECTORS ||
	    s.vectors_live * s.dim * sizeof(float) < min_bytes ||
	    ragdb_index_stats_get(db, &ix) != RAGDB_ENOTFOUND)
		return;
	/* the power of two nearest sqrt(vectors), docs/search.md's rule of thumb */
	uint32_t nlist = 1;
	while ((uint64_t)nlist * nlist * 2 < s.vectors_live)
		nlist <<= 1;
	char b[32];
	fprintf(stderr,
	        "note: %llu vectors (%s) and no IVF index, so every vector or hybrid search reads all "
	        "of them; `ragdb index build --ivf %u` lets them read a few lists instead, at a "
	        "recall@10 tuned to 0.95 (docs/search.md, \"IVF index\")\n",
	        (unsigned long long)s.vectors_live,
	        cli_human_bytes(s.vectors_live * s.dim * sizeof(float), b, sizeof b), nlist);
}
