/*
 * engine/agentic.h — agentic answering for ragdb_query (opts->agentic): the
 * language model may search the knowledge base with a tool before it
 * answers (agentic.c has the loop and its bounds).
 */
#ifndef RDB_ENGINE_AGENTIC_H
#define RDB_ENGINE_AGENTIC_H

#include "engine/internal.h"

#define RDB_AGENTIC_DEFAULT_CALLS 4
#define RDB_AGENTIC_MAX_CALLS 16
#define RDB_AGENTIC_MAX_SOURCES 64  /* sources in one answer, first retrieval included */
#define RDB_AGENTIC_MAX_K 20        /* chunks one tool search may ask for */

/* Answer @p prompt with language model @p model, offering it the
 * search_knowledge_base tool. a->sources holds the first retrieval's
 * sources (numbered 1..n_sources, in order); the sources the tool finds
 * are appended with the next numbers. Fills a->answer, model, tokens and
 * cost (summed over every call), tool_calls, and adds the new sources'
 * tokens to context_tokens. */
ragdb_status rdb_agentic_answer(ragdb *db, const char *model, const char *prompt,
                                const ragdb_query_options *o, ragdb_answer *a, rdb_err *e);

#endif
