/* tests/unit/test_ingest_reader.c — file reading, format detection,
 * Markdown titles and line helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "testutil.h"

/* Extension (and well-known file name) to format. */
START_TEST(test_format_from_path)
{
	static const struct { const char *p; ragdb_format f; } k[] = {
		{ "a.md", RAGDB_FORMAT_MARKDOWN }, { "x/READ.ME.Markdown", RAGDB_FORMAT_MARKDOWN },
		{ "a.mdx", RAGDB_FORMAT_MARKDOWN }, { "d.jsonl", RAGDB_FORMAT_JSONL },
		{ "d.ndjson", RAGDB_FORMAT_JSONL }, { "d.JSON", RAGDB_FORMAT_JSONL },
		{ "m.c", RAGDB_FORMAT_CODE }, { "m.H", RAGDB_FORMAT_CODE }, { "s.py", RAGDB_FORMAT_CODE },
		{ "s.rs", RAGDB_FORMAT_CODE }, { "run.sh", RAGDB_FORMAT_CODE },
		{ "dir/Makefile", RAGDB_FORMAT_CODE }, { "notes.txt", RAGDB_FORMAT_TEXT },
		{ "README", RAGDB_FORMAT_TEXT }, { ".bashrc", RAGDB_FORMAT_TEXT },
		{ "a.md/b", RAGDB_FORMAT_TEXT }, { "page.html", RAGDB_FORMAT_HTML },
	};
	for (size_t i = 0; i < sizeof k / sizeof *k; i++)
		ck_assert_msg(rdb_format_from_path(k[i].p) == k[i].f, "%s", k[i].p);
}
END_TEST

/* Whole-file reads: content and NUL end; an empty file; errors carry the
 * path and map to ENOTFOUND / EIO (directory) / EPERM. */
START_TEST(test_read_file)
{
	char *d = tu_tmpdir("reader");
	char p[4096];
	snprintf(p, sizeof p, "%s/a.txt", d);
	ck_assert_int_eq(tu_write_file(p, "hello\0world", 11), 0);
	char *buf = NULL;
	size_t len = 0;
	rdb_err err;
	ck_assert_int_eq(rdb_read_file(p, &buf, &len, &err), RAGDB_OK);
	ck_assert_uint_eq(len, 11);
	ck_assert(memcmp(buf, "hello\0world", 12) == 0);
	free(buf);

	snprintf(p, sizeof p, "%s/empty", d);
	ck_assert_int_eq(tu_write_file(p, "", 0), 0);
	ck_assert_int_eq(rdb_read_file(p, &buf, &len, &err), RAGDB_OK);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(buf[0], 0);
	free(buf);

	snprintf(p, sizeof p, "%s/missing", d);
	buf = NULL;
	ck_assert_int_eq(rdb_read_file(p, &buf, &len, &err), RAGDB_ENOTFOUND);
	ck_assert_ptr_null(buf);
	ck_assert_ptr_nonnull(strstr(err.msg, "missing"));
	ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));

	ck_assert_int_eq(rdb_read_file(d, &buf, &len, &err), RAGDB_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "directory"));

	if (geteuid() != 0) {
		snprintf(p, sizeof p, "%s/a.txt", d);
		chmod(p, 0);
		ck_assert_int_eq(rdb_read_file(p, &buf, &len, &err), RAGDB_EPERM);
	}
	/* a file whose size stat does not tell (procfs) still reads whole */
	ck_assert_int_eq(rdb_read_file("/proc/self/status", &buf, &len, &err), RAGDB_OK);
	ck_assert_uint_gt(len, 0);
	ck_assert_ptr_nonnull(strstr(buf, "Name:"));
	free(buf);
	tu_rmrf(d);
	free(d);
}
END_TEST

/* A file of several MiB reads exactly. */
START_TEST(test_read_big)
{
	char *d = tu_tmpdir("reader-big");
	char p[4096];
	snprintf(p, sizeof p, "%s/big", d);
	size_t n = (size_t)9 << 20;
	char *data = malloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	ck_assert_int_eq(tu_write_file(p, data, n), 0);
	char *buf;
	size_t len;
	rdb_err err;
	ck_assert_int_eq(rdb_read_file(p, &buf, &len, &err), RAGDB_OK);
	ck_assert_uint_eq(len, n);
	ck_assert(memcmp(buf, data, n) == 0);
	free(buf);
	free(data);
	tu_rmrf(d);
	free(d);
}
END_TEST

