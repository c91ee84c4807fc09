/*
 * ingest/chunker.c — split a document into chunks of about chunk_tokens
 * tokens at the best boundaries available.
 *
 * How it works. For Markdown a first pass over the lines finds the
 * structure: headings (with their parent, to build "A > B > C" paths) and
 * blocks that should stay whole (fenced code, tables, front matter). Then
 * chunks are cut one after another: from a chunk's start, words (runs of
 * non-space bytes) are taken while the running token count stays within the
 * target; the gap after each word is a candidate boundary with a strength:
 *
 *     heading > blank line > sentence end > line end > space
 *
 * The chunk ends at the strongest candidate whose count is at least half the
 * target (the latest of that strength); failing that, at the latest
 * candidate of all; failing that (one giant word), inside the word on a
 * UTF-8 character boundary. A heading ends the chunk at once when the chunk
 * already holds a non-trivial amount of body text (an eighth of the target).
 *
 * Invariants:
 *   1. Every span starts and ends on a non-space byte; the union of spans
 *      covers every non-space byte of the text (a new chunk starts at or
 *      before the first non-space byte after the previous end).
 *   2. Progress: a chunk ends strictly after the previous chunk's end, and
 *      starts strictly after the previous chunk's start (overlap included).
 *   3. A span boundary is never inside a UTF-8 sequence: words are split at
 *      ASCII whitespace, and a forced cut is moved to a character start.
 *   4. Inside a block that fits the target, no boundary is a candidate; a
 *      larger block is cut at its line ends (or spaces).
 *   5. Cost is O(n): each chunk scans about one chunk's worth of text past
 *      its end, and the overlap walk-back is bounded by the overlap size.
 */
#include "ingest/ingest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/providers/text.h"

enum { B_NONE = 0, B_SPACE, B_LINE, B_SENT, B_BLANK, B_HEAD, B_COUNT };

/* A heading path part longer than this is cut (on a character boundary). */
#define HEADING_PART_MAX 200

typedef struct md_head {
	size_t pos, end;      /* first byte of the heading; end of its (last) line */
	size_t toff, tlen;    /* its text */
	size_t parent;        /* index of the enclosing heading, or SIZE_MAX */
	int level;
} md_head;

typedef struct md_block {
	size_t start, end;    /* first non-space byte .. end of its last line */
	size_t tokens;
	size_t hdr_end;       /* a table with a header: end of its separator line; else 0 */
} md_block;

typedef struct md_doc {
	md_head *heads;
	size_t nh, caph;
	md_block *blocks;
	size_t nb, capb;
} md_doc;

typedef struct cand {
	size_t end, next, tok, head; /* head: heading-path index at the start */
	int strength;
} cand;

static int ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	if (ncap > SIZE_MAX / size)
		return -1;
	void *p = realloc(*arr, ncap * size);
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int add_block(md_doc *d, const char *text, size_t start, size_t end, size_t hdr_end)
{
	while (end > start && ws((unsigned char)text[end - 1]))
		end--;
	if (end <= start)
		return 0;
	if (grow((void **)&d->blocks, &d->capb, d->nb, sizeof *d->blocks))
		return -1;
	if (hdr_end >= end)
		hdr_end = 0; /* only a header: nothing to repeat it over */
	d->blocks[d->nb++] = (md_block){ start, end, rdb_token_estimate(text + start, end - start),
		                             hdr_end };
	return 0;
}

/* A table's delimiter row: only '|', '-', ':' and spaces, with a '-'. */
static int table_separator(const char *line, size_t n)
{
	int dash = 0;
	for (size_t i = 0; i < n; i++) {
		char c = line[i];
		if (c == '-')
			dash = 1;
		else if (c != '|' && c != ':' && c != ' ' && c != '\t' && c != '\r')
			return 0;
	}
	return dash;
}

