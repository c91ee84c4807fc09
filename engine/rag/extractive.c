/*
 * engine/rag/extractive.c — the built-in answerer: quote the sentences of
 * the passages that best answer the question, with their [n] markers.
 *
 * How a sentence is chosen:
 *  - units: each passage is split with rdb_sentence_end, and further at
 *    newlines before list items, table rows and headings, and at about
 *    UNIT_MAX bytes (lists and man-page option tables have no full stops);
 *    units of fewer than 3 words and heading-only lines are dropped;
 *  - score = cosine(question, unit) with the configured embedder (all units
 *    embedded in batches of e->batch_max) + W_OVERLAP x the share of the
 *    question's content words (stopwords ignored) the unit contains + a
 *    small bonus for the passage's rank (W_RANK / n);
 *  - the best max_sentences (0: DEFAULT_SENTENCES) are taken, skipping a
 *    unit that nearly repeats one already taken (same cleaned text, or
 *    cosine above DUP_COSINE: overlapping chunks repeat sentences);
 *  - they are written in (source, position) order, one per line, each
 *    followed by " [n]", after the fixed first line and a blank line. One
 *    per line because quoted sentences from different places rarely read as
 *    one paragraph.
 * At most MAX_UNITS units are considered (the passages come from a token
 * budget, so this only bounds a caller that passes huge texts).
 */
#include "engine/rag/rag.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/providers/stopwords.h"
#include "engine/providers/text.h"

#define EXTRACTIVE_HEADER \
	"Extractive answer (no language model is configured): the most relevant passages, quoted."
#define NOTHING_FOUND "No relevant passages were found in the knowledge base."

#define UNIT_MAX 400       /* bytes in a unit before it is split */
#define MIN_SPLIT 24      /* bytes a split-off piece has at least */
#define MIN_WORDS 3
#define MAX_UNITS 4096
#define MAX_QWORDS 64
#define DEFAULT_SENTENCES 3
#define W_OVERLAP 0.3f
#define W_RANK 0.05f
#define DUP_COSINE 0.9f
#define PREFIX_MATCH 5     /* bytes two words share to count as one ("rotat") */

typedef struct unit {
	size_t passage;    /* index into the passages */
	size_t start, end; /* byte range in the passage's text */
	char *clean;       /* whitespace-collapsed text, list marker removed */
	size_t clean_len;
	float score;
	bool picked;
} unit;

typedef struct qwords {
	char w[MAX_QWORDS][sizeof ((rdb_words *)0)->buf];
	size_t len[MAX_QWORDS];
	size_t n;
} qwords;

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Length of a list marker at s ("- ", "* ", "+ ", "• ", "1. ", "2) "), 0
 * when there is none. */
static size_t list_marker(const char *s, size_t len)
{
	if (len >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && (s[1] == ' ' || s[1] == '\t'))
		return 2;
	if (len >= 4 && memcmp(s, "\xE2\x80\xA2", 3) == 0 && s[3] == ' ')
		return 4;
	size_t i = 0;
	while (i < len && i < 3 && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i > 0 && i + 1 < len && (s[i] == '.' || s[i] == ')') && s[i + 1] == ' ')
		return i + 2;
	return 0;
}

/* Whether the line at s starts a new unit: a list item, a heading or a
 * table row. */
static bool line_starts_unit(const char *s, size_t len)
{
	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	return len > 0 && (*s == '#' || *s == '|' || list_marker(s, len) > 0);
}

static size_t count_words(const char *s, size_t len)
{
	rdb_words w;
	size_t n = 0;
	rdb_words_init(&w, s, len);
	while (rdb_words_next(&w))
		n++;
	return n;
}

/* A heading-only unit: a Markdown heading, or one short line without
 * closing punctuation whose words all start uppercase or with a digit
 * ("DESCRIPTION", "Rotating The Keys", "2 Installation"). */
static bool is_heading(const char *s, size_t len)
{
	if (len > 0 && s[0] == '#')
		return true;
	if (memchr(s, '\n', len) || list_marker(s, len))
		return false;
	char last = s[len - 1];
	if (last == '.' || last == '!' || last == '?' || last == ';' || last == ',')
		return false;
	size_t words = 0;
	for (size_t i = 0; i < len; i++) {
		if (is_space(s[i]) || (i > 0 && !is_space(s[i - 1])))
			continue;
		words++;
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
	}
	return words <= 8;
}

/* Whitespace runs to one space; a leading list marker or heading hashes
 * go. malloc'd; NULL when memory runs out. */
static char *clean_text(const char *s, size_t len, size_t *out_len)
{
	size_t m = list_marker(s, len);
	s += m;
	len -= m;
	char *o = malloc(len + 1);
	if (!o)
		return NULL;
	size_t k = 0;
	bool space = false;
	for (size_t i = 0; i < len; i++) {
		if (is_space(s[i])) {
			space = k > 0;
			continue;
		}
		if (space)
			o[k++] = ' ';
		space = false;
		o[k++] = s[i];
	}
	o[k] = 0;
	*out_len = k;
	return o;
}