typedef struct title_case {
	const char *md;
	const char *want; /* NULL: none */
} title_case;

static const title_case k_titles[] = {
	{ "# Hello\ntext", "Hello" },
	{ "intro\n\n## Sub\n\n# Main #\n", "Main" },   /* level 1 preferred, closing #s */
	{ "## Only sub\ntext", "Only sub" },
	{ "---\ntitle: x\n# not a heading\n---\n# Real\n", "Real" }, /* front matter */
	{ "```\n# comment in code\n```\n# After\n", "After" },
	{ "~~~~\n# code\n~~~\n# still code\n~~~~\n## Out\n", "Out" },
	{ "Setext Title\n============\nbody", "Setext Title" },
	{ "Sub Title\n---------\n\n# ATX\n", "ATX" },
	{ "Sub Title\n---------\nbody", "Sub Title" },
	{ "\n\n---\n\nrule above, no title", NULL },
	{ "#hashtag is not a heading\n", NULL },
	{ "    # indented code\n", NULL },
	{ "   #   Spaced   \n", "Spaced" },
	{ "#\n# \n# Real one\n", "Real one" },
	{ "", NULL },
	{ "# Title\r\nbody\r\n", "Title" },
	{ "#######  seven\n", NULL },
};

/* Title cases: ATX, setext, front matter, fences, non-headings. */
START_TEST(test_markdown_title)
{
	for (size_t i = 0; i < sizeof k_titles / sizeof *k_titles; i++) {
		const char *md = k_titles[i].md;
		char *t = rdb_markdown_title(md, strlen(md));
		if (!k_titles[i].want)
			ck_assert_msg(t == NULL, "case %zu: got \"%s\"", i, t);
		else
			ck_assert_msg(t && strcmp(t, k_titles[i].want) == 0, "case %zu: got \"%s\"", i,
			              t ? t : "(null)");
		free(t);
	}
}
END_TEST

/* The line helpers on their own. */
START_TEST(test_md_lines)
{
	const char *t;
	size_t tl, fl;
	ck_assert_int_eq(rdb_md_atx("### A b ###", 11, &t, &tl), 3);
	ck_assert_uint_eq(tl, 3);
	ck_assert(memcmp(t, "A b", 3) == 0);
	ck_assert_int_eq(rdb_md_atx("# C#", 4, &t, &tl), 1); /* "C#" keeps its '#' */
	ck_assert_uint_eq(tl, 2);
	ck_assert_int_eq(rdb_md_fence_open("```python", 9, &fl), '`');
	ck_assert_uint_eq(fl, 3);
	ck_assert_int_eq(rdb_md_fence_open("``` a`b", 7, &fl), 0);
	ck_assert_int_eq(rdb_md_fence_open("~~", 2, &fl), 0);
	ck_assert(rdb_md_fence_close("````  ", 6, '`', 3));
	ck_assert(!rdb_md_fence_close("``", 2, '`', 3));
	ck_assert(!rdb_md_fence_close("~~~", 3, '`', 3));
	ck_assert(!rdb_md_fence_close("``` x", 5, '`', 3));
	ck_assert_int_eq(rdb_md_setext("===", 3), 1);
	ck_assert_int_eq(rdb_md_setext("--- ", 4), 2);
	ck_assert_int_eq(rdb_md_setext("-- -", 4), 0);
	ck_assert(rdb_md_table_row("| a | b |", 9));
	ck_assert(!rdb_md_table_row("a | b", 5));
	ck_assert_uint_eq(rdb_md_front_matter("---\na: 1\n---\nbody", 17), 13);
	ck_assert_uint_eq(rdb_md_front_matter("---\na: 1\n", 9), 0);
	ck_assert_uint_eq(rdb_md_front_matter("text\n---\n", 9), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ingest_reader");
	TCase *tc = tcase_create("reader");
	tcase_add_test(tc, test_format_from_path);
	tcase_add_test(tc, test_read_file);
	tcase_add_test(tc, test_read_big);
	tcase_add_test(tc, test_markdown_title);
	tcase_add_test(tc, test_md_lines);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
