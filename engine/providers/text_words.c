/*
 * engine/providers/text_words.c — the word iterator (rdb_words_*): splits
 * UTF-8 text into words and writes each one NFKC-normalised and case-folded.
 *
 * It runs over every byte ingested (the embedder and the BM25 postings both
 * read words through it), so ASCII takes a table-driven fast path and only
 * words containing non-ASCII code points go through utf8proc.
 *
 * Invariants:
 *  1. w->p stays at the start of the text for the whole iteration and the
 *     scan resumes at byte offset w->stop (the end of the previous word), so
 *     start/stop are offsets from the text's start without a third pointer
 *     in the struct.
 *  2. A word is a maximal run of code points of category L*, M*, N* or '_'.
 *     Default-ignorable format characters (soft hyphen, zero-width space and
 *     joiners, word joiner, BOM) inside a word continue it and are dropped
 *     from the normalised form, so "hyphen\u00ADation" is one word.
 *  3. Invalid UTF-8 ends a word and is skipped, one byte at a time; the
 *     word's range never includes an invalid byte.
 *  4. buf holds at most 255 bytes and always ends on a code point boundary;
 *     [start, stop) always covers the whole word, however long.
 */
#include "engine/providers/text.h"

#include <stdbool.h>
#include <string.h>
#include <utf8proc.h>

/* ASCII word bytes map to their lowercase form; separators map to 0. */
static const unsigned char ascii_word[128] = {
	['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
	['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
	['_'] = '_',
	['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f',
	['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l',
	['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r',
	['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x',
	['Y'] = 'y', ['Z'] = 'z',
	['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f',
	['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l',
	['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r',
	['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x',
	['y'] = 'y', ['z'] = 'z',
};

#define WORD_MAX 255 /* bytes of a word kept in buf (sizeof buf - 1) */

/* NFKC + case folding; IGNORE drops the default-ignorables of invariant 2. */
#define NORM_OPTIONS (UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | \
                      UTF8PROC_CASEFOLD | UTF8PROC_IGNORE)

static bool is_word_cp(utf8proc_int32_t cp)
{
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
	case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
		return true;
	default:
		return false;
	}
}

static bool is_ignorable_joiner(utf8proc_int32_t cp)
{
	return cp == 0x00AD || (cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 || cp == 0xFEFF;
}

/* Length of the longest prefix of @p s (n bytes of UTF-8) that ends on a
 * code point boundary and fits in @p cap bytes. */
static size_t utf8_cut(const unsigned char *s, size_t n, size_t cap)
{
	if (n <= cap)
		return n;
	size_t k = cap;
	while (k > 0 && (s[k] & 0xC0) == 0x80)
		k--;
	return k;
}

/* Normalise the word bytes [s, s+n) (valid UTF-8, n <= WORD_MAX) into
 * w->buf. Any code point decomposes into at most 18 under NFKC + case
 * folding, so 18 * WORD_MAX code points always suffice. */
static void normalise_into(rdb_words *w, const unsigned char *s, size_t n)
{
	utf8proc_int32_t cps[18 * WORD_MAX];
	utf8proc_ssize_t m = utf8proc_decompose(s, (utf8proc_ssize_t)n, cps,
	                                        (utf8proc_ssize_t)(sizeof cps / sizeof cps[0]),
	                                        NORM_OPTIONS);
	if (m < 0 || (size_t)m > sizeof cps / sizeof cps[0]) {
		/* NEVER: the bound above holds for Unicode as utf8proc 2.x knows
		 * it; fall back to the raw bytes rather than lose the word. */
		memcpy(w->buf, s, n);
		w->len = n;
		w->buf[n] = 0;
		return;
	}
	/* reencode composes in place and writes UTF-8 over the same buffer,
	 * which is 4x larger than the code point count in bytes. */
	utf8proc_ssize_t bytes = utf8proc_reencode(cps, m, NORM_OPTIONS);
	const unsigned char *u = (const unsigned char *)cps;
	size_t k = bytes > 0 ? utf8_cut(u, (size_t)bytes, WORD_MAX) : 0;
	memcpy(w->buf, u, k);
	w->len = k;
	w->buf[k] = 0;
}

void rdb_words_init(rdb_words *w, const char *text, size_t len)
{
	w->p = text;
	w->end = text + len;
	w->buf[0] = 0;
	w->len = 0;
	w->start = 0;
	w->stop = 0;
}

int rdb_words_next(rdb_words *w)
{
	const unsigned char *base = (const unsigned char *)w->p;
	const unsigned char *end = (const unsigned char *)w->end;
	const unsigned char *s = base + w->stop;
	utf8proc_int32_t cp;

again:
	/* Skip separators and invalid bytes up to the first word code point. */
	for (;;) {
		if (s >= end) {
			w->start = w->stop = (size_t)(end - base);
			w->len = 0;
			w->buf[0] = 0;
			return 0;
		}
		unsigned char c = *s;
		if (c < 0x80) {
			if (ascii_word[c])
				break;
			s++;
			continue;
		}
		utf8proc_ssize_t n = utf8proc_iterate(s, end - s, &cp);
		if (n < 0) {
			s++;
			continue;
		}
		if (is_word_cp(cp))
			break;
		s += n;
	}

	const unsigned char *start = s;
	size_t out = 0;
	bool ascii = true;
	while (s < end) {
		unsigned char c = *s;
		if (c < 0x80) {
			unsigned char l = ascii_word[c];
			if (!l)
				break;
			if (out < WORD_MAX)
				w->buf[out++] = (char)l;
			s++;
			continue;
		}
		utf8proc_ssize_t n = utf8proc_iterate(s, end - s, &cp);
		if (n < 0 || !(is_word_cp(cp) || is_ignorable_joiner(cp)))
			break;
		ascii = false;
		s += n;
	}

	w->start = (size_t)(start - base);
	w->stop = (size_t)(s - base);
	if (ascii) {
		w->buf[out] = 0;
		w->len = out;
	} else {
		size_t n = (size_t)(s - start);
		normalise_into(w, start, utf8_cut(start, n, WORD_MAX));
		/* A run of only ignorable marks (variation selectors, the
		 * grapheme joiner) normalises to nothing: not a word. */
		if (w->len == 0)
			goto again;
	}
	return 1;
}