/* Split @p text [from, to) — one sentence — further at the newlines that
 * start list items, headings and rows, and at UNIT_MAX bytes; append the
 * pieces to @p units. Returns false when memory runs out. */
static bool add_units(unit **units, size_t *nu, size_t *cap, size_t passage, const char *text,
                      size_t from, size_t to)
{
	while (from < to && *nu < MAX_UNITS) {
		while (from < to && is_space(text[from]))
			from++;
		if (from >= to)
			break;
		size_t end = to;
		/* The first line break before a line that starts a unit. */
		for (size_t i = from; i < to; i++) {
			if (text[i] == '\n' && i > from && line_starts_unit(text + i + 1, to - i - 1)) {
				end = i;
				break;
			}
		}
		/* A heading line ends its own unit. */
		if (text[from] == '#') {
			const char *nl = memchr(text + from, '\n', end - from);
			if (nl)
				end = (size_t)(nl - text);
		}
		if (end - from > UNIT_MAX) {
			/* Prefer the last line break (wrapped or list-like text),
			 * then the last space in the second half, then any code
			 * point boundary. */
			size_t cut = from + UNIT_MAX;
			size_t best = 0;
			for (size_t i = cut; i > from + MIN_SPLIT && !best; i--)
				if (text[i] == '\n')
					best = i;
			for (size_t i = cut; i > from + UNIT_MAX / 2 && !best; i--)
				if (is_space(text[i]))
					best = i;
			if (!best) {
				while (cut > from && ((unsigned char)text[cut] & 0xC0) == 0x80)
					cut--;
				best = cut;
			}
			end = best;
		}
		size_t e = end;
		while (e > from && is_space(text[e - 1]))
			e--;
		if (*nu == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			unit *nw = realloc(*units, ncap * sizeof *nw);
			if (!nw)
				return false;
			*units = nw;
			*cap = ncap;
		}
		(*units)[(*nu)++] = (unit){.passage = passage, .start = from, .end = e};
		from = end;
	}
	return true;
}

static void question_words(const char *q, qwords *qw)
{
	rdb_words w;
	qw->n = 0;
	rdb_words_init(&w, q, strlen(q));
	while (rdb_words_next(&w) && qw->n < MAX_QWORDS) {
		if (rdb_stopword(w.buf, w.len))
			continue;
		bool dup = false;
		for (size_t i = 0; i < qw->n && !dup; i++)
			dup = qw->len[i] == w.len && memcmp(qw->w[i], w.buf, w.len) == 0;
		if (dup)
			continue;
		memcpy(qw->w[qw->n], w.buf, w.len + 1);
		qw->len[qw->n++] = w.len;
	}
}

static bool word_match(const char *a, size_t al, const char *b, size_t bl)
{
	if (al == bl && memcmp(a, b, al) == 0)
		return true;
	size_t k = 0;
	while (k < al && k < bl && a[k] == b[k])
		k++;
	return k >= PREFIX_MATCH;
}

/* Share of the question's content words that occur in @p s. */
static float overlap(const qwords *qw, const char *s, size_t len)
{
	if (qw->n == 0)
		return 0;
	bool seen[MAX_QWORDS] = {false};
	size_t hits = 0;
	rdb_words w;
	rdb_words_init(&w, s, len);
	while (rdb_words_next(&w) && hits < qw->n) {
		for (size_t i = 0; i < qw->n; i++) {
			if (!seen[i] && word_match(qw->w[i], qw->len[i], w.buf, w.len)) {
				seen[i] = true;
				hits++;
			}
		}
	}
	return (float)hits / (float)qw->n;
}

static int unit_order(const void *a, const void *b)
{
	const unit *x = *(unit *const *)a, *y = *(unit *const *)b;
	if (x->passage != y->passage)
		return x->passage < y->passage ? -1 : 1;
	return x->start < y->start ? -1 : (x->start > y->start);
}

static float dotf(const float *a, const float *b, uint32_t dim)
{
	float s = 0;
	for (uint32_t i = 0; i < dim; i++)
		s += a[i] * b[i];
	return s;
}

