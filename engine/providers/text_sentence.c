/*
 * engine/providers/text_sentence.c — a cheap token count and sentence
 * boundaries, shared by the chunker and the extractive answerer.
 *
 * Both are heuristics tuned for English prose and Markdown; they make one
 * forward pass, never allocate, and read no byte outside [text, text+len).
 */
#include "engine/providers/text.h"

#include <string.h>
#include <utf8proc.h>

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* A BPE tokenizer turns common English words into one token and splits long
 * or rare ones into pieces of about four bytes; punctuation is a token per
 * mark, but runs of one mark ("----", "====") merge. Characters of three or
 * more UTF-8 bytes (CJK, emoji) are about a token each. On English prose
 * this errs high by 20-40% (a BPE vocabulary holds most common words whole),
 * which is the safe side for a model's context limit. Whitespace is free:
 * counts are additive over pieces split at whitespace, which the chunker
 * relies on. */
size_t rdb_token_estimate(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n = 0, i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (is_space(c)) {
			i++;
		} else if (is_alnum(c) || (c >= 0x80 && c < 0xE0)) {
			/* letters, digits and 1-2 byte UTF-8 (Latin, Greek, Cyrillic...) */
			size_t j = i + 1;
			while (j < len && (is_alnum(s[j]) || (s[j] >= 0x80 && s[j] < 0xE0)))
				j++;
			n += (j - i + 3) / 4;
			i = j;
		} else if (c >= 0xE0) {
			size_t j = i + 1;
			while (j < len && (s[j] & 0xC0) == 0x80 && j - i < 4)
				j++;
			n++;
			i = j;
		} else {
			size_t j = i + 1;
			while (j < len && s[j] == c)
				j++;
			n += (j - i + 3) / 4;
			i = j;
		}
	}
	return n;
}

/* Abbreviations that take a dot and rarely end a sentence; compared with
 * the word's case as written (so "no." at the end of a sentence still ends
 * it, while "No. 5" does not). */
static const char *const k_abbrev[] = {
	"Mr", "Mrs", "Ms", "Dr", "Prof", "Sr", "Jr", "St", "Mt", "Rev", "Gen", "Gov", "Sen", "Rep",
	"vs", "Vs", "etc", "cf", "Cf", "al", "approx", "Approx", "ca", "resp",
	"Fig", "fig", "Figs", "Eq", "eq", "Eqs", "No", "Nos", "Vol", "vol", "pp", "Ch", "ch", "Sec",
	"sec", "Ref", "ref", "Ed", "ed", "eds", "Inc", "Ltd", "Co", "Corp", "Bros", "Dept", "Univ",
	"Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
	"e.g", "E.g", "i.e", "I.e", "viz", "ibid", "Ibid", "op", "cit",
};

/* Whether the word that ends just before the dot at text[dot] (letters and
 * inner dots) is an abbreviation or an initial: "Dr", "e.g", "J", "U.S". */
static int dot_is_abbrev(const unsigned char *s, size_t dot)
{
	size_t b = dot;
	while (b > 0 && dot - b < 16 &&
	       (((s[b - 1] | 0x20) >= 'a' && (s[b - 1] | 0x20) <= 'z') || s[b - 1] == '.'))
		b--;
	while (b < dot && s[b] == '.')
		b++;
	size_t n = dot - b;
	if (n == 0)
		return 0;
	if (b > 0 && (is_alnum(s[b - 1]) || s[b - 1] >= 0x80))
		return 0; /* the word is longer than we looked: not an abbreviation */
	if (n == 1 && s[b] >= 'A' && s[b] <= 'Z')
		return 1; /* an initial: "J. Smith" */
	if (n <= 6) { /* the longest entry */
		for (size_t k = 0; k < sizeof k_abbrev / sizeof *k_abbrev; k++)
			if (k_abbrev[k][0] == s[b] && strncmp(k_abbrev[k], (const char *)s + b, n) == 0 &&
			    k_abbrev[k][n] == 0)
				return 1;
	}
	/* single letters joined by dots: "U.S", "a.m", "Ph.D" is not one of them */
	int letters_only = n >= 3;
	for (size_t k = 0; k < n && letters_only; k++)
		letters_only = (k % 2 == 0) ? s[b + k] != '.' : s[b + k] == '.';
	return letters_only;
}

