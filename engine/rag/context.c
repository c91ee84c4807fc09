/*
 * engine/rag/context.c — from retrieved chunks to numbered passages:
 * merge neighbouring chunks of one document, order by best score, fit the
 * token budget.
 *
 * Invariants:
 *  1. A hit's text is the document's bytes [start, end) (text_len ==
 *     end - start), as the chunker stores them; merging relies on it to
 *     take from a later chunk exactly the bytes past the earlier one's end.
 *     A hit whose text_len disagrees with its range is never merged (it is a
 *     passage of its own), so a caller's inconsistency cannot garble text.
 *  2. Passages are numbered 1..n in order of best score; equal scores keep
 *     the order of their best hit in the input (the search layer's order).
 *  3. The total rdb_token_estimate of the returned passages is at most the
 *     budget, except that the first passage is always returned: when it
 *     alone is over, it is cut at the last sentence end that fits (or the
 *     last whitespace, or a code point boundary, when no sentence fits).
 *     A budget of 0 means no budget.
 */
#include "engine/rag/rag.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/providers/text.h"

/* A group of hits being merged, before its text is assembled. */
typedef struct group {
	size_t first;     /* index into the sorted order of its first hit */
	size_t count;     /* hits in the group (consecutive in sorted order) */
	float score;
	size_t best_hit;  /* input index of its best-scored hit */
} group;

/* qsort has no context argument; sort an index array of (hit, index) pairs
 * instead so the comparison sees everything it needs. */
typedef struct hit_ref {
	const rdb_hit_in *h;
	size_t idx;
} hit_ref;

