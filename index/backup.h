/*
 * index/backup.h — hot copies of a store (ragdb backup) and putting a copy
 * back in place of a knowledge base (ragdb restore), without ever leaving a
 * half-written directory behind.
 */
#ifndef RDB_BACKUP_H
#define RDB_BACKUP_H

#include "index/err.h"
#include "index/store.h"

/* Copy @p s into the directory @p dir (absent or empty) with LMDB's
 * compacting copy, inside one read transaction, so writers and readers may
 * run meanwhile. The copy is written into a temporary directory next to
 * @p dir, synced, then renamed into place: @p dir holds a whole copy or is
 * as it was. @param[out] bytes the size of the copy; may be NULL. */
ragdb_status rdb_store_backup(rdb_store *s, const char *dir, uint64_t *bytes, rdb_err *err);

/* Stage a restore: check that @p target can take one (absent, empty, or any
 * knowledge base when @p force), then copy @p src into a new temporary
 * directory next to @p target; *stage_dir (malloc'd) names it. The caller
 * verifies the staged copy, then calls rdb_restore_commit or
 * rdb_restore_discard. */
ragdb_status rdb_restore_stage(rdb_store *src, const char *target, int force, char **stage_dir,
                               rdb_err *err);

/* Swap the staged copy in: refused with RAGDB_EBUSY while a process has
 * @p target open. The data file is replaced by one rename, so @p target
 * holds the old knowledge base or the restored one, never a mix. Removes
 * @p stage_dir. */
ragdb_status rdb_restore_commit(const char *stage_dir, const char *target, rdb_err *err);

/* Remove a staged copy (after a failed verification). Accepts NULL. */
void rdb_restore_discard(const char *stage_dir);

#endif
