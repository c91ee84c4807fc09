/*
 * tests/fuzz/fuzz_embed_response.c — the embeddings response parsers
 * (engine/providers/remote_embed.c through rdb_embed_parse_answer) of
 * OpenAI, Ollama, HuggingFace and Gemini. The first byte picks the
 * provider (bits 0-1), the number of texts asked for (bits 2-4: 1..8) and
 * the dimension expected (bits 5-7: learn it, or 1..7); the rest is the body.
 * Property: OK fills every one of the n rows with finite numbers of unit
 * length (or all zero), a learnt dimension is 1..65536; anything else
 * (wrong count, wrong dimension, non-numbers, duplicate or out-of-range
 * indexes) is RAGDB_EEMBEDDER with a message; no crash, leak or over-read.
 */
#include <math.h>

#include "engine/providers/parse_entry.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const rdb_provider provs[4] = { RDB_PROV_OPENAI, RDB_PROV_OLLAMA, RDB_PROV_HUGGINGFACE,
                                       RDB_PROV_GEMINI };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	rdb_provider p = provs[data[0] & 3];
	size_t n = 1 + ((data[0] >> 2) & 7);
	uint32_t want = (data[0] >> 5) & 7;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	rdb_err e = { 0 };
	uint32_t dim = want;
	float *out = NULL;
	if (want) {
		out = malloc(n * want * sizeof *out);
		if (!out)
			return 0;
		for (size_t i = 0; i < n * want; i++)
			out[i] = NAN; /* a row left unwritten stays NaN */
	}
	ragdb_status st = rdb_embed_parse_answer(p, body, len, n, &dim, out, &e);
	if (st == RAGDB_OK) {
		if (!want) {
			FZ_ASSERT(dim >= 1 && dim <= 65536);
		} else {
			FZ_ASSERT(dim == want);
			for (size_t r = 0; r < n; r++) {
				double ss = 0;
				for (uint32_t k = 0; k < dim; k++) {
					FZ_ASSERT(isfinite(out[r * dim + k]));
					ss += (double)out[r * dim + k] * out[r * dim + k];
				}
				FZ_ASSERT(ss == 0 || fabs(ss - 1) < 1e-3);
			}
		}
	} else {
		FZ_ASSERT(st == RAGDB_EEMBEDDER || st == RAGDB_ENOMEM);
		FZ_ASSERT(e.msg[0] != 0);
	}
	free(out);
	return 0;
}