ragdb_status rdb_extractive_answer(rdb_embedder *e, const char *question,
                                   const rdb_passage *p, size_t n, uint32_t max_sentences,
                                   char **answer, rdb_err *err)
{
	ragdb_status st = RAGDB_OK;
	unit *units = NULL;
	size_t nu = 0, ucap = 0;
	float *vecs = NULL, *qvec = NULL;
	unit **picked = NULL;
	char *buf = NULL;
	qwords *qw = NULL;
	const char **texts = NULL;
	size_t *lens = NULL;

	if (!question)
		question = "";
	if (max_sentences == 0)
		max_sentences = DEFAULT_SENTENCES;

	for (size_t i = 0; i < n && nu < MAX_UNITS; i++) {
		for (size_t pos = 0; pos < p[i].text_len && nu < MAX_UNITS;) {
			size_t end = rdb_sentence_end(p[i].text, p[i].text_len, pos);
			if (end <= pos)
				end = p[i].text_len; /* NEVER: the contract says end > from */
			if (!add_units(&units, &nu, &ucap, i, p[i].text, pos, end))
				goto out_nomem;
			pos = end;
		}
	}

	/* Drop fragments and headings; clean the rest. */
	size_t keep = 0;
	for (size_t i = 0; i < nu; i++) {
		unit u = units[i];
		const char *s = p[u.passage].text + u.start;
		size_t len = u.end - u.start;
		if (len == 0 || is_heading(s, len) || count_words(s, len) < MIN_WORDS)
			continue;
		u.clean = clean_text(s, len, &u.clean_len);
		if (!u.clean)
			goto out_nomem;
		units[keep++] = u;
	}
	nu = keep;

	if (nu == 0) {
		/* No passages, or nothing quotable in them. */
		*answer = strdup(NOTHING_FOUND);
		if (!*answer)
			goto out_nomem;
		goto out_free;
	}

	uint32_t dim = e->dim;
	size_t batch = e->batch_max ? e->batch_max : 1;
	qw = malloc(sizeof *qw);
	vecs = malloc(nu * (size_t)dim * sizeof *vecs); /* nu <= MAX_UNITS, dim <= 8192 */
	qvec = malloc((size_t)dim * sizeof *qvec);
	texts = malloc(nu * sizeof *texts);
	lens = malloc(nu * sizeof *lens);
	if (max_sentences > nu)
		max_sentences = (uint32_t)nu;
	picked = malloc(max_sentences * sizeof *picked);
	if (!qw || !vecs || !qvec || !texts || !lens || !picked)
		goto out_nomem;
	for (size_t i = 0; i < nu; i++) {
		texts[i] = units[i].clean;
		lens[i] = units[i].clean_len;
	}
	size_t qlen = strlen(question);
	if ((st = rdb_embedder_embed(e, &question, &qlen, 1, RDB_EMBED_QUERY, qvec, err)) != RAGDB_OK)
		goto out_free;
	for (size_t i = 0; i < nu; i += batch) {
		size_t m = nu - i < batch ? nu - i : batch;
		st = rdb_embedder_embed(e, texts + i, lens + i, m, RDB_EMBED_DOCUMENT,
		                        vecs + i * (size_t)dim, err);
		if (st != RAGDB_OK)
			goto out_free;
	}

	question_words(question, qw);
	for (size_t i = 0; i < nu; i++) {
		unit *u = &units[i];
		u->score = dotf(qvec, vecs + i * (size_t)dim, dim) +
		           W_OVERLAP * overlap(qw, u->clean, u->clean_len) +
		           W_RANK / (float)p[u->passage].n;
	}

	/* Greedy top-k without near-duplicates; ties go to the earlier unit. */
	size_t np = 0;
	while (np < max_sentences) {
		size_t best = nu;
		for (size_t i = 0; i < nu; i++) {
			if (units[i].picked || (best < nu && units[i].score <= units[best].score))
				continue;
			bool dup = false;
			for (size_t k = 0; k < np && !dup; k++) {
				const unit *o = picked[k];
				size_t oi = (size_t)(o - units);
				dup = (o->clean_len == units[i].clean_len &&
				       memcmp(o->clean, units[i].clean, o->clean_len) == 0) ||
				      dotf(vecs + oi * (size_t)dim, vecs + i * (size_t)dim, dim) > DUP_COSINE;
			}
			if (dup)
				continue;
			best = i;
		}
		if (best == nu)
			break;
		units[best].picked = true;
		picked[np++] = &units[best];
	}
	qsort(picked, np, sizeof *picked, unit_order);

	size_t total = sizeof EXTRACTIVE_HEADER + 2;
	for (size_t k = 0; k < np; k++)
		total += picked[k]->clean_len + 16;
	buf = malloc(total);
	if (!buf)
		goto out_nomem;
	size_t o = (size_t)snprintf(buf, total, "%s\n\n", EXTRACTIVE_HEADER);
	for (size_t k = 0; k < np; k++)
		o += (size_t)snprintf(buf + o, total - o, "%s [%u]\n", picked[k]->clean,
		                      p[picked[k]->passage].n);
	*answer = buf;
	buf = NULL;
	goto out_free;

out_nomem:
	st = rdb_err_set(err, RAGDB_ENOMEM, "extractive answer: out of memory");
out_free:
	free(buf);
	free(picked);
	free(lens);
	free(texts);
	free(qvec);
	free(vecs);
	free(qw);
	for (size_t i = 0; i < nu; i++)
		free(units[i].clean);
	free(units);
	return st;
}
