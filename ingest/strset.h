/* ingest/strset.h — a set of strings (open addressing on XXH3), for the ids
 * and paths one ingest has seen. Values are copied in. */
#ifndef RDB_STRSET_H
#define RDB_STRSET_H

#include <stddef.h>

typedef struct rdb_strset {
	char **slots;
	const char **vals;   /* an optional string stored with each key */
	size_t cap, n;
} rdb_strset;

void rdb_strset_free(rdb_strset *s);
/* Add @p key with @p val (may be NULL; copied). Returns 1 if added, 0 if the
 * key was there (*old_val, if non-NULL, gets its value), -1 on no memory. */
int rdb_strset_add(rdb_strset *s, const char *key, const char *val, const char **old_val);
int rdb_strset_has(const rdb_strset *s, const char *key);

#endif
