/* tests/unit/test_providers_text_sentence.c — sentence boundaries and the
 * token estimate. */
#include <stdlib.h>
#include <string.h>

#include "engine/providers/text.h"
#include "testutil.h"

typedef struct sent_case {
	const char *text;
	const char *first; /* the first sentence, as rdb_sentence_end(text, 0) cuts it */
} sent_case;

static const sent_case k_sent[] = {
	{ "Hello world. Next one.", "Hello world." },
	{ "Is it? Yes.", "Is it?" },
	{ "Wow! Great.", "Wow!" },
	{ "What?! No.", "What?!" },
	{ "No end here", "No end here" },
	{ "", "" },
	{ "Dr. Smith arrived. He sat.", "Dr. Smith arrived." },
	{ "Mr. and Mrs. Jones left. Then", "Mr. and Mrs. Jones left." },
	{ "See Fig. 3 for details. Then", "See Fig. 3 for details." },
	{ "Apples, pears, etc. Are fruits. X", "Apples, pears, etc. Are fruits." },
	{ "Use e.g. This one. X", "Use e.g. This one." },
	{ "That is, i.e. Nothing. X", "That is, i.e. Nothing." },
	{ "Smith vs. Jones was tried. X", "Smith vs. Jones was tried." },
	{ "J. R. R. Tolkien wrote it. X", "J. R. R. Tolkien wrote it." },
	{ "The U.S. Army is big. X", "The U.S. Army is big." },
	{ "Pi is 3.14 roughly. X", "Pi is 3.14 roughly." },
	{ "Open file.txt now. X", "Open file.txt now." },
	{ "Call os.path.join here. X", "Call os.path.join here." },
	{ "Wait... what happened? X", "Wait... what happened?" },
	{ "Wait... Then it fell. X", "Wait..." },
	{ "He said \"Stop.\" Then left.", "He said \"Stop.\"" },
	{ "(It was late.) Then we left.", "(It was late.)" },
	{ "lowercase after. continues here. X", "lowercase after. continues here." },
	{ "Born in Jan. 1990 he was. X", "Born in Jan. 1990 he was." },
	{ "It was 5 p.m. Everyone left. X", "It was 5 p.m. Everyone left." },
	{ "I said no. Then I left.", "I said no." },
	{ "Section 2. Results follow.", "Section 2." },
	{ "A heading\n\nA paragraph.", "A heading" },
	{ "line one\nline two. Next", "line one\nline two." },
	{ "Version 1.2.3 is out. X", "Version 1.2.3 is out." },
	{ "\xE6\x96\x87\xE3\x80\x82\xE6\x96\x87", "\xE6\x96\x87\xE3\x80\x82" }, /* 文。文 */
	{ "Caf\xC3\xA9 closed. \xC3\x89t\xC3\xA9 came.", "Caf\xC3\xA9 closed." },  /* É */
	{ "It ends.\n\n", "It ends.\n\n" },
	{ "Numbered:\n1. First item", "Numbered:\n1. First item" },
};

/* Each case: the first sentence of the text. */
START_TEST(test_sentence_table)
{
	for (size_t i = 0; i < sizeof k_sent / sizeof *k_sent; i++) {
		const char *t = k_sent[i].text;
		size_t e = rdb_sentence_end(t, strlen(t), 0);
		size_t want = strlen(k_sent[i].first);
		ck_assert_msg(e == want, "case %zu \"%s\": ended at %zu, want %zu (\"%s\")", i, t, e, want,
		              k_sent[i].first);
	}
}
END_TEST

/* Walking sentence by sentence from each end covers the text in order and
 * always advances. */
START_TEST(test_sentence_walk)
{
	const char *t = "One. Two is here! Three? Dr. Four lives. Five\n\nSix.";
	size_t len = strlen(t), from = 0, n = 0;
	size_t want[] = { 4, 17, 24, 40, 45, 51 };
	while (from < len) {
		size_t e = rdb_sentence_end(t, len, from);
		ck_assert_uint_gt(e, from);
		ck_assert_uint_lt(n, 6);
		ck_assert_uint_eq(e, want[n]);
		n++;
		from = e;
		while (from < len && strchr(" \n", t[from]))
			from++;
	}
	ck_assert_uint_eq(n, 6);
}
END_TEST

/* The token estimate: zero for blank text, about one per short word and per
 * punctuation mark, long words in pieces of four bytes, CJK per character,
 * and additive over whitespace-separated pieces. */
START_TEST(test_token_estimate)
{
	ck_assert_uint_eq(rdb_token_estimate("", 0), 0);
	ck_assert_uint_eq(rdb_token_estimate(" \n\t ", 4), 0);
	ck_assert_uint_eq(rdb_token_estimate("the cat sat", 11), 3);
	ck_assert_uint_eq(rdb_token_estimate("Hello, world!", 13), 6); /* Hello=2 ,=1 world=2 !=1 */
	ck_assert_uint_eq(rdb_token_estimate("internationalization", 20), 5);
	ck_assert_uint_eq(rdb_token_estimate("----------------", 16), 4);
	ck_assert_uint_eq(rdb_token_estimate("\xE6\x96\x87\xE5\xAD\x97", 6), 2); /* 文字 */
	const char *t = "The quick brown fox, jumping over 13 lazy dogs; e.g. this.";
	size_t whole = rdb_token_estimate(t, strlen(t)), sum = 0;
	const char *p = t;
	while (*p) {
		size_t n = strcspn(p, " ");
		sum += rdb_token_estimate(p, n);
		p += n;
		while (*p == ' ')
			p++;
	}
	ck_assert_uint_eq(whole, sum);
	/* English prose (22 words): a BPE tokenizer gives about 26; the estimate
	 * errs high (ceil(bytes/4) per word), never wildly */
	const char *prose = "Retrieval augmented generation combines a search index with a "
	                    "language model, so that answers can cite the passages they rely on.";
	size_t tk = rdb_token_estimate(prose, strlen(prose));
	ck_assert_uint_ge(tk, 20);
	ck_assert_uint_le(tk, 40);
}
END_TEST

/* Arbitrary bytes: the end is always past the start (or the text end) and
 * within the text; walking sentence by sentence terminates. */
START_TEST(test_sentence_random)
{
	static const char alphabet[] = "aZ .!?\"')\n\t1\xE2\x80\xA6\xE3\x82\xC3";
	unsigned seed = 17;
	char t[500];
	for (int round = 0; round < 3000; round++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof t);
		for (size_t i = 0; i < len; i++)
			t[i] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
		size_t from = 0, steps = 0;
		while (from < len) {
			size_t e = rdb_sentence_end(t, len, from);
			ck_assert_uint_le(e, len);
			ck_assert(e > from || e == len);
			from = e > from ? e : from + 1;
			ck_assert_uint_le(++steps, len + 1);
		}
		(void)rdb_token_estimate(t, len);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("providers_text_sentence");
	TCase *tc = tcase_create("sentence");
	tcase_add_test(tc, test_sentence_table);
	tcase_add_test(tc, test_sentence_walk);
	tcase_add_test(tc, test_token_estimate);
	tcase_add_test(tc, test_sentence_random);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