static int add_head(md_doc *d, size_t stack[7], size_t pos, size_t end, const char *text,
                    const char *t, size_t tl, int level)
{
	if (grow((void **)&d->heads, &d->caph, d->nh, sizeof *d->heads))
		return -1;
	size_t parent = SIZE_MAX;
	for (int l = level - 1; l >= 1; l--) {
		if (stack[l] != SIZE_MAX) {
			parent = stack[l];
			break;
		}
	}
	d->heads[d->nh] = (md_head){ pos, end, (size_t)(t - text), tl, parent, level };
	stack[level] = d->nh++;
	for (int l = level + 1; l <= 6; l++)
		stack[l] = SIZE_MAX;
	return 0;
}

static size_t first_nonspace(const char *text, size_t a, size_t b)
{
	while (a < b && (text[a] == ' ' || text[a] == '\t'))
		a++;
	return a;
}

/* The Markdown structure pass: headings, fences, tables, front matter. */
static int md_scan(md_doc *d, const char *text, size_t len)
{
	size_t stack[7];
	for (int l = 0; l < 7; l++)
		stack[l] = SIZE_MAX;
	size_t pos = rdb_md_front_matter(text, len);
	if (pos && add_block(d, text, 0, pos, 0))
		return -1;
	size_t para = SIZE_MAX, para_n = 0;         /* the previous paragraph line */
	size_t table = SIZE_MAX, table_end = 0, table_rows = 0, table_hdr = 0;
	size_t fence_at = SIZE_MAX, flen = 0;
	int fence = 0;

	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos, ls = pos, le = pos + n;
		pos = le + 1;
		const char *t;
		size_t tl, fl;
		int lvl;
		if (fence) {
			if (rdb_md_fence_close(line, n, fence, flen)) {
				if (add_block(d, text, fence_at, le, 0))
					return -1;
				fence = 0;
			}
			continue;
		}
		if (table != SIZE_MAX && !rdb_md_table_row(line, n)) {
			if (add_block(d, text, table, table_end, table_hdr))
				return -1;
			table = SIZE_MAX;
		}
		if ((fence = rdb_md_fence_open(line, n, &fl)) != 0) {
			fence_at = first_nonspace(text, ls, le);
			flen = fl;
			para = SIZE_MAX;
			continue;
		}
		if (rdb_md_table_row(line, n)) {
			if (table == SIZE_MAX) {
				table = first_nonspace(text, ls, le);
				table_rows = 0;
				table_hdr = 0;
			}
			/* header row + delimiter row: repeated over a split table */
			if (++table_rows == 2 && table_separator(line, n))
				table_hdr = le;
			table_end = le;
			para = SIZE_MAX;
			continue;
		}
		if ((lvl = rdb_md_atx(line, n, &t, &tl)) != 0) {
			if (add_head(d, stack, first_nonspace(text, ls, le), le, text, t, tl, lvl))
				return -1;
			para = SIZE_MAX;
			continue;
		}
		if (para != SIZE_MAX && (lvl = rdb_md_setext(line, n)) != 0) {
			size_t a = para, b = para + para_n;
			while (b > a && ws((unsigned char)text[b - 1]))
				b--;
			if (add_head(d, stack, a, le, text, text + a, b - a, lvl))
				return -1;
			para = SIZE_MAX;
			continue;
		}
		size_t fn = first_nonspace(text, ls, le);
		if (fn == le || (fn < le && text[fn] == '\r' && fn + 1 == le) || fn - ls >= 4) {
			para = SIZE_MAX; /* blank, or indented code */
		} else {
			para = fn;
			para_n = le - fn;
		}
	}
	if (fence && add_block(d, text, fence_at, len, 0))
		return -1;
	if (table != SIZE_MAX && add_block(d, text, table, table_end, table_hdr))
		return -1;
	return 0;
}

/* Index of the last heading with pos <= @p at, or SIZE_MAX. */
static size_t head_at(const md_doc *d, size_t at)
{
	size_t lo = 0, hi = d->nh;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->heads[mid].pos <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? SIZE_MAX : lo - 1;
}

