/*
 * ingest/walk.c — file discovery: walk the paths given to `ragdb ingest`,
 * in a deterministic order, with include/exclude globs.
 *
 * Rules (the contract in ingest.h, made precise):
 *  1. Every root is stat'ed before anything is reported; a missing root is
 *     RAGDB_ENOTFOUND and nothing is reported at all.
 *  2. A file root is reported as it is, even when hidden; include globs do
 *     not apply to it (the user named it), exclude globs do (on its name).
 *  3. Directory entries are visited in strcmp order; names starting with '.'
 *     (".git", ".ragdb", editor droppings) are skipped.
 *  4. Symlinks are followed; a directory (by dev/ino) is walked at most once
 *     per call, which both breaks symlink loops and avoids walking a tree
 *     twice when two roots overlap.
 *  5. Excludes prune directories (a pattern "x/" "**" also prunes x itself);
 *     include globs only filter files.
 *  6. Problems with one entry (unreadable directory, broken symlink, fifo,
 *     socket, device) go to on_warn and the walk goes on.
 */
#include "ingest/ingest.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Glob matching -------------------------------------------------------- */

/* Match a bracket expression at *pp against one character c; advances *pp
 * past the closing ']'. Returns -1 if the bracket is not closed (then '['
 * is a literal). */
static int class_match(const char **pp, unsigned char c)
{
	const char *p = *pp + 1;
	int neg = 0, hit = 0;
	if (*p == '!' || *p == '^') {
		neg = 1;
		p++;
	}
	const char *first = p;
	while (*p && (*p != ']' || p == first)) {
		unsigned char lo = (unsigned char)*p, hi = lo;
		if (p[1] == '-' && p[2] && p[2] != ']') {
			hi = (unsigned char)p[2];
			p += 3;
		} else {
			p++;
		}
		if (c >= lo && c <= hi)
			hit = 1;
	}
	if (*p != ']')
		return -1;
	*pp = p + 1;
	return hit != neg;
}

static int glob_rec(const char *p, const char *s, int depth)
{
	if (depth > 64)
		return 0; /* absurd patterns: refuse rather than recurse forever */
	for (;;) {
		switch (*p) {
		case 0:
			return *s == 0;
		case '*':
			if (p[1] == '*') {
				const char *q = p + 2;
				while (*q == '*')
					q++;
				if (*q == '/') {
					/* "**" + "/": zero or more whole directories */
					q++;
					for (const char *t = s;;) {
						if (glob_rec(q, t, depth + 1))
							return 1;
						t = strchr(t, '/');
						if (!t)
							return 0;
						t++;
					}
				}
				for (const char *t = s;; t++) { /* anything, across '/' */
					if (glob_rec(q, t, depth + 1))
						return 1;
					if (!*t)
						return 0;
				}
			}
			p++;
			for (const char *t = s;; t++) { /* anything within one segment */
				if (glob_rec(p, t, depth + 1))
					return 1;
				if (!*t || *t == '/')
					return 0;
			}
		case '?':
			if (!*s || *s == '/')
				return 0;
			s++;
			while ((*s & 0xC0) == 0x80) /* one whole UTF-8 character */
				s++;
			p++;
			break;
		case '[': {
			if (!*s || *s == '/')
				return 0;
			const char *q = p;
			int m = class_match(&q, (unsigned char)*s);
			if (m < 0) {
				if (*s != '[')
					return 0;
				p++;
			} else if (!m) {
				return 0;
			} else {
				p = q;
			}
			s++;
			break;
		}
		case '\\':
			if (p[1])
				p++;
			/* fall through */
		default:
			if (*p != *s)
				return 0;
			p++;
			s++;
		}
	}
}

int rdb_glob_match(const char *pattern, const char *rel)
{
	if (glob_rec(pattern, rel, 0))
		return 1;
	if (!strchr(pattern, '/')) {
		const char *base = strrchr(rel, '/');
		if (base)
			return glob_rec(pattern, base + 1, 0);
	}
	return 0;
}

/* Whether a directory at @p rel is pruned by an exclude: a pattern matches
 * it, or the pattern is X + "/" + "**" and X matches it. */
static int dir_excluded(const rdb_walk_opts *o, const char *rel)
{
	for (size_t i = 0; i < o->n_excludes; i++) {
		const char *pat = o->excludes[i];
		if (rdb_glob_match(pat, rel))
			return 1;
		size_t n = strlen(pat);
		if (n > 3 && strcmp(pat + n - 3, "/**") == 0) {
			char buf[PATH_MAX];
			if (n - 3 < sizeof buf) {
				memcpy(buf, pat, n - 3);
				buf[n - 3] = 0;
				if (rdb_glob_match(buf, rel))
					return 1;
			}
		}
	}
	return 0;
}

