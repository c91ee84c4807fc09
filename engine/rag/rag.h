/*
 * engine/rag/rag.h — the query layer after retrieval: merge neighbouring
 * chunks into passages, fit a token budget, number the sources, and answer
 * (the built-in extractive answerer; the providers issue adds language
 * models behind the prompt built here).
 */
#ifndef RDB_RAG_H
#define RDB_RAG_H

#include <stddef.h>
#include <stdint.h>

#include "index/err.h"
#include "engine/providers/embedder.h"

/* A retrieved chunk, as the search layer hands it over (best first). */
typedef struct rdb_hit_in {
	uint64_t doc;          /* internal doc number: chunks of one doc share it */
	uint32_t ordinal;      /* chunk ordinal in its document */
	uint64_t start, end;   /* byte range in the document */
	const char *text;
	size_t text_len;
	float score;
	const void *user;      /* the caller's pointer for this hit (its doc info) */
} rdb_hit_in;

/* A numbered source: one or more chunks of one document merged. */
typedef struct rdb_passage {
	uint32_t n;            /* 1-based source number, in order of best score */
	uint64_t doc;
	uint64_t start, end;
	char *text;            /* merged text, malloc'd, NUL-ended */
	size_t text_len;
	float score;           /* best score of its chunks */
	const void *user;      /* user pointer of its best chunk */
} rdb_passage;

/* Merge hits of one document whose byte ranges touch or overlap (adjacent
 * chunks, including the overlap the chunker repeats) into one passage,
 * keep passages in order of best score, and stop before the total estimated
 * tokens exceed @p token_budget (the first passage is always kept, cut at
 * a sentence boundary if it alone exceeds the budget). *out malloc'd. */
ragdb_status rdb_context_build(const rdb_hit_in *hits, size_t n, uint32_t token_budget,
                               rdb_passage **out, size_t *n_out, rdb_err *err);
void rdb_passages_free(rdb_passage *p, size_t n);

/* The built-in answerer: split the passages into sentences, score each
 * against the question (embedding similarity plus query-word overlap), and
 * return the best @p max_sentences in passage order, each followed by its
 * [n] marker, after the line "Extractive answer (no language model is
 * configured): the most relevant passages, quoted." When no passage is
 * given, the answer says that nothing relevant was found. *answer is
 * malloc'd. */
ragdb_status rdb_extractive_answer(rdb_embedder *e, const char *question,
                                   const rdb_passage *p, size_t n, uint32_t max_sentences,
                                   char **answer, rdb_err *err);

/* The prompt for a language model: instructions, the numbered sources
 * (each delimited, marked as data and not instructions), the question.
 * malloc'd. */
char *rdb_prompt_build(const char *question, const rdb_passage *p, size_t n,
                       const char *const *titles);

/* The same with a conversation before the question: @p summary (may be
 * NULL) of older turns, then @p turns (oldest first; role "user" or
 * "assistant"), each in a delimited <turn role="..."> block whose tags are
 * defused inside like the sources'. The instructions say that the prior
 * turns give context for the question, and that facts come from the
 * sources. malloc'd. */
char *rdb_prompt_build_chat(const char *question, const rdb_passage *p, size_t n,
                            const char *const *titles, const char *summary,
                            const ragdb_message *turns, size_t n_turns);

#endif
