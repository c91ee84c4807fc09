/* tests/unit/test_ingest_walk.c — glob matching and file discovery. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "testutil.h"

typedef struct glob_case {
	const char *pat, *rel;
	int want;
} glob_case;

static const glob_case k_globs[] = {
	{ "*.md", "a.md", 1 },
	{ "*.md", "a/b/c.md", 1 },          /* no '/': matches the base name */
	{ "*.md", "a.mdx", 0 },
	{ "*.md", "a/b.txt", 0 },
	{ "docs/*.md", "docs/a.md", 1 },
	{ "docs/*.md", "docs/x/a.md", 0 },  /* '*' does not cross '/' */
	{ "docs/*.md", "a/docs/a.md", 0 },  /* a pattern with '/' is anchored */
	{ "docs/**/*.md", "docs/a.md", 1 }, /* '**' matches zero directories */
	{ "docs/**/*.md", "docs/x/y/a.md", 1 },
	{ "docs/**/*.md", "other/a.md", 0 },
	{ "**/*.md", "a.md", 1 },
	{ "**/*.md", "x/y/a.md", 1 },
	{ "**", "anything/at/all", 1 },
	{ "build/**", "build/x/y.o", 1 },
	{ "build/**", "src/build.c", 0 },
	{ "a/**b", "a/x/yb", 1 },
	{ "?.txt", "a.txt", 1 },
	{ "?.txt", "ab.txt", 0 },
	{ "?.txt", "\xC3\xA9.txt", 1 },     /* '?' is one character, not one byte */
	{ "a?b", "a/b", 0 },                /* '?' does not match '/' */
	{ "[abc].c", "b.c", 1 },
	{ "[abc].c", "d.c", 0 },
	{ "[a-c]x", "bx", 1 },
	{ "[!a-c]x", "bx", 0 },
	{ "[!a-c]x", "dx", 1 },
	{ "[]]x", "]x", 1 },
	{ "[x", "[x", 1 },                  /* unclosed bracket: literal */
	{ "\\*.md", "*.md", 1 },
	{ "\\*.md", "a.md", 0 },
	{ "README", "README", 1 },
	{ "README", "docs/README", 1 },
	{ "node_modules", "web/node_modules", 1 },
	{ "*", "a/b", 1 },                  /* base name "b" */
	{ "*.tar.gz", "x/y.tar.gz", 1 },
	{ "", "a", 0 },
	{ "", "", 1 },
};

/* Each glob case (the rules in ingest.h). */
START_TEST(test_glob_table)
{
	for (size_t i = 0; i < sizeof k_globs / sizeof *k_globs; i++) {
		const glob_case *c = &k_globs[i];
		ck_assert_msg(rdb_glob_match(c->pat, c->rel) == c->want, "case %zu: \"%s\" vs \"%s\" want %d",
		              i, c->pat, c->rel, c->want);
	}
}
END_TEST

/* A collector that records "rel" lines and warnings. */
typedef struct seen {
	char buf[8192];
	char warns[4096];
	int n, nwarn, stop_after;
	char last_abs[4096], last_root[4096];
} seen;

