/*
 * engine/providers/parse_entry.h — the response parsers of llm.c and
 * remote_embed.c without a transfer, for the fuzz targets
 * (tests/fuzz/fuzz_llm_response.c, fuzz_embed_response.c). The library
 * itself reaches them only through rdb_llm_complete and the embedders.
 */
#ifndef RDB_PARSE_ENTRY_H
#define RDB_PARSE_ENTRY_H

#include "engine/providers/config.h"
#include "engine/providers/llm.h"

/* Parse @p body as model @p m's answer: whole (@p stream 0), or as its
 * stream (SSE, or NDJSON for Ollama) handed over in pieces ending at the
 * ascending offsets @p cuts. @p out is written only on success (free with
 * rdb_llm_result_clear); errors are rdb_llm_complete's. */
ragdb_status rdb_llm_parse_answer(const rdb_model_cfg *m, const char *body, size_t len, int stream,
                                  const size_t *cuts, size_t n_cuts, rdb_llm_result *out,
                                  rdb_err *err);

/* Parse @p body as provider @p p's embeddings response for @p n texts into
 * @p out (n rows of *dim floats, L2-normalised); *dim 0 learns the
 * dimension (out unused). RAGDB_EEMBEDDER with a message when malformed. */
ragdb_status rdb_embed_parse_answer(rdb_provider p, const char *body, size_t len, size_t n,
                                    uint32_t *dim, float *out, rdb_err *err);

#endif
