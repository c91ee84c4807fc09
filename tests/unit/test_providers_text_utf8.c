/* tests/unit/test_providers_text_utf8.c — UTF-8 repair and the binary sniff. */
#include <stdlib.h>
#include <string.h>

#include "engine/providers/text.h"
#include "testutil.h"

#define R "\xEF\xBF\xBD" /* U+FFFD */

typedef struct repair_case {
	const char *in;
	size_t len;
	const char *want; /* NULL: valid, left alone */
	size_t replaced;
} repair_case;

#define C(s, w, n) { s, sizeof(s) - 1, w, n }

static const repair_case k_cases[] = {
	C("", NULL, 0),
	C("plain ascii", NULL, 0),
	C("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", NULL, 0),          /* é € 😀 */
	C("\xED\x9F\xBF\xEE\x80\x80\xF4\x8F\xBF\xBF", NULL, 0),          /* U+D7FF U+E000 U+10FFFF */
	C("a\x00" "b", "a" R "b", 1),                                    /* NUL */
	C("\x80", R, 1),                                                 /* lone continuation */
	C("\xC0\x80", R R, 2),                                           /* overlong NUL */
	C("\xC1\xBF", R R, 2),                                           /* overlong */
	C("\xE0\x80\xAF", R R R, 3),                                     /* overlong '/' */
	C("\xE0\x9F\xBF", R R R, 3),                                     /* overlong < U+0800 */
	C("\xF0\x8F\xBF\xBF", R R R R, 4),                               /* overlong < U+10000 */
	C("\xED\xA0\x80", R R R, 3),                                     /* surrogate D800 */
	C("\xED\xBF\xBF", R R R, 3),                                     /* surrogate DFFF */
	C("\xF4\x90\x80\x80", R R R R, 4),                               /* > U+10FFFF */
	C("\xF5\x80\x80\x80", R R R R, 4),                               /* invalid lead */
	C("\xFF", R, 1),
	C("x\xE2\x82", "x" R, 1),                                        /* truncated at end */
	C("\xE2\x82x", R "x", 1),                                        /* truncated mid-text */
	C("\xF0\x9F\x98", R, 1),                                         /* truncated 4-byte */
	C("\xC3" "abc", R "abc", 1),
	C("12345678\xC3\xA9" "9\xFF" "abcdefghijk", "12345678\xC3\xA9" "9" R "abcdefghijk", 1),
	C("\xE2\x82\xAC\xE2\x82", "\xE2\x82\xAC" R, 1),
};

/* Each case: count of replacements and the repaired bytes; valid input gives
 * 0 and *out NULL. */
START_TEST(test_repair_table)
{
	for (size_t i = 0; i < sizeof k_cases / sizeof *k_cases; i++) {
		const repair_case *c = &k_cases[i];
		char *out = (char *)1;
		size_t olen = 12345;
		size_t n = rdb_utf8_repair(c->in, c->len, &out, &olen);
		ck_assert_msg(n == c->replaced, "case %zu: %zu replacements, want %zu", i, n, c->replaced);
		if (!c->want) {
			ck_assert_msg(out == NULL, "case %zu: valid input was copied", i);
		} else {
			ck_assert_ptr_nonnull(out);
			ck_assert_msg(olen == strlen(c->want) && memcmp(out, c->want, olen) == 0,
			              "case %zu: wrong repair", i);
			ck_assert_int_eq(out[olen], 0);
			/* the repaired text is itself valid */
			char *again = NULL;
			size_t alen;
			ck_assert_uint_eq(rdb_utf8_repair(out, olen, &again, &alen), 0);
			ck_assert_ptr_null(again);
		}
		free(out == (char *)1 ? NULL : out);
	}
}
END_TEST

/* Random bytes: repair always yields valid UTF-8 of the predicted length. */
START_TEST(test_repair_random)
{
	unsigned seed = 12345;
	char buf[300];
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof buf);
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)(rand_r(&seed) & 0xFF);
		char *out = NULL;
		size_t olen = 0, n = rdb_utf8_repair(buf, len, &out, &olen);
		ck_assert(n != (size_t)-1);
		if (n == 0) {
			ck_assert_ptr_null(out);
			continue;
		}
		char *again = NULL;
		size_t alen;
		ck_assert_uint_eq(rdb_utf8_repair(out, olen, &again, &alen), 0);
		ck_assert_uint_eq(strlen(out), olen); /* no NUL left inside */
		free(out);
	}
}
END_TEST

/* Binary sniff: NUL, control-heavy data, text with tabs and CRLF, empty. */
START_TEST(test_looks_binary)
{
	ck_assert(!rdb_looks_binary("", 0));
	ck_assert(!rdb_looks_binary("hello\tworld\r\n\f", 14));
	ck_assert(!rdb_looks_binary("caf\xC3\xA9", 5));
	ck_assert(rdb_looks_binary("ab\0cd", 5));
	ck_assert(rdb_looks_binary("\x01\x02\x03hello", 8));   /* 3/8 control */
	ck_assert(!rdb_looks_binary("\x1b[1mbold text here", 18)); /* 1/18 */
	/* a NUL past the first 8 KiB is not looked at */
	char *big = malloc(9000);
	memset(big, 'a', 9000);
	big[8500] = 0;
	ck_assert(!rdb_looks_binary(big, 9000));
	big[100] = 0;
	ck_assert(rdb_looks_binary(big, 9000));
	free(big);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("providers_text_utf8");
	TCase *tc = tcase_create("utf8");
	tcase_add_test(tc, test_repair_table);
	tcase_add_test(tc, test_repair_random);
	tcase_add_test(tc, test_looks_binary);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