/* Index of the first block with end > @p at (nb if none). */
static size_t block_after(const md_doc *d, size_t at)
{
	size_t lo = 0, hi = d->nb;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->blocks[mid].end <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* "A > B > C" for heading @p h; NULL for none. */
static char *heading_path(const md_doc *d, const char *text, size_t h, int *oom)
{
	if (h == SIZE_MAX)
		return NULL;
	size_t chain[6], n = 0, total = 0;
	for (size_t i = h; i != SIZE_MAX && n < 6; i = d->heads[i].parent) {
		chain[n++] = i;
		total += (d->heads[i].tlen < HEADING_PART_MAX ? d->heads[i].tlen : HEADING_PART_MAX) + 3;
	}
	char *p = malloc(total + 1), *w = p;
	if (!p) {
		*oom = 1;
		return NULL;
	}
	for (size_t k = n; k-- > 0;) {
		const md_head *hd = &d->heads[chain[k]];
		size_t tl = hd->tlen;
		if (tl > HEADING_PART_MAX) {
			tl = HEADING_PART_MAX;
			while (tl > 0 && ((unsigned char)text[hd->toff + tl] & 0xC0) == 0x80)
				tl--;
		}
		if (tl == 0)
			continue;
		if (w != p) {
			memcpy(w, " > ", 3);
			w += 3;
		}
		memcpy(w, text + hd->toff, tl);
		w += tl;
	}
	*w = 0;
	if (w == p) {
		free(p);
		return NULL;
	}
	return p;
}

typedef struct chunker {
	const char *text;
	size_t len;
	ragdb_format fmt;
	size_t target, lo, overlap, min_body;
	md_doc md;
} chunker;

/* Whether the word [p, q) may end a sentence: after closing quotes,
 * brackets and emphasis, its last character is . ! ? or … or a CJK stop.
 * (Cheap filter; rdb_sentence_end decides.) */
static int may_end_sentence(const char *text, size_t p, size_t q)
{
	const unsigned char *s = (const unsigned char *)text;
	while (q > p) {
		unsigned char c = s[q - 1];
		if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == '*' || c == '_')
			q--;
		else if (q - p >= 3 && s[q - 3] == 0xE2 && s[q - 2] == 0x80 &&
		         (c == 0x9D || c == 0x99)) /* ” ’ */
			q -= 3;
		else if (q - p >= 2 && s[q - 2] == 0xC2 && c == 0xBB) /* » */
			q -= 2;
		else
			break;
	}
	if (q == p)
		return 0;
	unsigned char c = s[q - 1];
	if (c == '.' || c == '!' || c == '?')
		return 1;
	if (q - p < 3)
		return 0;
	unsigned a = s[q - 3], b = s[q - 2];
	return (a == 0xE2 && b == 0x80 && c == 0xA6) ||              /* … */
	       (a == 0xE3 && b == 0x80 && c == 0x82) ||              /* 。 */
	       (a == 0xEF && b == 0xBC && (c == 0x81 || c == 0x9F)); /* ！？ */
}

/* Largest character boundary c in (p, q] with est(p..c) <= budget; at least
 * one character. */
