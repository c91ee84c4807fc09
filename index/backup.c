/*
 * index/backup.c — hot backup and restore of a store.
 *
 * Invariants:
 * - A backup or restore never leaves a partial copy where the user looks:
 *   copies are written into a temporary directory next to the destination
 *   (same filesystem, so rename(2) is atomic), synced, then renamed in.
 * - A restore replaces the target's data file with one rename, only while no
 *   process has the target open (the same fcntl lock LMDB takes on its lock
 *   file tells us), so the target is the old knowledge base or the new one.
 * - The copy is LMDB's compacting copy, taken in one read transaction: a
 *   consistent snapshot while a writer commits and readers search.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index/backup.h"
#include "index/store_int.h"

enum { DIR_ABSENT, DIR_EMPTY, DIR_FULL, DIR_NOTDIR, DIR_ERROR };

/* What is at @p path: nothing, an empty directory, a directory with files. */
static int dir_state(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? DIR_ABSENT : DIR_ERROR;
	if (!S_ISDIR(st.st_mode))
		return DIR_NOTDIR;
	DIR *d = opendir(path);
	if (!d)
		return DIR_ERROR;
	int state = DIR_EMPTY;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			state = DIR_FULL;
			break;
		}
	}
	closedir(d);
	return state;
}

/* @p path without trailing slashes, split into parent and name (malloc'd). */
static int split_path(const char *path, char **parent, char **name)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	char *p = strndup(path, n);
	if (!p)
		return -1;
	char *slash = strrchr(p, '/');
	if (!slash) {
		*name = strdup(p);
		*parent = strdup(".");
		free(p);
	} else {
		*name = strdup(slash + 1);
		if (slash == p)
			slash[1] = 0;
		else
			*slash = 0;
		*parent = p;
	}
	if (!*name || !*parent) {
		free(*name);
		free(*parent);
		return -1;
	}
	return 0;
}