static int any_match(const char *const *pats, size_t n, const char *rel)
{
	for (size_t i = 0; i < n; i++)
		if (rdb_glob_match(pats[i], rel))
			return 1;
	return 0;
}

/* The walk ------------------------------------------------------------- */

typedef struct dirkey {
	dev_t dev;
	ino_t ino;
	int used;
} dirkey;

typedef struct walker {
	const rdb_walk_opts *o;
	int (*on_file)(void *ctx, const rdb_found *f);
	void (*on_warn)(void *ctx, const char *path, const char *msg);
	void *ctx;
	rdb_err *err;
	dirkey *seen;   /* open-addressing set of walked directories */
	size_t cap, n;
	const char *root_abs;
} walker;

static void warn(walker *w, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warn(walker *w, const char *path, const char *fmt, ...)
{
	if (!w->on_warn)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	w->on_warn(w->ctx, path, msg);
}

static size_t dir_hash(dev_t dev, ino_t ino)
{
	return (size_t)(((uint64_t)ino * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)dev);
}

/* Insert (dev, ino); 1 if new, 0 if seen before, -1 out of memory. */
static int seen_add(walker *w, dev_t dev, ino_t ino)
{
	if (w->n * 2 >= w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 64;
		dirkey *nt = calloc(ncap, sizeof *nt);
		if (!nt)
			return -1;
		for (size_t i = 0; i < w->cap; i++) {
			if (!w->seen[i].used)
				continue;
			size_t h = dir_hash(w->seen[i].dev, w->seen[i].ino) & (ncap - 1);
			while (nt[h].used)
				h = (h + 1) & (ncap - 1);
			nt[h] = w->seen[i];
		}
		free(w->seen);
		w->seen = nt;
		w->cap = ncap;
	}
	size_t h = dir_hash(dev, ino) & (w->cap - 1);
	while (w->seen[h].used) {
		if (w->seen[h].dev == dev && w->seen[h].ino == ino)
			return 0;
		h = (h + 1) & (w->cap - 1);
	}
	w->seen[h] = (dirkey){ dev, ino, 1 };
	w->n++;
	return 1;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	int slash = na > 0 && a[na - 1] != '/';
	char *r = malloc(na + slash + nb + 1);
	if (!r)
		return NULL;
	memcpy(r, a, na);
	if (slash)
		r[na] = '/';
	memcpy(r + na + slash, b, nb + 1);
	return r;
}

/* Sorted, non-hidden names of directory @p path, or NULL with errno set. */
static char **list_dir(const char *path, size_t *count)
{
	DIR *d = opendir(path);
	if (!d)
		return NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **nn = realloc(names, ncap * sizeof *nn);
			if (!nn)
				goto out_nomem;
			names = nn;
			cap = ncap;
		}
		if (!(names[n] = strdup(e->d_name)))
			goto out_nomem;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_names);
	if (!names)
		names = malloc(sizeof *names); /* empty but not NULL */
	if (!names)
		errno = ENOMEM;
	*count = n;
	return names;

out_nomem:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	errno = ENOMEM;
	return NULL;
}

static ragdb_status walk_dir(walker *w, const char *path, const char *real, const char *rel);

/* Handle one directory entry: @p path as opened, @p rel from the root. */
static ragdb_status visit(walker *w, const char *path, const char *dir_real, const char *name,
                          const char *rel)
{
	ragdb_status st = RAGDB_OK;
	struct stat sb;
	if (stat(path, &sb) != 0) {
		struct stat lb;
		if (lstat(path, &lb) == 0 && S_ISLNK(lb.st_mode))
			warn(w, path, "broken symbolic link (%s); skipped", strerror(errno));
		else
			warn(w, path, "cannot stat (%s); skipped", strerror(errno));
		return RAGDB_OK;
	}
	char *abs = join(dir_real, name);
	if (!abs)
		return rdb_err_set(w->err, RAGDB_ENOMEM, "out of memory walking %s", path);
	if (S_ISDIR(sb.st_mode)) {
		if (!dir_excluded(w->o, rel))
			st = walk_dir(w, path, abs, rel);
	} else if (S_ISREG(sb.st_mode)) {
		const rdb_walk_opts *o = w->o;
		if (!any_match(o->excludes, o->n_excludes, rel) &&
		    (o->n_globs == 0 || any_match(o->globs, o->n_globs, rel))) {
			rdb_found f = { path, abs, rel, w->root_abs, &sb };
			if (w->on_file(w->ctx, &f) != 0)
				st = rdb_err_set(w->err, RAGDB_EINTR, "walk stopped at %s", path);
		}
	} else {
		warn(w, path, "%s; skipped", S_ISFIFO(sb.st_mode) ? "a named pipe (fifo)"
		                           : S_ISSOCK(sb.st_mode) ? "a socket"
		                           : "a device or special file");
	}
	free(abs);
	return st;
}