static size_t cut_in_word(const char *text, size_t p, size_t q, size_t budget)
{
	size_t hi = q, lo = p + 1;
	if (budget < SIZE_MAX / 4 - 16 && p + 4 * budget + 16 < hi)
		hi = p + 4 * budget + 16; /* a token is never more than 4 bytes here */
	size_t best = p;
	while (lo <= hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rdb_token_estimate(text + p, mid - p) <= budget) {
			best = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	size_t c = best;
	while (c > p && c < q && ((unsigned char)text[c] & 0xC0) == 0x80)
		c--;
	if (c == p) { /* not even one character fits: take one anyway */
		c = p + 1;
		while (c < q && ((unsigned char)text[c] & 0xC0) == 0x80)
			c++;
	}
	return c;
}

static size_t skip_ws(const char *text, size_t len, size_t i)
{
	while (i < len && ws((unsigned char)text[i]))
		i++;
	return i;
}

static int starts_with(const char *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n >= l && memcmp(p, lit, l) == 0;
}

/* Code: whether the line break between the line holding byte @p q - 1 and
 * the line starting at @p r is a top-level boundary: the line before is a
 * closing "}" (or "};", "end") at column 0, or the line after starts a
 * definition at column 0 (def, fn, func, class, function, impl, ... or a
 * decorator). Such a boundary outranks a blank line inside a function. */
static int code_boundary(const char *text, size_t len, size_t q, size_t r)
{
	size_t a = q;
	while (a > 0 && text[a - 1] != '\n')
		a--;
	size_t pl = q - a;
	if ((pl == 1 && text[a] == '}') || (pl == 2 && text[a] == '}' && text[a + 1] == ';') ||
	    (pl == 3 && memcmp(text + a, "end", 3) == 0))
		return 1;
	if (r == 0 || text[r - 1] != '\n')
		return 0; /* the next line is indented */
	static const char *const defs[] = {
		"def ", "async def ", "class ", "fn ", "pub fn ", "pub(crate) fn ", "async fn ",
		"pub async fn ", "func ", "function ", "async function ", "export function ",
		"export default function ", "export class ", "impl ", "impl<", "@",
	};
	size_t n = len - r < 32 ? len - r : 32;
	for (size_t i = 0; i < sizeof defs / sizeof *defs; i++)
		if (starts_with(text + r, n, defs[i]))
			return 1;
	return 0;
}

/* Cut one chunk starting at @p s (a non-space byte); candidates must end
 * after @p prev_end; @p reserve tokens of the budget are taken already (a
 * table header repeated in front). Fills *out (end, next start of the text
 * after it, strength; B_NONE for a forced cut inside a word). */
static void cut_one(const chunker *ck, size_t s, size_t prev_end, size_t head0, size_t reserve,
                    cand *out)
{
	const char *text = ck->text;
	size_t len = ck->len;
	const md_doc *md = &ck->md;
	cand best[B_COUNT], fb = { 0, 0, 0, 0, B_NONE };
	for (int i = 0; i < B_COUNT; i++)
		best[i].strength = B_NONE;
	size_t tok = reserve, body = 0, p = s, head = head0;
	size_t hc = head0 == SIZE_MAX ? 0 : head0;  /* heading cursor */
	size_t bc = block_after(md, s);            /* block cursor */
	int sentences = ck->fmt != RAGDB_FORMAT_CODE;

	for (;;) {
		size_t q = p;
		while (q < len && !ws((unsigned char)text[q]))
			q++;
		size_t wt = rdb_token_estimate(text + p, q - p);
		if (tok + wt > ck->target && q > prev_end) {
			for (int st = B_HEAD; st > B_NONE; st--) {
				if (best[st].strength != B_NONE) {
					*out = best[st];
					return;
				}
			}
			if (fb.strength != B_NONE) {
				*out = fb;
				return;
			}
			size_t budget = ck->target > tok ? ck->target - tok : 0;
			size_t c = cut_in_word(text, p, q, budget);
			if (c <= prev_end)
				c = cut_in_word(text, prev_end, q, 0);
			*out = (cand){ c, c == q ? skip_ws(text, len, q) : c, tok, head, B_NONE };
			return;
		}
		/* is this word part of a heading line? */
		while (hc < md->nh && md->heads[hc].end <= p)
			hc++;
		if (hc < md->nh && md->heads[hc].pos <= p) {
			if (body == 0)
				head = hc; /* only headings so far: the chunk belongs to the last */
		} else {
			body += wt;
		}
		tok += wt;

		size_t r = q, nl = 0;
		while (r < len && ws((unsigned char)text[r]))
			nl += text[r++] == '\n';
		if (r >= len) {
			*out = (cand){ q, len, tok, head, B_NONE };
			return;
		}
		int strength = nl >= 2 ? B_BLANK : nl == 1 ? B_LINE : B_SPACE;
		if (!sentences && nl >= 1 && code_boundary(text, len, q, r))
			strength = B_HEAD;
		if (sentences && strength < B_SENT && may_end_sentence(text, p, q)) {
			/* enough text for the look-ahead: the gap and one character */
			size_t lim = len - r > 4 ? r + 4 : len;
			if (rdb_sentence_end(text, lim, p) == q)
				strength = B_SENT;
		}
		/* blocks: no boundary inside one that fits; its edges are strong */
		size_t ended = 0;
		while (bc < md->nb && md->blocks[bc].end <= r)
			ended = md->blocks[bc++].end;
		if (ended == q && strength < B_BLANK)
			strength = B_BLANK;
		if (bc < md->nb && md->blocks[bc].start < r && r < md->blocks[bc].end) {
			if (md->blocks[bc].tokens <= ck->target)
				strength = B_NONE;
			else if (strength == B_SENT)
				strength = nl ? B_LINE : B_SPACE;
		} else if (bc < md->nb && md->blocks[bc].start == r && strength < B_BLANK) {
			strength = B_BLANK;
		}
		/* a heading starts at r? */
		size_t hn = hc;
		while (hn < md->nh && md->heads[hn].pos < r)
			hn++;
		int at_head = hn < md->nh && md->heads[hn].pos == r;
		if (at_head)
			strength = B_HEAD;

		if (strength != B_NONE && q > prev_end) {
			cand c = { q, r, tok, head, strength };
			if (at_head && body >= ck->min_body) {
				*out = c;
				return;
			}
			if (tok >= ck->lo)
				best[strength] = c;
			else
				fb = c;
		}
		p = r;
	}
}

/* Where the chunk after [s, e) starts, given that the text resumes at
 * @p next: @p overlap tokens back from e, snapped forward to a sentence
 * start or a line start when one keeps at least half of that, else a word
 * start; never at or before s, never before a heading inside the chunk
 * or inside a block. */
static size_t overlap_start(const chunker *ck, size_t s, size_t e, size_t next)
{
	const char *text = ck->text;
	const md_doc *md = &ck->md;
	if (ck->overlap == 0)
		return next;
	/* no overlap into a block that starts right here */
	size_t bi = block_after(md, next);
	if (bi < md->nb && md->blocks[bi].start == next)
		return next;

	size_t p = e, sum = 0;
	while (sum < ck->overlap) {
		size_t b = p;
		while (b > s && ws((unsigned char)text[b - 1]))
			b--;
		size_t we = b;
		while (b > s && !ws((unsigned char)text[b - 1]))
			b--;
		if (b <= s || we == b)
			break; /* the chunk's first word: keep s strictly behind */
		size_t wt = rdb_token_estimate(text + b, we - b);
		if (sum + wt > ck->overlap)
			break;
		sum += wt;
		p = b;
	}
	if (p >= e)
		return next;

	/* snap forward to a sentence start when one is near, else a line start */
	size_t p0 = p;
	if (ck->fmt != RAGDB_FORMAT_CODE) {
		size_t b = p;
		while (b > s && ws((unsigned char)text[b - 1]))
			b--;
		size_t pe = b; /* end of the word before p */
		while (b > s && !ws((unsigned char)text[b - 1]))
			b--;
		size_t se = rdb_sentence_end(text, e, b);
		if (se != pe && se < e) {
			size_t q = skip_ws(text, e, se);
			if (q < e && rdb_token_estimate(text + q, e - q) * 2 >= ck->overlap)
				p = q;
		}
	}
	if (p == p0) {
		const char *nl = memchr(text + p, '\n', e - p);
		if (nl) {
			size_t q = skip_ws(text, e, (size_t)(nl - text));
			if (q < e && rdb_token_estimate(text + q, e - q) * 2 >= ck->overlap)
				p = q;
		}
	}
	/* not across a heading */
	size_t h = head_at(md, e);
	if (h != SIZE_MAX && md->heads[h].pos > s && p < md->heads[h].end)
		p = skip_ws(text, e, md->heads[h].pos); /* its line may start with a form feed */
	/* not from inside a block */
	bi = block_after(md, p);
	if (bi < md->nb && md->blocks[bi].start < p)
		p = skip_ws(text, e, md->blocks[bi].end);
	return p < e ? p : next;
}

static void spans_free_n(rdb_span *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].heading);
		free(s[i].text);
	}
	free(s);
}