static int hit_cmp(const void *a, const void *b)
{
	const hit_ref *x = a, *y = b;
	if (x->h->doc != y->h->doc)
		return x->h->doc < y->h->doc ? -1 : 1;
	if (x->h->start != y->h->start)
		return x->h->start < y->h->start ? -1 : 1;
	if (x->h->end != y->h->end)
		return x->h->end > y->h->end ? -1 : 1; /* the longer first: it contains the other */
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static bool hit_consistent(const rdb_hit_in *h)
{
	return h->end >= h->start && h->end - h->start == h->text_len && (h->text || !h->text_len);
}

static int group_cmp(const void *a, const void *b)
{
	const group *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->best_hit < y->best_hit ? -1 : (x->best_hit > y->best_hit);
}

/* Cut @p p's text to at most @p budget estimated tokens: at the last
 * sentence end that fits, else the last whitespace, else by bytes. */
static void cut_to_budget(rdb_passage *p, uint32_t budget)
{
	const char *t = p->text;
	size_t len = p->text_len, keep = 0;
	for (size_t pos = 0; pos < len;) {
		size_t e = rdb_sentence_end(t, len, pos);
		if (e <= pos || rdb_token_estimate(t, e) > budget)
			break;
		keep = e;
		pos = e;
	}
	if (keep == 0) {
		for (size_t i = 0; i < len; i++) {
			if (t[i] != ' ' && t[i] != '\n' && t[i] != '\t')
				continue;
			if (rdb_token_estimate(t, i) > budget)
				break;
			keep = i;
		}
	}
	if (keep == 0) {
		/* One giant token-run: about four bytes a token. */
		keep = (size_t)budget * 4 < len ? (size_t)budget * 4 : len;
		while (keep > 0 && keep < len && ((unsigned char)t[keep] & 0xC0) == 0x80)
			keep--;
	}
	while (keep > 0 && (t[keep - 1] == ' ' || t[keep - 1] == '\n' || t[keep - 1] == '\t' ||
	                    t[keep - 1] == '\r'))
		keep--;
	p->text[keep] = 0;
	p->text_len = keep;
	p->end = p->start + keep;
}

void rdb_passages_free(rdb_passage *p, size_t n)
{
	if (!p)
		return;
	for (size_t i = 0; i < n; i++)
		free(p[i].text);
	free(p);
}

/* Assemble the merged text of the hits refs[0..count): each hit adds the
 * bytes past the end reached so far. */
static ragdb_status group_text(const hit_ref *refs, size_t count, rdb_passage *p, rdb_err *err)
{
	size_t total = 0;
	uint64_t reach = refs[0].h->start;
	for (size_t i = 0; i < count; i++) {
		const rdb_hit_in *h = refs[i].h;
		if (h->end > reach) {
			total += (size_t)(h->end - (h->start > reach ? h->start : reach));
			reach = h->end;
		}
	}
	char *text = malloc(total + 1);
	if (!text)
		return rdb_err_set(err, RAGDB_ENOMEM, "context: out of memory for a %zu-byte passage",
		                   total);
	size_t o = 0;
	reach = refs[0].h->start;
	for (size_t i = 0; i < count; i++) {
		const rdb_hit_in *h = refs[i].h;
		if (h->end <= reach)
			continue;
		size_t skip = h->start >= reach ? 0 : (size_t)(reach - h->start);
		if (h->text_len > skip)
			memcpy(text + o, h->text + skip, h->text_len - skip);
		o += h->text_len - skip;
		reach = h->end;
	}
	text[o] = 0;
	p->text = text;
	p->text_len = o;
	p->start = refs[0].h->start;
	p->end = reach;
	return RAGDB_OK;
}

ragdb_status rdb_context_build(const rdb_hit_in *hits, size_t n, uint32_t token_budget,
                               rdb_passage **out, size_t *n_out, rdb_err *err)
{
	ragdb_status st = RAGDB_OK;
	hit_ref *refs = NULL;
	group *groups = NULL;
	rdb_passage *ps = NULL;
	size_t ng = 0, np = 0;

	if (n == 0) {
		*out = NULL;
		*n_out = 0;
		return RAGDB_OK;
	}
	if (n > SIZE_MAX / sizeof(rdb_passage))
		return rdb_err_set(err, RAGDB_EINVAL, "context: %zu hits is too many", n);
	refs = malloc(n * sizeof *refs);
	groups = malloc(n * sizeof *groups);
	ps = calloc(n, sizeof *ps);
	if (!refs || !groups || !ps) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "context: out of memory for %zu hits", n);
		goto out_free;
	}
	for (size_t i = 0; i < n; i++)
		refs[i] = (hit_ref){&hits[i], i};
	qsort(refs, n, sizeof *refs, hit_cmp);

	/* Group runs of one document whose ranges touch or overlap. */
	for (size_t i = 0; i < n;) {
		group g = {i, 1, refs[i].h->score, refs[i].idx};
		uint64_t reach = refs[i].h->end;
		bool mergeable = hit_consistent(refs[i].h);
		size_t j = i + 1;
		while (mergeable && j < n && refs[j].h->doc == refs[i].h->doc &&
		       refs[j].h->start <= reach && hit_consistent(refs[j].h)) {
			if (refs[j].h->end > reach)
				reach = refs[j].h->end;
			if (refs[j].h->score > g.score ||
			    (refs[j].h->score == g.score && refs[j].idx < g.best_hit)) {
				g.score = refs[j].h->score;
				g.best_hit = refs[j].idx;
			}
			g.count++;
			j++;
		}
		groups[ng++] = g;
		i = j;
	}
	qsort(groups, ng, sizeof *groups, group_cmp);

	uint64_t used = 0;
	for (size_t k = 0; k < ng; k++) {
		const group *g = &groups[k];
		rdb_passage p = {0};
		if (g->count == 1 && !hit_consistent(refs[g->first].h)) {
			const rdb_hit_in *h = refs[g->first].h;
			p.text = malloc(h->text_len + 1);
			if (!p.text) {
				st = rdb_err_set(err, RAGDB_ENOMEM, "context: out of memory");
				goto out_free;
			}
			if (h->text_len)
				memcpy(p.text, h->text, h->text_len);
			p.text[h->text_len] = 0;
			p.text_len = h->text_len;
			p.start = h->start;
			p.end = h->end;
		} else if ((st = group_text(refs + g->first, g->count, &p, err)) != RAGDB_OK) {
			goto out_free;
		}
		p.doc = hits[g->best_hit].doc;
		p.score = g->score;
		p.user = hits[g->best_hit].user;
		p.n = (uint32_t)(np + 1);
		size_t tokens = rdb_token_estimate(p.text, p.text_len);
		if (token_budget && used + tokens > token_budget) {
			if (np > 0) {
				free(p.text);
				break;
			}
			cut_to_budget(&p, token_budget);
			tokens = rdb_token_estimate(p.text, p.text_len);
		}
		used += tokens;
		ps[np++] = p;
	}

	*out = ps;
	*n_out = np;
	ps = NULL;
out_free:
	rdb_passages_free(ps, np);
	free(groups);
	free(refs);
	return st;
}