/* Walk directory @p path whose real path is @p real; @p rel is "" at a root. */
static ragdb_status walk_dir(walker *w, const char *path, const char *real, const char *rel)
{
	struct stat sb;
	if (stat(path, &sb) != 0) {
		warn(w, path, "cannot stat directory (%s); skipped", strerror(errno));
		return RAGDB_OK;
	}
	int fresh = seen_add(w, sb.st_dev, sb.st_ino);
	if (fresh < 0)
		return rdb_err_set(w->err, RAGDB_ENOMEM, "out of memory walking %s", path);
	if (fresh == 0)
		return RAGDB_OK; /* a symlink loop, or a tree already walked */

	size_t n = 0;
	char **names = list_dir(path, &n);
	if (!names) {
		if (errno == ENOMEM)
			return rdb_err_set(w->err, RAGDB_ENOMEM, "out of memory listing %s", path);
		warn(w, path, "cannot read directory (%s); skipped", strerror(errno));
		return RAGDB_OK;
	}
	ragdb_status st = RAGDB_OK;
	for (size_t i = 0; i < n && st == RAGDB_OK; i++) {
		char *cpath = join(path, names[i]);
		char *crel = *rel ? join(rel, names[i]) : strdup(names[i]);
		if (!cpath || !crel)
			st = rdb_err_set(w->err, RAGDB_ENOMEM, "out of memory walking %s", path);
		else
			st = visit(w, cpath, real, names[i], crel);
		free(cpath);
		free(crel);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return st;
}

static ragdb_status errno_status(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return RAGDB_ENOTFOUND;
	case EACCES:
	case EPERM:
		return RAGDB_EPERM;
	case ENOMEM:
		return RAGDB_ENOMEM;
	default:
		return RAGDB_EIO;
	}
}

ragdb_status rdb_walk(const char *const *paths, size_t n_paths, const rdb_walk_opts *o,
                      int (*on_file)(void *ctx, const rdb_found *f),
                      void (*on_warn)(void *ctx, const char *path, const char *msg), void *ctx,
                      rdb_err *err)
{
	static const rdb_walk_opts none = { 0 };
	if (!o)
		o = &none;
	for (size_t i = 0; i < n_paths; i++) {
		struct stat sb;
		if (stat(paths[i], &sb) != 0) {
			int e = errno;
			if (e == ENOENT || e == ENOTDIR)
				return rdb_err_set(err, RAGDB_ENOTFOUND, "%s: no such file or directory",
				                   paths[i]);
			return rdb_err_set(err, errno_status(e), "%s: %s", paths[i], strerror(e));
		}
		if (S_ISDIR(sb.st_mode)) {
			DIR *d = opendir(paths[i]);
			if (!d) {
				int e = errno;
				return rdb_err_set(err, errno_status(e), "%s: cannot read directory: %s",
				                   paths[i], strerror(e));
			}
			closedir(d);
		}
	}

	walker w = { o, on_file, on_warn, ctx, err, NULL, 0, 0, NULL };
	ragdb_status st = RAGDB_OK;
	for (size_t i = 0; i < n_paths && st == RAGDB_OK; i++) {
		const char *p = paths[i];
		struct stat sb;
		char *real = NULL;
		int ok = stat(p, &sb) == 0;
		if (ok && S_ISDIR(sb.st_mode)) {
			real = realpath(p, NULL);
		} else if (ok) {
			/* a file: its directory resolved, its own name kept (a symlinked
			 * file is known by the link's name, as inside a walk) */
			const char *slash = strrchr(p, '/');
			char *dir = slash ? strndup(p, (size_t)(slash - p) + (slash == p)) : strdup(".");
			char *rdir = dir ? realpath(dir, NULL) : NULL;
			real = rdir ? join(rdir, slash ? slash + 1 : p) : NULL;
			free(rdir);
			free(dir);
		}
		if (!real) {
			/* vanished since the check above */
			warn(&w, p, "cannot resolve path (%s); skipped", strerror(errno));
			continue;
		}
		w.root_abs = real;
		if (S_ISDIR(sb.st_mode)) {
			st = walk_dir(&w, p, real, "");
		} else if (S_ISREG(sb.st_mode)) {
			const char *base = strrchr(real, '/');
			base = base ? base + 1 : real;
			if (!any_match(o->excludes, o->n_excludes, base)) {
				rdb_found f = { p, real, base, real, &sb };
				if (on_file(ctx, &f) != 0)
					st = rdb_err_set(err, RAGDB_EINTR, "walk stopped at %s", p);
			}
		} else {
			warn(&w, p, "%s; skipped", S_ISFIFO(sb.st_mode) ? "a named pipe (fifo)"
			                          : S_ISSOCK(sb.st_mode) ? "a socket"
			                          : "a device or special file");
		}
		free(real);
		w.root_abs = NULL;
	}
	free(w.seen);
	return st;
}
