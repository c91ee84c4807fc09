/*
 * engine/backup_api.c — ragdb_backup and ragdb_restore: hot copies of a
 * knowledge base, and putting a verified copy back (index/backup.c does the
 * files; this adds the handle's locking, messages and the check of both the
 * backup and the staged copy before anything is swapped in).
 */
#include <stdlib.h>

#include "engine/internal.h"
#include "index/backup.h"

ragdb_status ragdb_backup(ragdb *db, const char *dir, uint64_t *bytes)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (!dir || !*dir)
		return rdb_failf(db, RAGDB_EINVAL, "ragdb_backup: no destination directory given");
	rdb_err e = {0};
	uint64_t n = 0;
	/* No write lock: the copy runs in its own read transaction, and this
	 * handle's writers go on committing meanwhile. */
	if ((st = rdb_store_backup(db->store, dir, &n, &e)) != RAGDB_OK)
		return rdb_fail(db, &e);
	if (bytes)
		*bytes = n;
	return RAGDB_OK;
}

/* Count the problems of the knowledge base in @p dir (opened read-only). */
static ragdb_status check_dir(const char *dir, uint64_t *n_problems, rdb_err *err)
{
	ragdb *c = NULL;
	ragdb_status st = ragdb_open(dir, RAGDB_RDONLY, &c);
	if (st == RAGDB_OK)
		st = ragdb_check(c, NULL, NULL, n_problems);
	if (st != RAGDB_OK)
		rdb_err_set(err, st, "verifying the copy in %s: %s", dir,
		            c ? ragdb_errmsg(c) : ragdb_strerror(st));
	ragdb_close(c);
	return st;
}

ragdb_status ragdb_restore(ragdb *backup, const char *dir, unsigned flags)
{
	ragdb_status st = rdb_ready(backup);
	if (st != RAGDB_OK)
		return st;
	if (!dir || !*dir)
		return rdb_failf(backup, RAGDB_EINVAL, "ragdb_restore: no target directory given");
	uint64_t n = 0;
	if ((st = ragdb_check(backup, NULL, NULL, &n)) != RAGDB_OK)
		return st;
	if (n)
		return rdb_failf(backup, RAGDB_ECORRUPT,
		                 "the backup in %s fails `ragdb check` (%llu problem%s); nothing was restored: "
		                 "run `ragdb check --db %s` to see them, and restore another backup",
		                 rdb_store_dir(backup->store), (unsigned long long)n, n == 1 ? "" : "s",
		                 rdb_store_dir(backup->store));
	rdb_err e = {0};
	char *stage = NULL;
	if ((st = rdb_restore_stage(backup->store, dir, (flags & RAGDB_RESTORE_FORCE) != 0, &stage, &e)))
		return rdb_fail(backup, &e);
	if ((st = check_dir(stage, &n, &e)) != RAGDB_OK)
		goto out_discard;
	if (n) {
		st = rdb_err_set(&e, RAGDB_ECORRUPT,
		                 "the restored copy failed `ragdb check` (%llu problem%s); %s is unchanged",
		                 (unsigned long long)n, n == 1 ? "" : "s", dir);
		goto out_discard;
	}
	st = rdb_restore_commit(stage, dir, &e);
	free(stage);
	return st == RAGDB_OK ? RAGDB_OK : rdb_fail(backup, &e);
out_discard:
	rdb_restore_discard(stage);
	free(stage);
	return rdb_fail(backup, &e);
}
