/* tests/unit/test_ingest_chunker_structure.c — the chunker on structure:
 * Markdown tables split between rows with the header repeated, code split
 * at top-level boundaries (after a closing "}" line, before a "def"), and
 * sentence ends that abbreviations and decimals do not fake. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/providers/text.h"
#include "ingest/ingest.h"
#include "testutil.h"

static rdb_span *chunk(const char *t, ragdb_format f, uint32_t tokens, uint32_t overlap, size_t *n)
{
	rdb_chunk_opts o = { tokens, overlap };
	rdb_span *s = NULL;
	rdb_err e;
	ck_assert_int_eq(rdb_chunk_text(t, strlen(t), f, &o, &s, n, &e), RAGDB_OK);
	return s;
}

/* A table bigger than a chunk: every chunk is within the size (header
 * included), ends at a row end, and each chunk that continues the table
 * carries the header row and delimiter row in front of its rows, its
 * range still being the rows alone; a table that fits stays one chunk. */
START_TEST(test_table_split_repeats_header)
{
	char doc[16384];
	size_t o = (size_t)snprintf(doc, sizeof doc, "# Prices\n\nThe list follows.\n\n"
	                                             "| Item | Price | Stock |\n|---|---:|---|\n");
	for (int i = 0; i < 60; i++)
		o += (size_t)snprintf(doc + o, sizeof doc - o, "| widget %d | %d.50 | yes |\n", i, i);
	snprintf(doc + o, sizeof doc - o, "\nAfter the table.\n");
	size_t n;
	rdb_span *s = chunk(doc, RAGDB_FORMAT_MARKDOWN, 64, 8, &n);
	ck_assert_uint_ge(n, 4);
	const char *hdr = "| Item | Price | Stock |\n|---|---:|---|\n";
	int continued = 0;
	for (size_t i = 0; i < n; i++) {
		const char *t = s[i].text ? s[i].text : doc + s[i].start;
		size_t tl = s[i].text ? s[i].text_len : s[i].end - s[i].start;
		ck_assert_uint_le(rdb_token_estimate(t, tl), 65);
		if (!s[i].text)
			continue;
		continued++;
		ck_assert_uint_eq(strlen(s[i].text), s[i].text_len);
		ck_assert_msg(strncmp(s[i].text, hdr, strlen(hdr)) == 0, "chunk %zu: %s", i, s[i].text);
		/* the range is the suffix: the rows */
		size_t rl = s[i].end - s[i].start;
		ck_assert_uint_eq(s[i].text_len, strlen(hdr) + rl);
		ck_assert(memcmp(s[i].text + strlen(hdr), doc + s[i].start, rl) == 0);
		ck_assert(strncmp(doc + s[i].start, "| widget", 8) == 0);
		ck_assert_str_eq(s[i].heading, "Prices");
		/* rows are whole: the range ends at a row's end (or the table's) */
		ck_assert(doc[s[i].end - 1] == '|' || doc[s[i].end] == '\n');
	}
	ck_assert_int_ge(continued, 3);
	rdb_spans_free(s, n);

	/* fits: one chunk, its plain range */
	const char *small = "# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n";
	s = chunk(small, RAGDB_FORMAT_MARKDOWN, 64, 8, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_null(s[0].text);
	rdb_spans_free(s, n);
}
END_TEST

/* Code: the cut falls at a top-level boundary (after a function's closing
 * "}"; before a Python "def") rather than at a blank line inside a
 * function, when both are past half the chunk. */
START_TEST(test_code_boundaries)
{
	const char *c_src =
		"int first(int x)\n{\n\tint a = x + 1;\n\tint b = a * 2;\n\n\tint c = b - 3;\n\treturn c;\n}\n"
		"int second(int y)\n{\n\tint d = y * y;\n\n\treturn d + 1;\n}\n";
	size_t n;
	rdb_span *s = chunk(c_src, RAGDB_FORMAT_CODE, 40, 0, &n);
	ck_assert_uint_ge(n, 2);
	ck_assert_msg(c_src[s[0].end - 1] == '}' && strncmp(c_src + s[1].start, "int second", 10) == 0,
	              "first chunk ends at: %.*s", (int)(s[0].end - s[0].start), c_src + s[0].start);
	rdb_spans_free(s, n);

	const char *py =
		"import os\n\ndef load(path):\n    data = open(path).read()\n\n    return data.split()\n"
		"def save(path, words):\n    with open(path, 'w') as f:\n        f.write(' '.join(words))\n";
	s = chunk(py, RAGDB_FORMAT_CODE, 36, 0, &n);
	ck_assert_uint_ge(n, 2);
	int at_def = 0;
	for (size_t i = 1; i < n; i++)
		at_def |= strncmp(py + s[i].start, "def save", 8) == 0;
	ck_assert(at_def);
	rdb_spans_free(s, n);
}
END_TEST

/* Sentences: a cut between sentences never lands after "Dr.", "e.g." or
 * inside "3.14". */
START_TEST(test_sentence_cuts)
{
	const char *t = "Dr. Smith measured 3.14 metres of rope for the expedition. "
	                "He then packed tools, e.g. a hammer and nails, into the bag. "
	                "The team left at dawn and reached the ridge by noon.";
	size_t n;
	for (uint32_t size = 16; size <= 40; size += 4) {
		rdb_span *s = chunk(t, RAGDB_FORMAT_TEXT, size, 0, &n);
		ck_assert_uint_ge(n, 2);
		for (size_t i = 0; i + 1 < n; i++) {
			ck_assert(strncmp(t + s[i].end - 3, "Dr.", 3) != 0);
			ck_assert(strncmp(t + s[i].end - 4, "e.g.", 4) != 0);
			ck_assert(strncmp(t + s[i].end - 1, "3", 1) != 0);
		}
		rdb_spans_free(s, n);
	}
	/* room for a sentence: the first chunk is exactly the first one */
	rdb_span *s = chunk(t, RAGDB_FORMAT_TEXT, 24, 0, &n);
	ck_assert_msg(strncmp(t + s[0].end - 11, "expedition.", 11) == 0, "first chunk: %.*s",
	              (int)(s[0].end - s[0].start), t + s[0].start);
	rdb_spans_free(s, n);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ingest_chunker_structure");
	TCase *tc = tcase_create("structure");
	tcase_add_test(tc, test_table_split_repeats_header);
	tcase_add_test(tc, test_code_boundaries);
	tcase_add_test(tc, test_sentence_cuts);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