/* Whether the dot at s[dot] ends a list marker "12." that opens a line. */
static int list_marker(const unsigned char *s, size_t dot)
{
	size_t b = dot;
	while (b > 0 && dot - b < 9 && s[b - 1] >= '0' && s[b - 1] <= '9')
		b--;
	if (b == dot)
		return 0;
	while (b > 0 && (s[b - 1] == ' ' || s[b - 1] == '\t'))
		b--;
	return b == 0 || s[b - 1] == '\n';
}

/* Length of the UTF-8 closing quote or bracket at s[i] (”’»), else 0. */
static size_t closer_len(const unsigned char *s, size_t len, size_t i)
{
	unsigned char c = s[i];
	if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == '*' || c == '_')
		return 1;
	if (c == 0xE2 && i + 2 < len && s[i + 1] == 0x80 && (s[i + 2] == 0x9D || s[i + 2] == 0x99))
		return 3;
	if (c == 0xC2 && i + 1 < len && s[i + 1] == 0xBB)
		return 2;
	return 0;
}

/* Whether the text at s[i] may start a sentence: an uppercase or caseless
 * letter, a digit, an opening quote or bracket, or Markdown emphasis. */
static int starts_sentence(const unsigned char *s, size_t len, size_t i)
{
	unsigned char c = s[i];
	if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	if (c == '"' || c == '\'' || c == '(' || c == '[' || c == '*' || c == '_' || c == '`')
		return 1;
	if (c < 0x80)
		return 0;
	utf8proc_int32_t cp;
	utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
	if (n <= 0)
		return 0;
	if (cp == 0x201C || cp == 0x2018 || cp == 0xAB || cp == 0xBF || cp == 0xA1)
		return 1; /* “ ‘ « ¿ ¡ */
	utf8proc_category_t cat = utf8proc_category(cp);
	return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT || cat == UTF8PROC_CATEGORY_LO;
}

/* Whether s[i] starts a blank line ending (only spaces/tabs/CR then '\n'). */
static size_t blank_line_end(const unsigned char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	return (i < len && s[i] == '\n') ? i + 1 : 0;
}

size_t rdb_sentence_end(const char *text, size_t len, size_t from)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t last = from; /* end of the last non-space byte seen */
	int seen = 0;

	for (size_t i = from; i < len; i++) {
		unsigned char c = s[i];
		if (c == '\n') {
			if (seen && blank_line_end(s, len, i + 1))
				return last;
			continue;
		}
		if (is_space(c))
			continue;
		seen = 1;
		last = i + 1;

		/* CJK full stops end a sentence with no space after them. */
		if (c == 0xE3 && i + 2 < len && s[i + 1] == 0x80 && s[i + 2] == 0x82)
			return i + 3;
		if (c == 0xEF && i + 2 < len && s[i + 1] == 0xBC && (s[i + 2] == 0x81 || s[i + 2] == 0x9F))
			return i + 3;

		int ellipsis = c == 0xE2 && i + 2 < len && s[i + 1] == 0x80 && s[i + 2] == 0xA6;
		if (c != '.' && c != '!' && c != '?' && !ellipsis)
			continue;
		/* the run of terminal marks: "?!", "...", "…" */
		size_t j = i;
		for (;;) {
			if (j < len && (s[j] == '.' || s[j] == '!' || s[j] == '?')) {
				j++;
			} else if (j + 2 < len && s[j] == 0xE2 && s[j + 1] == 0x80 && s[j + 2] == 0xA6) {
				j += 3;
			} else {
				break;
			}
		}
		int lone_dot = c == '.' && j == i + 1;
		size_t dot = i, k = j, cl;
		while (k < len && (cl = closer_len(s, len, k)) != 0)
			k += cl;
		i = k - 1;
		last = k;
		if (k >= len)
			return len;
		if (!is_space(s[k]))
			continue; /* "file.txt", "3.14", "e.g.," */
		if (lone_dot && (dot_is_abbrev(s, dot) || list_marker(s, dot)))
			continue;
		/* look past the whitespace: a blank line always ends it */
		size_t m = k, newlines = 0;
		while (m < len && is_space(s[m]))
			newlines += s[m++] == '\n';
		if (m >= len)
			return len;
		if (newlines >= 2 || starts_sentence(s, len, m))
			return k;
	}
	return len;
}
