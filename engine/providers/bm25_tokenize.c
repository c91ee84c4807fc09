/*
 * engine/providers/bm25_tokenize.c — the BM25 tokenizer and the per-chunk
 * term bag (see bm25_tokenize.h).
 *
 * The term bag is an open-addressing hash (XXH3 of the term) into a dense
 * array of terms whose strings live in one arena, so tokenizing a chunk costs
 * no allocation once the bag has grown to the largest chunk.
 */
#include "engine/providers/bm25_tokenize.h"

#include <libstemmer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "engine/providers/stopwords.h"
#include "engine/providers/text.h"

/* A direct-mapped cache of recent stems: Snowball costs far more than a
 * hash and a compare, and text repeats its words. Words longer than
 * STEM_WORD_MAX bytes bypass it. */
#define STEM_SLOTS 8192
#define STEM_WORD_MAX 24

typedef struct stem_slot {
	uint8_t wlen, slen;  /* wlen 0: empty */
	char word[STEM_WORD_MAX];
	char stem[STEM_WORD_MAX];
} stem_slot;

struct rdb_tokenizer {
	struct sb_stemmer *stem; /* NULL: language "none" */
	int english;             /* drop the English stopwords */
	stem_slot *cache;        /* STEM_SLOTS, allocated at first use; NULL if that failed */
	int cache_tried;
};

int rdb_language_supported(const char *language)
{
	if (!language || !*language)
		return 0;
	if (strcmp(language, "none") == 0)
		return 1;
	for (const char **l = sb_stemmer_list(); *l; l++)
		if (strcmp(*l, language) == 0)
			return 1;
	return 0;
}

static char lang_list[1024];
static pthread_once_t lang_once = PTHREAD_ONCE_INIT;

static void lang_list_build(void)
{
	size_t off = 0;
	for (const char **l = sb_stemmer_list(); *l && off + 40 < sizeof lang_list; l++)
		off += (size_t)snprintf(lang_list + off, sizeof lang_list - off, "%s, ", *l);
	snprintf(lang_list + off, sizeof lang_list - off, "none");
}

const char *rdb_language_list(void)
{
	pthread_once(&lang_once, lang_list_build);
	return lang_list;
}

ragdb_status rdb_tokenizer_create(const char *language, rdb_tokenizer **out, rdb_err *err)
{
	if (!language || !*language)
		language = "english";
	if (!rdb_language_supported(language))
		return rdb_err_set(err, RAGDB_EINVAL, "unknown full-text language \"%s\"; use one of: %s",
		                   language, rdb_language_list());
	rdb_tokenizer *t = calloc(1, sizeof *t);
	if (!t)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory creating a tokenizer");
	if (strcmp(language, "none") != 0) {
		t->stem = sb_stemmer_new(language, NULL);
		if (!t->stem) {
			free(t);
			return rdb_err_set(err, RAGDB_ENOMEM, "cannot create the %s stemmer", language);
		}
	}
	t->english = strcmp(language, "english") == 0 || strcmp(language, "porter") == 0;
	*out = t;
	return RAGDB_OK;
}

void rdb_tokenizer_free(rdb_tokenizer *t)
{
	if (!t)
		return;
	if (t->stem)
		sb_stemmer_delete(t->stem);
	free(t->cache);
	free(t);
}

void rdb_tokenize(rdb_tokenizer *t, const char *text, size_t len,
                  int (*cb)(void *ctx, const char *term, size_t len), void *ctx)
{
	rdb_words w;
	rdb_words_init(&w, text, len);
	while (rdb_words_next(&w)) {
		if (w.len == 0 || w.len > RDB_MAX_TERM)
			continue;
		if (t->english && rdb_stopword(w.buf, w.len))
			continue;
		const char *term = w.buf;
		size_t tl = w.len;
		if (t->stem) {
			if (!t->cache_tried) {
				t->cache = calloc(STEM_SLOTS, sizeof *t->cache);
				t->cache_tried = 1;
			}
			stem_slot *slot = NULL;
			if (t->cache && w.len <= STEM_WORD_MAX) {
				slot = &t->cache[XXH3_64bits(w.buf, w.len) & (STEM_SLOTS - 1)];
				if (slot->wlen == w.len && memcmp(slot->word, w.buf, w.len) == 0) {
					term = slot->stem;
					tl = slot->slen;
					goto stemmed;
				}
			}
			const sb_symbol *s = sb_stemmer_stem(t->stem, (const sb_symbol *)w.buf, (int)w.len);
			int sl = sb_stemmer_length(t->stem);
			/* NULL only when the stemmer runs out of memory: keep the word. */
			if (s && sl > 0 && sl <= RDB_MAX_TERM) {
				term = (const char *)s;
				tl = (size_t)sl;
			}
			if (slot && tl <= STEM_WORD_MAX) {
				slot->wlen = (uint8_t)w.len;
				memcpy(slot->word, w.buf, w.len);
				slot->slen = (uint8_t)tl;
				memcpy(slot->stem, term, tl);
			}
		}
	stemmed:;
		char buf[RDB_MAX_TERM + 1];
		memcpy(buf, term, tl);
		buf[tl] = 0;
		if (cb(ctx, buf, tl))
			return;
	}
}

