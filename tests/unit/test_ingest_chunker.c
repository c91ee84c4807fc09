/* tests/unit/test_ingest_chunker.c — the chunker: coverage, sizes,
 * boundaries, Markdown structure, overlap, pathological inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/providers/text.h"
#include "ingest/ingest.h"
#include "testutil.h"

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int cont(const char *t, size_t i, size_t len)
{
	return i < len && ((unsigned char)t[i] & 0xC0) == 0x80;
}

/* The invariants every chunking must hold: non-empty trimmed spans in
 * increasing order, starts and ends advancing, every non-space byte
 * covered, no boundary inside a UTF-8 sequence (for valid input), and no
 * span over @p max_tokens tokens (0: unchecked). */
static int g_check_utf8 = 1;

static void check_spans(const char *t, size_t len, const rdb_span *s, size_t n, size_t max_tokens)
{
	size_t covered_to = 0; /* every non-space byte before this is covered */
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(s[i].start < s[i].end && s[i].end <= len, "span %zu: [%llu,%llu)", i,
		              (unsigned long long)s[i].start, (unsigned long long)s[i].end);
		ck_assert_msg(!is_ws(t[s[i].start]) && !is_ws(t[s[i].end - 1]), "span %zu not trimmed", i);
		ck_assert_msg(!g_check_utf8 || (!cont(t, s[i].start, len) && !cont(t, s[i].end, len)),
		              "span %zu splits a UTF-8 sequence", i);
		if (i > 0) {
			ck_assert_msg(s[i].start > s[i - 1].start, "span %zu does not advance its start", i);
			ck_assert_msg(s[i].end > s[i - 1].end, "span %zu does not advance its end", i);
		}
		for (size_t k = covered_to; k < s[i].start; k++)
			ck_assert_msg(is_ws(t[k]), "byte %zu (0x%02x) before span %zu is not covered", k,
			              (unsigned char)t[k], i);
		if (s[i].end > covered_to)
			covered_to = s[i].end;
		if (max_tokens) {
			size_t tk = rdb_token_estimate(t + s[i].start, s[i].end - s[i].start);
			ck_assert_msg(tk <= max_tokens, "span %zu has %zu tokens (max %zu)", i, tk, max_tokens);
		}
	}
	for (size_t k = covered_to; k < len; k++)
		ck_assert_msg(is_ws(t[k]), "byte %zu after the last span is not covered", k);
}

static rdb_span *chunk(const char *t, size_t len, ragdb_format f, uint32_t tokens, uint32_t overlap,
                       size_t *n)
{
	rdb_chunk_opts o = { tokens, overlap };
	rdb_span *s = NULL;
	rdb_err err;
	ck_assert_int_eq(rdb_chunk_text(t, len, f, &o, &s, n, &err), RAGDB_OK);
	return s;
}

