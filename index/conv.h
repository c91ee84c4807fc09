/*
 * index/conv.h — stored conversations: the `conversations` named database
 * (docs/ARCHITECTURE.md, "Conversations" has the byte-level encoding).
 *
 *   key  conversation id (1..255 bytes, no NUL) + '\0' + u32 BE turn number
 *   turn 0 is the conversation's head (title, times, turn count); turns
 *   1..n the user and assistant turns, oldest first.
 *
 * Invariants: a head exists exactly when turns do, and its n_turns equals
 * the number of turn records (rdb_conv_append and rdb_conv_delete write
 * both in one write txn). Conversations are independent of documents: a
 * deleted document leaves the sources recorded in old answers as they were.
 *
 * The database is created on first use (knowledge bases made before it
 * existed have none): rdb_conv_ready() opens it, outside any other
 * transaction of this process.
 */
#ifndef RDB_CONV_H
#define RDB_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "index/store.h"

#define RDB_CONV_MAX_ID 255
#define RDB_CONV_MAX_TURN_BYTES (16u << 20) /* one turn record */

enum { RDB_ROLE_USER = 0, RDB_ROLE_ASSISTANT = 1 };

/* A turn. Read back, strings point into the map and are valid until the
 * txn ends; every string is NUL-ended ("" when none). */
typedef struct rdb_conv_turn {
	uint32_t role;           /* RDB_ROLE_* */
	int64_t time_ms;         /* ms since the epoch */
	uint64_t input_tokens, output_tokens;
	const char *text;
	const char *model;       /* assistant: the model that answered */
	const char *query;       /* user: the standalone query retrieval used */
	const char *sources_json;/* assistant: JSON array of its sources */
} rdb_conv_turn;

typedef struct rdb_conv_head {
	const char *id;
	const char *title;       /* the first question, cut to 200 bytes */
	int64_t created_ms, updated_ms;
	uint32_t n_turns;
} rdb_conv_head;

/* Open the conversations database, creating it when @p create (needs a
 * writable store). RAGDB_ENOTFOUND when it does not exist and !create
 * (nothing was ever stored: callers treat it as empty). Idempotent and
 * thread-safe; must not run inside a transaction of this process. */
ragdb_status rdb_conv_ready(rdb_store *s, int create, rdb_err *err);

/* Append @p n turns to conversation @p id (created when new) in write txn
 * @p t; the head's title is set from the first user turn. */
ragdb_status rdb_conv_append(rdb_txn *t, const char *id, const rdb_conv_turn *turns, size_t n,
                             rdb_err *err);
/* The head of @p id; RAGDB_ENOTFOUND if there is no such conversation. */
ragdb_status rdb_conv_head_get(rdb_txn *t, const char *id, rdb_conv_head *out, rdb_err *err);
/* Visit the turns of @p id oldest first (cb returns non-zero to stop). */
ragdb_status rdb_conv_turns(rdb_txn *t, const char *id,
                            int (*cb)(void *ctx, uint32_t n, const rdb_conv_turn *turn), void *ctx,
                            rdb_err *err);
/* Visit every conversation head in id order. */
ragdb_status rdb_conv_iter(rdb_txn *t, int (*cb)(void *ctx, const rdb_conv_head *h), void *ctx,
                           rdb_err *err);
/* Delete conversation @p id; RAGDB_ENOTFOUND if there is none. */
ragdb_status rdb_conv_delete(rdb_txn *t, const char *id, rdb_err *err);

#endif