/* ------------------------------------------------------------------ */
/* term bag */

void rdb_termbag_reset(rdb_termbag *b)
{
	b->n = 0;
	b->len_body = b->len_title = 0;
	b->arena_len = 0;
	b->oom = 0;
	if (b->slots)
		memset(b->slots, 0, b->n_slots * sizeof *b->slots);
}

void rdb_termbag_free(rdb_termbag *b)
{
	if (!b)
		return;
	free(b->terms);
	free(b->slots);
	free(b->arena);
	memset(b, 0, sizeof *b);
}

/* Slots hold index+1 into terms (0 = empty). Term pointers are stored as
 * arena offsets until rdb_termbag_dup, since the arena may move. */
static int bag_rehash(rdb_termbag *b, size_t n_slots)
{
	uint32_t *s = calloc(n_slots, sizeof *s);
	if (!s)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		const char *term = b->arena + (uintptr_t)b->terms[i].term;
		size_t h = (size_t)XXH3_64bits(term, strlen(term)) & (n_slots - 1);
		while (s[h])
			h = (h + 1) & (n_slots - 1);
		s[h] = (uint32_t)(i + 1);
	}
	free(b->slots);
	b->slots = s;
	b->n_slots = n_slots;
	return 0;
}

static int bag_term(void *ctx, const char *term, size_t len)
{
	void **c = ctx;
	rdb_termbag *b = c[0];
	int title = *(int *)c[1];
	if ((b->n + 1) * 2 > b->n_slots && bag_rehash(b, b->n_slots ? b->n_slots * 2 : 256)) {
		b->oom = 1;
		return 1;
	}
	size_t h = (size_t)XXH3_64bits(term, len) & (b->n_slots - 1);
	for (;;) {
		uint32_t s = b->slots[h];
		if (!s)
			break;
		rdb_term_tf *x = &b->terms[s - 1];
		if (strcmp(b->arena + (uintptr_t)x->term, term) == 0) {
			if (title)
				x->tf_title++;
			else
				x->tf_body++;
			goto counted;
		}
		h = (h + 1) & (b->n_slots - 1);
	}
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 128;
		rdb_term_tf *nt = realloc(b->terms, nc * sizeof *nt);
		if (!nt) {
			b->oom = 1;
			return 1;
		}
		b->terms = nt;
		b->cap = nc;
	}
	if (b->arena_len + len + 1 > b->arena_cap) {
		size_t nc = b->arena_cap ? b->arena_cap * 2 : 4096;
		while (nc < b->arena_len + len + 1)
			nc *= 2;
		char *na = realloc(b->arena, nc);
		if (!na) {
			b->oom = 1;
			return 1;
		}
		b->arena = na;
		b->arena_cap = nc;
	}
	memcpy(b->arena + b->arena_len, term, len + 1);
	b->terms[b->n] = (rdb_term_tf){ (const char *)(uintptr_t)b->arena_len, !title, !!title };
	b->arena_len += len + 1;
	b->slots[h] = (uint32_t)(++b->n);
counted:
	if (title)
		b->len_title++;
	else
		b->len_body++;
	return 0;
}

ragdb_status rdb_termbag_add(rdb_termbag *b, rdb_tokenizer *t, const char *text, size_t len,
                             int title, rdb_err *err)
{
	if (!text || !len)
		return RAGDB_OK;
	void *ctx[2] = { b, &title };
	rdb_tokenize(t, text, len, bag_term, ctx);
	if (b->oom)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory collecting the terms of a chunk");
	return RAGDB_OK;
}

rdb_term_tf *rdb_termbag_dup(const rdb_termbag *b, size_t *n)
{
	if (b->n == 0) {
		*n = 0;
		return NULL;
	}
	size_t arr = b->n * sizeof(rdb_term_tf);
	rdb_term_tf *out = malloc(arr + b->arena_len);
	if (!out)
		return NULL;
	char *strs = (char *)out + arr;
	memcpy(strs, b->arena, b->arena_len);
	for (size_t i = 0; i < b->n; i++) {
		out[i] = b->terms[i];
		out[i].term = strs + (uintptr_t)b->terms[i].term;
	}
	*n = b->n;
	return out;
}