/* Empty and all-space texts give no chunks; chunk_tokens 0 is EINVAL. */
START_TEST(test_chunk_empty)
{
	size_t n = 99;
	rdb_span *s = chunk("", 0, RAGDB_FORMAT_TEXT, 100, 10, &n);
	ck_assert_uint_eq(n, 0);
	rdb_spans_free(s, n);
	s = chunk(" \n\t\r\n  ", 7, RAGDB_FORMAT_MARKDOWN, 100, 10, &n);
	ck_assert_uint_eq(n, 0);
	rdb_spans_free(s, n);
	s = chunk("  word  ", 8, RAGDB_FORMAT_TEXT, 100, 10, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(s[0].start, 2);
	ck_assert_uint_eq(s[0].end, 6);
	ck_assert_ptr_null(s[0].heading);
	rdb_spans_free(s, n);
	rdb_chunk_opts o = { 0, 0 };
	rdb_err err;
	ck_assert_int_eq(rdb_chunk_text("x", 1, RAGDB_FORMAT_TEXT, &o, &s, &n, &err), RAGDB_EINVAL);
}
END_TEST

/* A random document of words, punctuation, line breaks, paragraphs,
 * headings, fences, multi-byte characters and the odd giant word. */
static char *random_doc(unsigned *seed, size_t want, size_t *len)
{
	static const char *const words[] = {
		"the", "retrieval", "of", "Dr.", "e.g.", "chunk", "3.14", "file.txt", "caf\xC3\xA9",
		"\xE6\x96\x87\xE5\xAD\x97", "\xF0\x9F\x98\x80", "a", "end.", "Why?", "ok!", "(note)",
		"\"quoted.\"", "x_y", "--", "|", "#", "```", "na\xC3\xAFve", "internationalization",
	};
	char *t = malloc(want + 4096);
	size_t n = 0;
	while (n < want) {
		int r = (int)(rand_r(seed) % 100);
		const char *w;
		char tmp[1200];
		if (r < 2) {
			w = "\n\n## Heading here\n\n";
		} else if (r < 3) {
			w = "\n```\ncode line one\n\ncode two\n```\n";
		} else if (r < 4) {
			w = "\n| a | b |\n|---|---|\n| 1 | 2 |\n";
		} else if (r < 5) {
			size_t k = 50 + (size_t)(rand_r(seed) % 1000);
			for (size_t i = 0; i < k; i++)
				tmp[i] = (char)('a' + i % 26);
			tmp[k] = 0;
			w = tmp;
		} else if (r < 12) {
			w = (r & 1) ? "\n" : "\n\n";
		} else {
			w = words[(size_t)rand_r(seed) % (sizeof words / sizeof *words)];
		}
		size_t wl = strlen(w);
		memcpy(t + n, w, wl);
		n += wl;
		if (rand_r(seed) % 4)
			t[n++] = ' ';
		else if (rand_r(seed) % 2)
			t[n++] = '\t';
	}
	t[n] = 0;
	*len = n;
	return t;
}

/* The invariants on many random documents, each format, several sizes and
 * overlaps. */
START_TEST(test_chunk_random_invariants)
{
	unsigned seed = 7;
	static const ragdb_format fmts[] = { RAGDB_FORMAT_TEXT, RAGDB_FORMAT_MARKDOWN, RAGDB_FORMAT_CODE };
	static const uint32_t sizes[][2] = { { 1, 0 }, { 5, 1 }, { 20, 3 }, { 64, 8 }, { 200, 30 },
	                                     { 300, 0 } };
	for (int round = 0; round < 60; round++) {
		size_t len;
		char *t = random_doc(&seed, 200 + (size_t)(rand_r(&seed) % 6000), &len);
		for (size_t f = 0; f < 3; f++) {
			for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
				size_t n;
				rdb_span *s = chunk(t, len, fmts[f], sizes[k][0], sizes[k][1], &n);
				ck_assert_uint_gt(n, 0);
				/* one extra token: a forced cut takes at least one character */
				check_spans(t, len, s, n, sizes[k][0] + 1);
				rdb_spans_free(s, n);
			}
		}
		free(t);
	}
}
END_TEST

/* Sizes: chunks of prose are near the target (at least half, except the
 * last), and end at sentence ends when there are no paragraphs. */
START_TEST(test_chunk_sentences_and_size)
{
	size_t cap = 200000, len = 0;
	char *t = malloc(cap);
	unsigned seed = 3;
	while (len < 100000) {
		int words = 5 + (int)(rand_r(&seed) % 15);
		len += (size_t)snprintf(t + len, cap - len, "Sentence");
		for (int i = 0; i < words; i++)
			len += (size_t)snprintf(t + len, cap - len, " word%d", (int)(rand_r(&seed) % 100));
		len += (size_t)snprintf(t + len, cap - len, ". ");
	}
	size_t n;
	rdb_span *s = chunk(t, len, RAGDB_FORMAT_TEXT, 200, 0, &n);
	check_spans(t, len, s, n, 201);
	for (size_t i = 0; i + 1 < n; i++) {
		size_t tk = rdb_token_estimate(t + s[i].start, s[i].end - s[i].start);
		ck_assert_uint_ge(tk, 100);
		ck_assert_msg(t[s[i].end - 1] == '.', "chunk %zu does not end a sentence", i);
		ck_assert(t[s[i].start] == 'S');
	}
	rdb_spans_free(s, n);
	free(t);
}
END_TEST

