/* tests/unit/test_providers_words.c — the word iterator (rdb_words_*):
 * splitting, normalisation (NFKC + case folding), byte offsets, invalid
 * UTF-8 and long words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/providers/text.h"
#include "testutil.h"

/* Collect the words of @p text as "w1|w2|..." and their ranges "s-e,...". */
static void words_of(const char *text, size_t len, char *out, size_t cap, char *ranges,
                     size_t rcap)
{
	rdb_words w;
	size_t o = 0, r = 0;
	out[0] = 0;
	if (ranges)
		ranges[0] = 0;
	rdb_words_init(&w, text, len);
	while (rdb_words_next(&w)) {
		ck_assert_uint_eq(strlen(w.buf), w.len);
		o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "|" : "", w.buf);
		if (ranges)
			r += (size_t)snprintf(ranges + r, rcap - r, "%s%zu-%zu", r ? "," : "", w.start,
			                      w.stop);
		ck_assert_uint_lt(o, cap);
	}
}

#define CHECK_WORDS(text, expect)                                                    \
	do {                                                                             \
		char got_[1024];                                                             \
		words_of(text, strlen(text), got_, sizeof got_, NULL, 0);                   \
		ck_assert_str_eq(got_, expect);                                              \
	} while (0)

/* ASCII splitting on punctuation and spaces, lowercasing, digits and '_'
 * inside words. */
START_TEST(test_ascii)
{
	CHECK_WORDS("Hello, World! rotate_keys v2.0 -- x86-64", "hello|world|rotate_keys|v2|0|x86|64");
	CHECK_WORDS("", "");
	CHECK_WORDS("   ...  ", "");
	CHECK_WORDS("ABC", "abc");
	CHECK_WORDS("_", "_");
	CHECK_WORDS("3.14 1,000", "3|14|1|000");
}
END_TEST

/* Case folding beyond lowercasing, NFKC compatibility forms, composed and
 * decomposed accents giving the same bytes. */
START_TEST(test_unicode_normalisation)
{
	CHECK_WORDS("Straße STRASSE", "strasse|strasse");
	CHECK_WORDS("Café CAFÉ", "café|café");
	CHECK_WORDS("Cafe\xCC\x81", "café"); /* e + combining acute -> é */
	CHECK_WORDS("\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3", "abc"); /* fullwidth ＡＢＣ */
	CHECK_WORDS("\xEF\xAC\x81le", "file");                     /* ﬁ ligature */
	CHECK_WORDS("x\xC2\xB2", "x2");                             /* superscript two */
	CHECK_WORDS("ΣΊΣΥΦΟΣ", "σίσυφοσ");
	CHECK_WORDS("hyphen\xC2\xAD" "ation", "hyphenation");       /* soft hyphen */
}
END_TEST

/* Scripts without spaces: a CJK run is one word; Cyrillic and mixed
 * scripts split on punctuation like ASCII. */
START_TEST(test_cjk_and_scripts)
{
	CHECK_WORDS("東京タワー、大阪", "東京タワー|大阪");
	CHECK_WORDS("Привет, МИР", "привет|мир");
	CHECK_WORDS("naïve—café", "naïve|café"); /* em dash separates */
}
END_TEST

/* Byte offsets: start/stop cover the word in the original text, even when
 * the normalised form has another length. */
START_TEST(test_offsets)
{
	char got[256], ranges[256];
	const char *t = "  Straße, ok\tÉté!";
	words_of(t, strlen(t), got, sizeof got, ranges, sizeof ranges);
	ck_assert_str_eq(got, "strasse|ok|été");
	ck_assert_str_eq(ranges, "2-9,11-13,14-19");
}
END_TEST

/* Invalid UTF-8 ends a word and is skipped; the ranges never include the
 * invalid bytes; a truncated sequence at the end is skipped too. */
START_TEST(test_invalid_utf8)
{
	char got[256], ranges[256];
	const char t[] = "ab\xFF" "cd \xC3(x \xE2\x82";
	words_of(t, sizeof t - 1, got, sizeof got, ranges, sizeof ranges);
	ck_assert_str_eq(got, "ab|cd|x");
	ck_assert_str_eq(ranges, "0-2,3-5,8-9");
	/* Length is honoured: no reading past len even without a NUL. */
	words_of("hello world", 5, got, sizeof got, NULL, 0);
	ck_assert_str_eq(got, "hello");
}
END_TEST

/* Words over 255 bytes: buf is truncated (on a code point boundary for
 * multi-byte text), the range covers the whole word, the next word is
 * found. */
START_TEST(test_long_words)
{
	char *t = malloc(2000);
	memset(t, 'A', 1000);
	memcpy(t + 1000, " tail", 6);
	rdb_words w;
	rdb_words_init(&w, t, strlen(t));
	ck_assert_int_eq(rdb_words_next(&w), 1);
	ck_assert_uint_eq(w.len, 255);
	ck_assert_uint_eq(w.start, 0);
	ck_assert_uint_eq(w.stop, 1000);
	ck_assert_int_eq(w.buf[0], 'a');
	ck_assert_int_eq(rdb_words_next(&w), 1);
	ck_assert_str_eq(w.buf, "tail");
	ck_assert_int_eq(rdb_words_next(&w), 0);
	ck_assert_int_eq(rdb_words_next(&w), 0); /* stays at the end */

	/* 600 bytes of 'é' (2 bytes each): buf ends on a whole code point. */
	size_t o = 0;
	for (int i = 0; i < 300; i++) {
		t[o++] = (char)0xC3;
		t[o++] = (char)0xA9;
	}
	rdb_words_init(&w, t, o);
	ck_assert_int_eq(rdb_words_next(&w), 1);
	ck_assert_uint_le(w.len, 255);
	ck_assert_uint_eq(w.len % 2, 0);
	ck_assert_uint_eq(w.stop, o);
	ck_assert_int_eq(rdb_words_next(&w), 0);
	free(t);
}
END_TEST

/* Every byte string, including random garbage, iterates without reading
 * out of bounds and yields non-empty words inside the input, in order. */
START_TEST(test_random_bytes)
{
	unsigned seed = 12345;
	char t[512];
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(round % 512);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			t[i] = (char)(seed >> 16);
		}
		rdb_words w;
		size_t last = 0;
		rdb_words_init(&w, t, len);
		while (rdb_words_next(&w)) {
			ck_assert_uint_gt(w.len, 0);
			ck_assert_uint_ge(w.start, last);
			ck_assert_uint_gt(w.stop, w.start);
			ck_assert_uint_le(w.stop, len);
			last = w.stop;
		}
	}
}
END_TEST

static Suite *words_suite(void)
{
	Suite *s = suite_create("providers_words");
	TCase *tc = tcase_create("words");
	tcase_add_test(tc, test_ascii);
	tcase_add_test(tc, test_unicode_normalisation);
	tcase_add_test(tc, test_cjk_and_scripts);
	tcase_add_test(tc, test_offsets);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_long_words);
	tcase_add_test(tc, test_random_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(words_suite());
}