static int on_file(void *ctx, const rdb_found *f)
{
	seen *s = ctx;
	strncat(s->buf, f->rel, sizeof s->buf - strlen(s->buf) - 2);
	strcat(s->buf, "\n");
	snprintf(s->last_abs, sizeof s->last_abs, "%s", f->abspath);
	snprintf(s->last_root, sizeof s->last_root, "%s", f->root);
	ck_assert(f->st != NULL && S_ISREG(f->st->st_mode));
	ck_assert(f->abspath[0] == '/' && f->root[0] == '/');
	ck_assert(access(f->path, R_OK) == 0);
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static void on_warn(void *ctx, const char *path, const char *msg)
{
	seen *s = ctx;
	const char *b = strrchr(path, '/');
	snprintf(s->warns + strlen(s->warns), sizeof s->warns - strlen(s->warns), "%s: %s\n",
	         b ? b + 1 : path, msg);
	s->nwarn++;
}

static char *mk(const char *dir, const char *rel, const char *data)
{
	static char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	ck_assert_int_eq(tu_write_file(p, data, strlen(data)), 0);
	return p;
}

static char *tree(void)
{
	char *d = tu_tmpdir("walk");
	mk(d, "b.md", "b");
	mk(d, "a.txt", "a");
	mk(d, "sub/z.md", "z");
	mk(d, "sub/deeper/y.c", "y");
	mk(d, ".hidden", "h");
	mk(d, ".git/config", "g");
	mk(d, ".ragdb/data.mdb", "r");
	mk(d, "sub/.dot/inner.md", "i");
	mk(d, "build/out.o", "o");
	mk(d, "Build2/x.md", "x");
	return d;
}

static ragdb_status walk1(const char *root, const rdb_walk_opts *o, seen *s, rdb_err *err)
{
	const char *paths[] = { root };
	memset(s, 0, sizeof *s);
	return rdb_walk(paths, 1, o, on_file, on_warn, s, err);
}

/* Sorted (strcmp) order, hidden entries and .git/.ragdb skipped, nested
 * directories walked; rel is relative to the root. */
START_TEST(test_walk_order_hidden)
{
	char *d = tree();
	seen s;
	rdb_err err;
	ck_assert_int_eq(walk1(d, NULL, &s, &err), RAGDB_OK);
	ck_assert_str_eq(s.buf, "Build2/x.md\na.txt\nb.md\nbuild/out.o\nsub/deeper/y.c\nsub/z.md\n");
	ck_assert_int_eq(s.nwarn, 0);
	tu_rmrf(d);
	free(d);
}
END_TEST

/* Include globs filter files; excludes prune directories and drop files. */
START_TEST(test_walk_globs)
{
	char *d = tree();
	seen s;
	rdb_err err;
	const char *inc[] = { "*.md" };
	rdb_walk_opts o = { inc, 1, NULL, 0 };
	ck_assert_int_eq(walk1(d, &o, &s, &err), RAGDB_OK);
	ck_assert_str_eq(s.buf, "Build2/x.md\nb.md\nsub/z.md\n");

	const char *exc[] = { "sub", "*.o" };
	rdb_walk_opts o2 = { NULL, 0, exc, 2 };
	ck_assert_int_eq(walk1(d, &o2, &s, &err), RAGDB_OK);
	ck_assert_str_eq(s.buf, "Build2/x.md\na.txt\nb.md\n");

	const char *exc2[] = { "sub/**" }; /* prunes "sub" itself too */
	const char *inc2[] = { "**/*.c", "a.*" };
	rdb_walk_opts o3 = { inc2, 2, exc2, 1 };
	ck_assert_int_eq(walk1(d, &o3, &s, &err), RAGDB_OK);
	ck_assert_str_eq(s.buf, "a.txt\n");

	const char *inc3[] = { "sub/**/*.c" };
	rdb_walk_opts o4 = { inc3, 1, NULL, 0 };
	ck_assert_int_eq(walk1(d, &o4, &s, &err), RAGDB_OK);
	ck_assert_str_eq(s.buf, "sub/deeper/y.c\n");
	tu_rmrf(d);
	free(d);
}
END_TEST

/* A file root is reported (even hidden, even when include globs would not
 * match it), with rel = its name and an absolute path. */
START_TEST(test_walk_file_root)
{
	char *d = tree();
	char p[4096];
	snprintf(p, sizeof p, "%s/.hidden", d);
	seen s;
	rdb_err err;
	const char *inc[] = { "*.md" };
	rdb_walk_opts o = { inc, 1, NULL, 0 };
	ck_assert_int_eq(walk1(p, &o, &s, &err), RAGDB_OK);
	ck_assert_str_eq(s.buf, ".hidden\n");
	char *real = realpath(p, NULL);
	ck_assert_str_eq(s.last_abs, real);
	free(real);
	/* a relative root works too, and the abspath is normalised */
	char cwd[4096];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_eq(chdir(d), 0);
	ck_assert_int_eq(walk1("./sub/../b.md", NULL, &s, &err), RAGDB_OK);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_str_eq(s.buf, "b.md\n");
	ck_assert_ptr_null(strstr(s.last_abs, ".."));
	ck_assert_ptr_null(strstr(s.last_abs, "/./"));
	tu_rmrf(d);
	free(d);
}
END_TEST

/* A missing root is ENOTFOUND with its name, and nothing is reported even
 * when an earlier root exists. */
START_TEST(test_walk_missing_root)
{
	char *d = tree();
	char missing[4096];
	snprintf(missing, sizeof missing, "%s/nope", d);
	const char *paths[] = { d, missing };
	seen s;
	memset(&s, 0, sizeof s);
	rdb_err err;
	ck_assert_int_eq(rdb_walk(paths, 2, NULL, on_file, on_warn, &s, &err), RAGDB_ENOTFOUND);
	ck_assert_int_eq(s.n, 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "nope: no such file or directory"));
	tu_rmrf(d);
	free(d);
}
END_TEST

