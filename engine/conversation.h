/*
 * engine/conversation.h — the conversation side of ragdb_query (conversation.c):
 * gather the history (stored turns of a conversation and the caller's),
 * rewrite a follow-up into a standalone search query, fit the history into
 * the model's context window (older turns summarised), and store the
 * question and answer afterwards. docs/conversations.md describes the rules.
 */
#ifndef RDB_ENGINE_CONVERSATION_H
#define RDB_ENGINE_CONVERSATION_H

#include "engine/internal.h"

/* The history as the prompt gets it, all owned. */
typedef struct rdb_chat {
	ragdb_message *turns;   /* the recent turns kept whole, oldest first */
	size_t n_turns;
	char *summary;          /* of the older turns that did not fit; NULL = none */
	char *search_query;     /* the standalone query retrieval uses */
	size_t n_history;       /* turns before trimming (stored + caller's) */
} rdb_chat;

/* Build @p c for @p question: load the stored turns of o->conversation_id,
 * then o->history; rewrite (with @p model, or the heuristic when @p model
 * is NULL or its rewrite fails); trim to the budget of @p model's context
 * window. */
ragdb_status rdb_chat_prepare(ragdb *db, const ragdb_query_options *o, const char *question,
                              const char *model, rdb_chat *c, rdb_err *e);
void rdb_chat_clear(rdb_chat *c);

/* The heuristic rewrite (exposed for tests through ragdb_query): when
 * @p question is a follow-up (pronoun-led or at most 2 content words), the
 * key terms of @p previous not already in it are appended. malloc'd. */
char *rdb_chat_rewrite_heuristic(const char *question, const char *previous);

/* Append the question and @p a to conversation @p id in one write txn. */
ragdb_status rdb_chat_store(ragdb *db, const char *id, const char *question,
                            const char *search_query, const ragdb_answer *a, rdb_err *e);

#endif