/* Paragraphs beat sentences: a blank line within the window is taken. */
START_TEST(test_chunk_paragraphs)
{
	char t[4096];
	size_t len = 0;
	for (int p = 0; p < 12; p++) {
		for (int i = 0; i < 6; i++)
			len += (size_t)snprintf(t + len, sizeof t - len, "Para%d has words. ", p);
		len += (size_t)snprintf(t + len, sizeof t - len, "\n\n");
	}
	size_t n;
	rdb_span *s = chunk(t, len, RAGDB_FORMAT_TEXT, 60, 0, &n);
	check_spans(t, len, s, n, 61);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(s[i].start == 0 || t[s[i].start - 1] == '\n', "chunk %zu starts mid-paragraph", i);
		ck_assert(strncmp(t + s[i].end, " \n\n", 3) == 0);
	}
	rdb_spans_free(s, n);
}
END_TEST

/* Markdown: each section starts its own chunk and carries its heading path
 * (ATX and setext, nested levels, a sibling resetting the path); a '#' line
 * inside a fence is not a heading. */
START_TEST(test_chunk_headings)
{
	const char *t =
		"# Guide\n\nIntro text that is long enough to be a chunk on its own right here.\n\n"
		"## Install\n\nRun the installer and wait for it to finish its work completely.\n\n"
		"```sh\n# not a heading\nmake install\n```\n\n"
		"### Linux\n\nUse the package manager of your distribution to get it quickly.\n\n"
		"Usage\n-----\n\nCall the tool with a file name and read the output it prints.\n";
	size_t n;
	rdb_span *s = chunk(t, strlen(t), RAGDB_FORMAT_MARKDOWN, 40, 5, &n);
	check_spans(t, strlen(t), s, n, 41);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(s[0].heading, "Guide");
	ck_assert_str_eq(s[1].heading, "Guide > Install");
	ck_assert_str_eq(s[2].heading, "Guide > Install > Linux");
	ck_assert_str_eq(s[3].heading, "Guide > Usage");
	ck_assert(strncmp(t + s[1].start, "## Install", 10) == 0); /* no overlap across a heading */
	ck_assert(strncmp(t + s[2].start, "### Linux", 9) == 0);
	ck_assert(strncmp(t + s[3].start, "Usage\n---", 9) == 0);
	rdb_spans_free(s, n);

	/* text before the first heading has no path; a lone title line joins
	 * the section after it (a chunk of only headings is trivial) and the
	 * chunk takes the path of the last heading before its body */
	const char *u = "Preamble words here.\n\n# Title\n\n## Sub\n\nBody of the sub section.\n";
	s = chunk(u, strlen(u), RAGDB_FORMAT_MARKDOWN, 40, 0, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_null(s[0].heading);
	ck_assert_str_eq(s[1].heading, "Title > Sub");
	rdb_spans_free(s, n);
}
END_TEST

/* A fenced block and a table that fit in a chunk are never cut; a fence
 * bigger than a chunk is cut at line ends. */
START_TEST(test_chunk_blocks)
{
	char t[20000];
	size_t len = 0;
	for (int rep = 0; rep < 6; rep++) {
		len += (size_t)snprintf(t + len, sizeof t - len,
		                        "Some prose before the block, a few words long. More prose here.\n"
		                        "```c\nint main(void)\n{\n\treturn %d;\n}\n\nstatic int x = 1;\n```\n"
		                        "| col | val |\n|-----|-----|\n| a | %d |\n| b | 2 |\n"
		                        "After the table comes text.\n",
		                        rep, rep);
	}
	for (uint32_t target = 30; target <= 60; target += 7) {
		size_t n;
		rdb_span *s = chunk(t, len, RAGDB_FORMAT_MARKDOWN, target, target / 8, &n);
		check_spans(t, len, s, n, target + 1);
		for (size_t i = 0; i < n; i++) {
			for (size_t b = 0; b < 2; b++) {
				/* a span boundary never falls strictly inside a block */
				size_t at = b ? s[i].end : s[i].start;
				const char *p = t;
				while ((p = strstr(p, "```c")) != NULL) {
					size_t bs = (size_t)(p - t);
					const char *close = strstr(p + 4, "\n```");
					size_t be = (size_t)(close - t) + 4;
					ck_assert_msg(at <= bs || at >= be, "target %u: span %zu %s inside a fence",
					              target, i, b ? "ends" : "starts");
					p = close + 4;
				}
				p = t;
				while ((p = strstr(p, "| col")) != NULL) {
					size_t bs = (size_t)(p - t);
					const char *after = strstr(p, "\nAfter");
					size_t be = (size_t)(after - t);
					ck_assert_msg(at <= bs || at >= be, "target %u: span %zu cuts a table", target, i);
					p = after;
				}
			}
		}
		rdb_spans_free(s, n);
	}

	/* a fence of ~300 tokens with target 50: cut, but only at line ends */
	len = (size_t)snprintf(t, sizeof t, "```\n");
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(t + len, sizeof t - len, "x = f(%d);\n", i);
	len += (size_t)snprintf(t + len, sizeof t - len, "```\n");
	size_t n;
	rdb_span *s = chunk(t, len, RAGDB_FORMAT_MARKDOWN, 50, 0, &n);
	check_spans(t, len, s, n, 51);
	ck_assert_uint_gt(n, 4);
	for (size_t i = 0; i + 1 < n; i++)
		ck_assert_msg(t[s[i].end] == '\n', "span %zu of a big fence not cut at a line end", i);
	rdb_spans_free(s, n);
}
END_TEST

/* Overlap: the next chunk starts before the previous end, on a word start,
 * strictly after the previous start; with overlap 0, chunks are disjoint. */
START_TEST(test_chunk_overlap)
{
	char t[30000];
	size_t len = 0;
	unsigned seed = 11;
	while (len < 25000)
		len += (size_t)snprintf(t + len, sizeof t - len, "w%u ", rand_r(&seed) % 1000);
	size_t n;
	rdb_span *s = chunk(t, len, RAGDB_FORMAT_TEXT, 100, 15, &n);
	check_spans(t, len, s, n, 101);
	for (size_t i = 1; i < n; i++) {
		ck_assert_uint_lt(s[i].start, s[i - 1].end);
		ck_assert(is_ws(t[s[i].start - 1]));
		size_t ov = rdb_token_estimate(t + s[i].start, s[i - 1].end - s[i].start);
		ck_assert_uint_ge(ov, 10);
		ck_assert_uint_le(ov, 15);
	}
	rdb_spans_free(s, n);
	s = chunk(t, len, RAGDB_FORMAT_TEXT, 100, 0, &n);
	for (size_t i = 1; i < n; i++)
		ck_assert_uint_gt(s[i].start, s[i - 1].end);
	rdb_spans_free(s, n);

	/* overlap snaps to a sentence start when one is near */
	len = 0;
	for (int i = 0; i < 200; i++)
		len += (size_t)snprintf(t + len, sizeof t - len, "Alpha beta gamma delta %d. ", i);
	s = chunk(t, len, RAGDB_FORMAT_TEXT, 60, 12, &n);
	check_spans(t, len, s, n, 61);
	for (size_t i = 1; i < n; i++) {
		ck_assert_uint_lt(s[i].start, s[i - 1].end);
		ck_assert_msg(strncmp(t + s[i].start, "Alpha", 5) == 0, "chunk %zu overlap not at a sentence", i);
	}
	rdb_spans_free(s, n);
}
END_TEST

/* A giant word (no spaces at all) is cut on character boundaries into
 * chunks of the target size, ASCII and multi-byte alike. */
START_TEST(test_chunk_giant_word)
{
	size_t len = 100000;
	char *t = malloc(len + 1);
	memset(t, 'a', len);
	t[len] = 0;
	size_t n;
	rdb_span *s = chunk(t, len, RAGDB_FORMAT_TEXT, 50, 10, &n);
	check_spans(t, len, s, n, 51);
	ck_assert_uint_ge(n, len / 200 - 1);
	rdb_spans_free(s, n);
	for (size_t i = 0; i + 3 <= len; i += 3) /* 文文文... */
		memcpy(t + i, "\xE6\x96\x87", 3);
	len -= len % 3;
	s = chunk(t, len, RAGDB_FORMAT_MARKDOWN, 37, 5, &n);
	check_spans(t, len, s, n, 38);
	rdb_spans_free(s, n);
	for (size_t i = 0; i < 9; i++) /* 2-byte characters: é */
		memcpy(t + 2 * i, "\xC3\xA9", 2);
	memset(t + 18, '.', 2000);
	s = chunk(t, 2018, RAGDB_FORMAT_CODE, 5, 1, &n);
	check_spans(t, 2018, s, n, 6);
	rdb_spans_free(s, n);
	free(t);
}
END_TEST

/* CODE: chunks break at blank lines between functions. */
START_TEST(test_chunk_code)
{
	char t[20000];
	size_t len = 0;
	for (int f = 0; f < 20; f++)
		len += (size_t)snprintf(t + len, sizeof t - len,
		                        "static int f%d(int x)\n{\n\tint y = x * %d;\n\treturn y + 1;\n}\n\n", f, f);
	size_t n;
	rdb_span *s = chunk(t, len, RAGDB_FORMAT_CODE, 60, 0, &n);
	check_spans(t, len, s, n, 61);
	for (size_t i = 0; i < n; i++) {
		ck_assert(strncmp(t + s[i].start, "static", 6) == 0);
		ck_assert(t[s[i].end - 1] == '}');
	}
	rdb_spans_free(s, n);
}
END_TEST

/* Arbitrary bytes (invalid UTF-8, NULs, control characters, Markdown
 * marks): no crash, and the coverage/order/trim invariants still hold. */
START_TEST(test_chunk_random_bytes)
{
	static const char alphabet[] = "ab .!?\n\n#|`~-=\t\x80\xC3\xE2\xF0";
	unsigned seed = 5;
	char t[3000];
	g_check_utf8 = 0;
	for (int round = 0; round < 400; round++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof t);
		for (size_t i = 0; i < len; i++)
			t[i] = (rand_r(&seed) % 8) ? alphabet[rand_r(&seed) % (sizeof alphabet - 1)]
			                           : (char)(rand_r(&seed) & 0xFF);
		for (int f = 1; f <= 3; f++) {
			size_t n;
			uint32_t target = 1 + (uint32_t)(rand_r(&seed) % 80);
			rdb_span *s = chunk(t, len, (ragdb_format)f, target, target / 4, &n);
			check_spans(t, len, s, n, 0);
			rdb_spans_free(s, n);
		}
	}
	g_check_utf8 = 1;
}
END_TEST

