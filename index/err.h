/*
 * index/err.h — the error record every internal call fills on failure.
 *
 * Internal functions return a ragdb_status and, on failure, write a message
 * into an rdb_err that says what was expected, what was found and what to do.
 * The public handle copies it out for ragdb_errmsg(). Lowest layer: anything
 * in the tree may include it.
 */
#ifndef RDB_ERR_H
#define RDB_ERR_H

#include "ragdb.h"

typedef struct rdb_err {
	ragdb_status status;
	char msg[1024];
} rdb_err;

/* Set @p err (may be NULL) and return @p status, so callers can write
 * `return rdb_err_set(err, RAGDB_EINVAL, "...", ...);`. */
ragdb_status rdb_err_set(rdb_err *err, ragdb_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the message already in @p err with more context ("file x: ..."). */
void rdb_err_prefix(rdb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void rdb_err_clear(rdb_err *err) { if (err) { err->status = RAGDB_OK; err->msg[0] = 0; } }

#endif