static void fsync_path(const char *path, int dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void join(char *out, size_t cap, const char *dir, const char *file)
{
	snprintf(out, cap, "%s/%s", dir, file);
}

/* Remove a temporary copy directory and the LMDB files in it. */
void rdb_restore_discard(const char *stage_dir)
{
	char p[PATH_MAX];
	if (!stage_dir)
		return;
	join(p, sizeof p, stage_dir, "data.mdb");
	unlink(p);
	join(p, sizeof p, stage_dir, "lock.mdb");
	unlink(p);
	rmdir(stage_dir);
}

/* Make ".NAME.KIND-XXXXXX" next to @p dest and copy @p s into it. */
static ragdb_status copy_to_temp(rdb_store *s, const char *dest, const char *kind, char **out,
                                 uint64_t *bytes, rdb_err *err)
{
	char *parent = NULL, *name = NULL, *tmp = NULL;
	ragdb_status st = RAGDB_OK;
	char p[PATH_MAX];
	struct stat sb;
	int rc;

	if (split_path(dest, &parent, &name))
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
	if (asprintf(&tmp, "%s/.%s.%s-XXXXXX", parent, name, kind) < 0) {
		tmp = NULL;
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
		goto out_free;
	}
	if (!mkdtemp(tmp)) {
		int e = errno;
		st = rdb_err_set(err, e == ENOSPC ? RAGDB_ENOSPC : e == EACCES ? RAGDB_EPERM : RAGDB_EIO,
		                 "cannot create a directory in %s: %s; the copy is written next to %s "
		                 "and renamed into place, so that directory must exist and be writable",
		                 parent, strerror(e), dest);
		free(tmp);
		tmp = NULL;
		goto out_free;
	}
	if ((rc = mdb_env_copy2(s->env, tmp, MDB_CP_COMPACT))) {
		st = rdb_mdb_fail(s, rc, err, "copying the knowledge base");
		if (rc == ENOSPC || rc == EIO)
			rdb_err_prefix(err, "writing %s: ", tmp);
		rdb_restore_discard(tmp);
		free(tmp);
		tmp = NULL;
		goto out_free;
	}
	join(p, sizeof p, tmp, "data.mdb");
	fsync_path(p, 0);
	if (bytes)
		*bytes = stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	*out = tmp;
out_free:
	free(parent);
	free(name);
	return st;
}

ragdb_status rdb_store_backup(rdb_store *s, const char *dir, uint64_t *bytes, rdb_err *err)
{
	char *tmp = NULL;
	uint64_t n = 0;
	ragdb_status st;

	int state = dir_state(dir);
	if (state == DIR_FULL || state == DIR_NOTDIR)
		return rdb_err_set(err, RAGDB_EEXIST,
		                   "backup destination %s %s; name a new or empty directory", dir,
		                   state == DIR_FULL ? "is not empty" : "is not a directory");
	if (state == DIR_ERROR)
		return rdb_err_set(err, RAGDB_EIO, "cannot read %s: %s", dir, strerror(errno));
	if ((st = copy_to_temp(s, dir, "backup", &tmp, &n, err)) != RAGDB_OK)
		return st;
	if ((state == DIR_EMPTY && rmdir(dir) != 0) || rename(tmp, dir) != 0) {
		int e = errno;
		rdb_restore_discard(tmp);
		free(tmp);
		return rdb_err_set(err, RAGDB_EIO, "cannot move the copy into %s: %s; nothing was written there",
		                   dir, strerror(e));
	}
	free(tmp);
	char *parent = NULL, *name = NULL;
	if (!split_path(dir, &parent, &name)) {
		fsync_path(parent, 1);
		free(parent);
		free(name);
	}
	if (bytes)
		*bytes = n;
	return RAGDB_OK;
}

ragdb_status rdb_restore_stage(rdb_store *src, const char *target, int force, char **stage_dir,
                               rdb_err *err)
{
	char p[PATH_MAX];
	struct stat sb;

	int state = dir_state(target);
	if (state == DIR_NOTDIR)
		return rdb_err_set(err, RAGDB_EEXIST, "restore target %s is not a directory", target);
	if (state == DIR_ERROR)
		return rdb_err_set(err, RAGDB_EIO, "cannot read %s: %s", target, strerror(errno));
	if (state == DIR_FULL) {
		join(p, sizeof p, target, "data.mdb");
		if (!force)
			return rdb_err_set(err, RAGDB_EEXIST,
			                   "restore target %s is not empty; name a new or empty directory, "
			                   "or add --force to replace the knowledge base there", target);
		if (stat(p, &sb) != 0)
			return rdb_err_set(err, RAGDB_EINVAL,
			                   "restore target %s holds files but no knowledge base (no data.mdb); "
			                   "refusing to write there even with --force", target);
	}
	return copy_to_temp(src, target, "restore", stage_dir, NULL, err);
}

ragdb_status rdb_restore_commit(const char *stage_dir, const char *target, rdb_err *err)
{
	char from[PATH_MAX], to[PATH_MAX];
	ragdb_status st = RAGDB_OK;
	int fd = -1;

	join(from, sizeof from, stage_dir, "lock.mdb");
	unlink(from); /* left by the verification; the target keeps or makes its own */
	int state = dir_state(target);
	if (state == DIR_ABSENT || state == DIR_EMPTY) {
		if ((state == DIR_EMPTY && rmdir(target) != 0) || rename(stage_dir, target) != 0)
			st = rdb_err_set(err, RAGDB_EIO, "cannot move the restored copy into %s: %s", target,
			                 strerror(errno));
		goto out;
	}
	/* A process with the knowledge base open holds a read lock on byte 0 of
	 * lock.mdb (LMDB's liveness lock); a write lock we can take means nobody
	 * has it open, and holding it keeps a new opener waiting for us. */
	join(to, sizeof to, target, "lock.mdb");
	fd = open(to, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
		if (fcntl(fd, F_SETLK, &fl) != 0) {
			st = rdb_err_set(err, RAGDB_EBUSY,
			                 "%s is open in another process (a running ragdb serve, ingest or "
			                 "search); stop it and run the restore again: nothing was changed",
			                 target);
			goto out;
		}
	}
	join(from, sizeof from, stage_dir, "data.mdb");
	join(to, sizeof to, target, "data.mdb");
	if (rename(from, to) != 0) {
		st = rdb_err_set(err, RAGDB_EIO, "cannot replace %s: %s; the knowledge base there is unchanged",
		                 to, strerror(errno));
		goto out;
	}
	fsync_path(target, 1);
out:
	if (fd >= 0)
		close(fd);
	rdb_restore_discard(stage_dir);
	return st;
}