/* Symlinks: a link to a file is followed (reported under the link's name),
 * a link to a directory is walked, a loop is walked once, a broken link is a
 * warning. */
START_TEST(test_walk_symlinks)
{
	char *d = tu_tmpdir("walk-ln");
	mk(d, "real/f.txt", "f");
	char a[4096], b[4096];
	snprintf(a, sizeof a, "%s/real/loop", d);
	ck_assert_int_eq(symlink("..", a), 0);       /* real/loop -> d */
	snprintf(a, sizeof a, "%s/link.txt", d);
	ck_assert_int_eq(symlink("real/f.txt", a), 0);
	snprintf(a, sizeof a, "%s/broken", d);
	ck_assert_int_eq(symlink("nowhere", a), 0);
	seen s;
	rdb_err err;
	ck_assert_int_eq(walk1(d, NULL, &s, &err), RAGDB_OK);
	ck_assert_str_eq(s.buf, "link.txt\nreal/f.txt\n");
	ck_assert_int_eq(s.nwarn, 1);
	ck_assert_ptr_nonnull(strstr(s.warns, "broken: broken symbolic link"));
	/* two roots naming the same tree: walked once */
	snprintf(b, sizeof b, "%s/real", d);
	const char *paths[] = { b, b };
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(rdb_walk(paths, 2, NULL, on_file, on_warn, &s, &err), RAGDB_OK);
	ck_assert_int_eq(s.n, 2); /* f.txt, then loop/ leads back to d: link.txt */
	tu_rmrf(d);
	free(d);
}
END_TEST

/* A fifo is skipped with a warning; an unreadable subdirectory is a
 * warning and the walk goes on (skipped when running as root, which can
 * read everything). */
START_TEST(test_walk_special_and_unreadable)
{
	char *d = tu_tmpdir("walk-sp");
	mk(d, "a.txt", "a");
	mk(d, "locked/x.txt", "x");
	mk(d, "z.txt", "z");
	char p[4096];
	snprintf(p, sizeof p, "%s/fifo", d);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	seen s;
	rdb_err err;
	ck_assert_int_eq(walk1(d, NULL, &s, &err), RAGDB_OK);
	ck_assert_ptr_nonnull(strstr(s.warns, "fifo: a named pipe"));
	if (geteuid() != 0) {
		snprintf(p, sizeof p, "%s/locked", d);
		ck_assert_int_eq(chmod(p, 0), 0);
		ck_assert_int_eq(walk1(d, NULL, &s, &err), RAGDB_OK);
		ck_assert_str_eq(s.buf, "a.txt\nz.txt\n");
		ck_assert_ptr_nonnull(strstr(s.warns, "locked: cannot read directory"));
		chmod(p, 0700);
	}
	tu_rmrf(d);
	free(d);
}
END_TEST

/* The callback's non-zero return stops the walk with RAGDB_EINTR. */
START_TEST(test_walk_stop)
{
	char *d = tree();
	seen s;
	memset(&s, 0, sizeof s);
	s.stop_after = 2;
	const char *paths[] = { d };
	rdb_err err;
	ck_assert_int_eq(rdb_walk(paths, 1, NULL, on_file, on_warn, &s, &err), RAGDB_EINTR);
	ck_assert_int_eq(s.n, 2);
	tu_rmrf(d);
	free(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ingest_walk");
	TCase *tc = tcase_create("walk");
	tcase_add_test(tc, test_glob_table);
	tcase_add_test(tc, test_walk_order_hidden);
	tcase_add_test(tc, test_walk_globs);
	tcase_add_test(tc, test_walk_file_root);
	tcase_add_test(tc, test_walk_missing_root);
	tcase_add_test(tc, test_walk_symlinks);
	tcase_add_test(tc, test_walk_special_and_unreadable);
	tcase_add_test(tc, test_walk_stop);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