/* A multi-MiB generated text completes and is covered (no timing). */
START_TEST(test_chunk_big)
{
	unsigned seed = 99;
	size_t len;
	char *t = random_doc(&seed, (size_t)8 << 20, &len);
	size_t n;
	rdb_span *s = chunk(t, len, RAGDB_FORMAT_MARKDOWN, 300, 40, &n);
	check_spans(t, len, s, n, 301);
	rdb_spans_free(s, n);
	free(t);
}
END_TEST

static int man_rec(void *ctx, const rdb_record *r)
{
	size_t *count = ctx;
	const ragdb_format f = (*count % 2) ? RAGDB_FORMAT_TEXT : RAGDB_FORMAT_MARKDOWN;
	size_t n;
	rdb_span *s = chunk(r->text, r->text_len, f, 256, 32, &n);
	check_spans(r->text, r->text_len, s, n, 257);
	rdb_spans_free(s, n);
	return ++*count >= 3000;
}

/* Real text: the manpages corpus, when present (skipped otherwise). */
START_TEST(test_chunk_manpages)
{
	const char *path = "/work/shared/data/manpages/corpus.jsonl";
	if (access(path, R_OK) != 0)
		return;
	char *data;
	size_t len, count = 0;
	rdb_err err;
	ck_assert_int_eq(rdb_read_file(path, &data, &len, &err), RAGDB_OK);
	int st = rdb_jsonl_each(data, len, NULL, 1, man_rec, NULL, &count, &err);
	ck_assert(st == RAGDB_OK || st == RAGDB_EINTR);
	ck_assert_uint_gt(count, 0);
	free(data);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ingest_chunker");
	TCase *tc = tcase_create("chunker");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_chunk_empty);
	tcase_add_test(tc, test_chunk_random_invariants);
	tcase_add_test(tc, test_chunk_sentences_and_size);
	tcase_add_test(tc, test_chunk_paragraphs);
	tcase_add_test(tc, test_chunk_headings);
	tcase_add_test(tc, test_chunk_blocks);
	tcase_add_test(tc, test_chunk_overlap);
	tcase_add_test(tc, test_chunk_giant_word);
	tcase_add_test(tc, test_chunk_code);
	tcase_add_test(tc, test_chunk_random_bytes);
	tcase_add_test(tc, test_chunk_big);
	tcase_add_test(tc, test_chunk_manpages);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