/* The table block a chunk starting at @p s continues (past its header),
 * if its header is worth repeating (at most half the target); else NULL. */
static const md_block *table_continued(const chunker *ck, size_t s)
{
	size_t bi = block_after(&ck->md, s);
	if (bi >= ck->md.nb)
		return NULL;
	const md_block *b = &ck->md.blocks[bi];
	if (!b->hdr_end || s <= b->hdr_end || s <= b->start)
		return NULL;
	size_t ht = rdb_token_estimate(ck->text + b->start, b->hdr_end - b->start);
	return ht * 2 <= ck->target ? b : NULL;
}

/* header + '\n' + text[s, e), malloc'd. */
static char *with_header(const char *text, const md_block *b, size_t s, size_t e, size_t *len)
{
	size_t hl = b->hdr_end - b->start;
	char *t = malloc(hl + 1 + (e - s) + 1);
	if (!t)
		return NULL;
	memcpy(t, text + b->start, hl);
	t[hl] = '\n';
	memcpy(t + hl + 1, text + s, e - s);
	*len = hl + 1 + (e - s);
	t[*len] = 0;
	return t;
}

void rdb_spans_free(rdb_span *s, size_t n)
{
	if (s)
		spans_free_n(s, n);
}

ragdb_status rdb_chunk_text(const char *text, size_t len, ragdb_format fmt, const rdb_chunk_opts *o,
                            rdb_span **out, size_t *n, rdb_err *err)
{
	if (!o || o->chunk_tokens == 0)
		return rdb_err_set(err, RAGDB_EINVAL, "chunk size must be at least 1 token");
	chunker ck = {
		.text = text,
		.len = len,
		.fmt = fmt,
		.target = o->chunk_tokens,
		.lo = o->chunk_tokens / 2,
		.overlap = o->overlap < o->chunk_tokens / 2 ? o->overlap : o->chunk_tokens / 2,
		/* PDF text (read_pdf.c) is Markdown whose headings are its pages:
		 * every page starts a chunk, so a chunk's heading names its page */
		.min_body = fmt == RAGDB_FORMAT_PDF ? 1 : o->chunk_tokens / 8 ? o->chunk_tokens / 8 : 1,
	};
	ragdb_status st = RAGDB_OK;
	rdb_span *spans = NULL;
	size_t ns = 0, cap = 0;

	if ((fmt == RAGDB_FORMAT_MARKDOWN || fmt == RAGDB_FORMAT_PDF) && md_scan(&ck.md, text, len)) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory chunking %zu bytes", len);
		goto out_free;
	}
	size_t s = skip_ws(text, len, 0), prev_end = 0;
	while (s < len) {
		size_t head0 = head_at(&ck.md, s);
		const md_block *tb = table_continued(&ck, s);
		size_t reserve = tb ? rdb_token_estimate(text + tb->start, tb->hdr_end - tb->start) : 0;
		cand c;
		cut_one(&ck, s, prev_end, head0, reserve, &c);
		if (grow((void **)&spans, &cap, ns, sizeof *spans)) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory chunking %zu bytes", len);
			goto out_free;
		}
		int oom = 0;
		spans[ns] = (rdb_span){ s, c.end, heading_path(&ck.md, text, c.head, &oom), NULL, 0 };
		ns++;
		if (tb && !oom && !(spans[ns - 1].text = with_header(text, tb, s, c.end,
		                                                     &spans[ns - 1].text_len)))
			oom = 1;
		if (oom) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory chunking %zu bytes", len);
			goto out_free;
		}
		prev_end = c.end;
		if (c.next >= len)
			break;
		if (c.strength == B_HEAD || c.strength == B_NONE)
			s = c.next; /* a new section, or a forced cut: no overlap */
		else
			s = overlap_start(&ck, s, c.end, c.next);
	}
	*out = spans;
	*n = ns;
	spans = NULL;
	ns = 0;
out_free:
	spans_free_n(spans, ns);
	free(ck.md.heads);
	free(ck.md.blocks);
	return st;
}
