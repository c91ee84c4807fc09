/*
 * engine/providers/stopwords.h — a small built-in list of English function
 * words ("the", "of", "and"...), shared by the local embedder (which gives
 * them a low weight) and the extractive answerer (which ignores them when it
 * counts query words in a sentence).
 */
#ifndef RDB_STOPWORDS_H
#define RDB_STOPWORDS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the normalised (case-folded) word @p w of @p len bytes is a
 * stopword. Thread-safe; cannot fail. */
bool rdb_stopword(const char *w, size_t len);

#endif
