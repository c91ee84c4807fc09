/*
 * engine/providers/local.c — the built-in "local" embedder: deterministic
 * feature hashing, no network, no model files.
 *
 * Design ("hash-v1"). A text is read as words (rdb_words: NFKC, case-folded)
 * and turned into weighted features:
 *   - the word's light stem (s/es/ies/ing/ed and a final e off), weight
 *     W_WORD, so "rotate", "rotates", "rotated" and "rotating" meet;
 *     stopwords ("the", "of"...) count as themselves with weight W_STOP and
 *     give nothing else, or they dominate every vector;
 *   - character 3..5-grams of "<word>", counted in code points (so CJK runs
 *     give character n-grams too), whose weights add up to W_NGRAM per word:
 *     robustness to inflections the stemmer misses, compounds and typos.
 *     They are added once per distinct stem, straight into the vector (no
 *     term frequency): that keeps the feature map to words only, which
 *     made the embedder 1.6x faster at the same retrieval quality.
 * Within a text each distinct word feature counts once with sublinear term
 * frequency, mean weight x (1 + ln tf), so a word repeated 50 times does not
 * swamp the rest (binary tf measured far worse, sqrt slightly worse). Each
 * feature is signed-hashed (XXH3, one seed per kind) into two of the dim
 * buckets with weight 1/sqrt(2) each: bucket = multiply-shift of the high
 * 32 bits, sign = the lowest bit, shared by both copies (signs keep
 * collisions unbiased; two buckets halve the damage of each collision).
 * The row is then L2-normalised; an empty text (or one with no word) gives
 * the zero vector, and only it (if a tiny dim cancels every feature out,
 * the row is the first unit vector). QUERY and DOCUMENT are embedded the
 * same way (symmetric).
 *
 * Measured on the Debian man-page set (2,126 pages cut to title + 2,000
 * bytes, 1,911 one-line queries, brute-force cosine), nDCG@10 at dim 384:
 * this design 0.520 (0.517..0.525 over four choices of seeds; Recall@10
 * 0.70); with one bucket per feature 0.474..0.505; with the raw word as a
 * feature besides its stem (1.0, stem 0.5) 0.462; plus word bigrams (0.5)
 * 0.440 — at 384 dimensions every extra feature is more collision noise
 * than signal. The n-grams neither help nor hurt there (0.526 without) but
 * are kept for typos and compounds, which that set lacks. At dim 768:
 * 0.578. (BM25 over the full pages: 0.560.) ~30-38 MB/s per core.
 *
 * Any change to the features, weights, hashing or seeds changes the vectors:
 * bump RDB_LOCAL_MODEL so knowledge bases built before refuse to mix.
 *
 * Threads: the embedder holds no mutable state; every embed call allocates
 * its own feature map, so calls may run concurrently. The one thing kept
 * between calls is each thread's own cache of words' n-gram buckets (see
 * add_ngrams), which changes no result.
 *
 * Memory: a text is read up to max_input bytes (1 MiB); the feature map
 * grows with the text up to FMAP_MAX_SLOTS, past which new features are
 * added straight into the vector (no tf damping) instead of growing further.
 */
#include "engine/providers/embedder.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* Inlined: the hashes are of a few bytes each, where a call costs as much
 * as the hash. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "engine/providers/local_tune.h"
#include "engine/providers/stopwords.h"
#include "engine/providers/text.h"

#define LOCAL_MAX_DIM 8192u
#define LOCAL_MAX_INPUT ((size_t)1 << 20)
#define LOCAL_BATCH_MAX 256

/* Feature weights; see the design note. */
#define W_WORD 1.0f
#define W_STOP 0.15f
#define W_NGRAM 0.5f
#define NGRAM_MIN 3
#define NGRAM_MAX 5
#define NGRAM_MAX_CP 48 /* n-grams come from at most this many code points of a word */

/* One seed per feature kind so equal bytes of different kinds differ. */
#define SEED_WORD 0x9E3779B97F4A7C15ull
#define SEED_NGRAM 0x27D4EB2F165667C5ull

#define FMAP_MIN_SLOTS 256u
#define FMAP_MAX_SLOTS ((size_t)1 << 21)

/* A feature seen in this text: its hash, summed weight and count. */
typedef struct feat {
	uint64_t key; /* 0 = empty slot */
	float w;
	uint32_t n;
} feat;

typedef struct fmap {
	feat *slot;
	size_t cap;  /* power of two */
	size_t used;
	size_t alloc; /* slots allocated (>= cap) */
	float *out;   /* the row, for features the full map cannot take */
	uint32_t dim;
} fmap;

static inline void bucket_add1(float *out, uint32_t dim, uint64_t h, float v)
{
	uint32_t b = (uint32_t)(((uint64_t)(uint32_t)(h >> 32) * dim) >> 32);
	out[b] += (h & 1) ? -v : v;
}

/* Each feature goes into two buckets (the second from a remix of its hash),
 * each with weight v/sqrt(2): a collision then blurs half a feature, not a
 * whole one. */
static inline uint64_t bucket_key2(uint64_t key)
{
	uint64_t k2 = (key ^ (key >> 29)) * 0xBF58476D1CE4E5B9ull;
	/* The copy keeps the sign (bit 0 of key) so the two never cancel
	 * when they share a bucket. */
	return ((k2 ^ (k2 >> 32)) & ~(uint64_t)1) | (key & 1);
}

static inline void bucket_add(float *out, uint32_t dim, uint64_t key, float v)
{
	bucket_add1(out, dim, key, v * 0.70710678f);
	bucket_add1(out, dim, bucket_key2(key), v * 0.70710678f);
}

/* Double the table; false when it is at its cap or memory runs out. */
static bool fmap_grow(fmap *m)
{
	size_t ncap = m->cap * 2;
	if (ncap > FMAP_MAX_SLOTS)
		return false;
	feat *ns = calloc(ncap, sizeof *ns);
	if (!ns)
		return false;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slot[i].key)
			continue;
		size_t j = (size_t)m->slot[i].key & (ncap - 1);
		while (ns[j].key)
			j = (j + 1) & (ncap - 1);
		ns[j] = m->slot[i];
	}
	free(m->slot);
	m->slot = ns;
	m->cap = m->alloc = ncap;
	return true;
}

/* Count one occurrence of feature @p key; true when it is new in the text. */
static inline bool fmap_add(fmap *m, uint64_t key, float w)
{
	size_t mask = m->cap - 1;
	size_t j = (size_t)key & mask;
	while (m->slot[j].key) {
		if (m->slot[j].key == key) {
			m->slot[j].w += w;
			m->slot[j].n++;
			return false;
		}
		j = (j + 1) & mask;
	}
	if ((m->used + 1) * 2 > m->cap) {
		if (fmap_grow(m)) {
			mask = m->cap - 1;
			for (j = (size_t)key & mask; m->slot[j].key; j = (j + 1) & mask)
				;
		} else if ((m->used + 1) * 4 > m->cap * 3) {
			/* Benign: past the cap the feature goes in undamped. */
			bucket_add(m->out, m->dim, key, w);
			return true;
		}
	}
	m->slot[j].key = key;
	m->slot[j].w = w;
	m->slot[j].n = 1;
	m->used++;
	return true;
}

/* Size the table for a text of @p len bytes (about one distinct feature
 * per byte at most for prose) and clear it. */
static bool fmap_reset(fmap *m, size_t len)
{
	size_t want = FMAP_MIN_SLOTS;
	while (want < len / 4 && want < FMAP_MAX_SLOTS)
		want *= 2;
	if (want > m->alloc) {
		feat *ns = calloc(want, sizeof *ns);
		if (!ns)
			return false;
		free(m->slot);
		m->slot = ns;
		m->alloc = want;
	} else {
		memset(m->slot, 0, want * sizeof *m->slot);
	}
	m->cap = want;
	m->used = 0;
	return true;
}

/* The light stem of a case-folded word: a few English inflection endings
 * off, then a final 'e', so verb and noun forms meet. Writes into @p st and
 * returns its length. */
static size_t light_stem(const char *w, size_t len, char *st)
{
	memcpy(st, w, len);
	size_t n = len;
#define ENDS(s) (n > sizeof(s) - 1 && memcmp(st + n - (sizeof(s) - 1), s, sizeof(s) - 1) == 0)
	if (n >= 5 && ENDS("ies")) {
		n -= 3;
		st[n++] = 'y';
	} else if (n >= 5 && (ENDS("sses") || ENDS("xes") || ENDS("ches") || ENDS("shes"))) {
		n -= 2;
	} else if (n >= 4 && ENDS("s") && !ENDS("ss") && !ENDS("us") && !ENDS("is")) {
		n -= 1;
	} else if (n >= 5 && ENDS("ing")) {
		n -= 3;
	} else if (n >= 4 && ENDS("ed") && !ENDS("eed")) {
		n -= 2;
	}
	/* running -> runn -> run, stopped -> stopp -> stop */
	if (n < len && n >= 3 && st[n - 1] == st[n - 2] && st[n - 1] != 's' && st[n - 1] != 'l')
		n--;
	if (n >= 4 && st[n - 1] == 'e')
		n--;
#undef ENDS
	return n;
}

/* Character n-grams of "<word>", NGRAM_MIN..NGRAM_MAX code points, with a
 * total weight of W_NGRAM for the word.
 *
 * A word's n-grams land in the same buckets with the same signs every time
 * it is seen (only the weight, from the tuned table, differs by word), so
 * a thread that embeds a lot keeps them: a direct-mapped cache of words up
 * to NG_WORD_MAX bytes, each slot holding the word and its bucket entries
 * in the order they are added. Replaying them does the same float
 * additions in the same order, so vectors are bit-identical to computing
 * them afresh. It spares the ~20 hashes per new word of each chunk, most
 * of the embedder's time on prose. */
#define NG_WORD_MAX 22
#define NG_SLOT_ENTRIES 96 /* 2 per n-gram: words up to ~16 code points */
#define NG_SLOTS 4096u     /* power of two; ~940 KB per thread */
#define NG_MAX_ENTRIES (2 * 3 * (NGRAM_MAX_CP + 2)) /* >= 2 x n-grams of any word */
#define NG_ENTRY_NEG 0x8000u /* a bucket entry: bucket | sign (dim <= 8192) */
#define NG_WARM_BYTES ((size_t)64 << 10) /* a thread's text before it gets a cache */

typedef struct ngslot {
	uint8_t len;   /* 0 = empty */
	uint8_t count; /* n-grams of the word */
	char w[NG_WORD_MAX];
	uint16_t e[NG_SLOT_ENTRIES];
} ngslot;

typedef struct ngcache {
	uint32_t dim; /* the buckets are for this dimension */
	size_t hits;
	ngslot slot[NG_SLOTS];
} ngcache;

static pthread_once_t ng_once = PTHREAD_ONCE_INIT;
static pthread_key_t ng_key;
static bool ng_key_ok;
static _Thread_local size_t ng_seen; /* text bytes this thread embedded */
static _Thread_local bool ng_off;    /* tests: compute every n-gram */

static void ng_key_init(void) { ng_key_ok = pthread_key_create(&ng_key, free) == 0; }

/* The calling thread's cache for @p dim, once it has embedded NG_WARM_BYTES
 * (a thread embedding only queries never pays for one); NULL without. */
static ngcache *ng_cache(uint32_t dim, size_t text_bytes)
{
	ng_seen += text_bytes;
	if (ng_seen < NG_WARM_BYTES || ng_off)
		return NULL;
	pthread_once(&ng_once, ng_key_init);
	if (!ng_key_ok)
		return NULL;
	ngcache *c = pthread_getspecific(ng_key);
	if (!c) {
		/* Benign: without memory the n-grams are computed each time. */
		if (!(c = calloc(1, sizeof *c)))
			return NULL;
		if (pthread_setspecific(ng_key, c) != 0) {
			free(c);
			return NULL;
		}
		c->dim = dim;
	}
	if (c->dim != dim) {
		for (size_t i = 0; i < NG_SLOTS; i++)
			c->slot[i].len = 0;
		c->dim = dim;
	}
	return c;
}

void rdb_local_cache_disable(void) { ng_off = true; }

size_t rdb_local_cache_hits(void)
{
	ngcache *c = ng_key_ok ? pthread_getspecific(ng_key) : NULL;
	return c ? c->hits : 0;
}

static inline uint16_t ng_entry(uint32_t dim, uint64_t h)
{
	uint32_t b = (uint32_t)(((uint64_t)(uint32_t)(h >> 32) * dim) >> 32);
	return (uint16_t)(b | ((h & 1) ? NG_ENTRY_NEG : 0));
}

/* The bucket entries of the word's n-grams, in bucket_add's order; returns
 * how many n-grams (entries = twice that). */
static size_t ngram_entries(uint32_t dim, const char *w, size_t len, uint16_t *e)
{
	char buf[sizeof ((rdb_words *)0)->buf + 2];
	uint16_t cp[NGRAM_MAX_CP + 3]; /* code point starts in buf, then the end */
	buf[0] = '<';
	memcpy(buf + 1, w, len);
	buf[len + 1] = '>';
	size_t blen = len + 2, ncp = 0, i = 0;
	while (i < blen && ncp < NGRAM_MAX_CP + 2) {
		cp[ncp++] = (uint16_t)i;
		for (i++; i < blen && ((unsigned char)buf[i] & 0xC0) == 0x80; i++)
			;
	}
	cp[ncp] = (uint16_t)i;
	size_t count = 0;
	for (size_t n = NGRAM_MIN; n <= NGRAM_MAX; n++)
		for (size_t k = 0; k + n <= ncp; k++) {
			uint64_t key = XXH3_64bits_withSeed(buf + cp[k], cp[k + n] - cp[k], SEED_NGRAM);
			e[2 * count] = ng_entry(dim, key);
			e[2 * count + 1] = ng_entry(dim, bucket_key2(key));
			count++;
		}
	return count;
}

static void add_ngrams(ngcache *c, float *out, uint32_t dim, const char *w, size_t len,
                       float scale)
{
	uint16_t local[NG_MAX_ENTRIES];
	const uint16_t *e = local;
	size_t count;
	ngslot *sl = NULL;
	if (c && len <= NG_WORD_MAX) {
		sl = &c->slot[XXH3_64bits(w, len) & (NG_SLOTS - 1)];
		if (sl->len == len && memcmp(sl->w, w, len) == 0) {
			c->hits++;
			e = sl->e;
			count = sl->count;
			goto add;
		}
	}
	count = ngram_entries(dim, w, len, local);
	if (sl && count * 2 <= NG_SLOT_ENTRIES) {
		sl->len = (uint8_t)len;
		sl->count = (uint8_t)count;
		memcpy(sl->w, w, len);
		memcpy(sl->e, local, count * 2 * sizeof *local);
	}
add:
	if (count == 0)
		return;
	/* The same arithmetic as bucket_add, entry by entry. */
	float v = W_NGRAM * scale / (float)count * 0.70710678f;
	for (size_t i = 0; i < 2 * count; i++) {
		uint32_t b = e[i] & (NG_ENTRY_NEG - 1);
		out[b] += (e[i] & NG_ENTRY_NEG) ? -v : v;
	}
}

/* The word feature key of a stopword or a stem, as the feature map keeps it. */
static inline uint64_t word_key(const char *w, size_t len)
{
	uint64_t key = XXH3_64bits_withSeed(w, len, SEED_WORD);
	return key | (uint64_t)(key == 0); /* 0 marks an empty slot */
}

static void embed_one(fmap *m, ngcache *c, const char *text, size_t len, float *out,
                      uint32_t dim, const rdb_local_weights *lw)
{
	memset(out, 0, (size_t)dim * sizeof *out);
	m->out = out;
	m->dim = dim;

	rdb_words wd;
	rdb_words_init(&wd, text, len);
	char st[sizeof wd.buf];
	bool any = false;
	while (rdb_words_next(&wd)) {
		any = true;
		if (rdb_stopword(wd.buf, wd.len)) {
			fmap_add(m, word_key(wd.buf, wd.len), W_STOP);
			continue;
		}
		size_t sl = light_stem(wd.buf, wd.len, st);
		uint64_t key = word_key(st, sl);
		if (fmap_add(m, key, W_WORD))
			add_ngrams(c, out, dim, wd.buf, wd.len, lw ? rdb_local_weight(lw, key) : 1.0f);
	}

	for (size_t i = 0; i < m->cap; i++) {
		const feat *f = &m->slot[i];
		if (!f->key)
			continue;
		float tf = f->n == 1 ? 1.0f : 1.0f + logf((float)f->n);
		float idf = lw ? rdb_local_weight(lw, f->key) : 1.0f;
		bucket_add(out, dim, f->key, f->w / (float)f->n * tf * idf);
	}
	double ss = 0;
	for (uint32_t i = 0; i < dim; i++)
		ss += (double)out[i] * out[i];
	if (ss > 0) {
		float inv = (float)(1.0 / sqrt(ss));
		for (uint32_t i = 0; i < dim; i++)
			out[i] *= inv;
	} else if (any) {
		/* Signed features can cancel exactly in a tiny dim (dim 1: two
		 * words of opposite signs); only the empty text may be zero. */
		out[0] = 1.0f;
	}
}

/* The embedder behind the interface: hash-v1, with corpus weights when tuned.
 * A re-tune swaps @p weights atomically while other threads may be embedding
 * with the old table, so replaced tables are kept (retired) until close. */
typedef struct local_embedder {
	rdb_embedder base;
	rdb_local_weights *weights; /* NULL: untuned; a table is never changed */
	rdb_local_weights **retired;
	size_t n_retired;
} local_embedder;

static ragdb_status local_embed(rdb_embedder *e, const char *const *texts, const size_t *lens,
                                size_t n, rdb_embed_purpose purpose, float *out, rdb_err *err)
{
	(void)purpose; /* symmetric: queries and documents share the features */
	const rdb_local_weights *lw =
		__atomic_load_n(&((local_embedder *)e)->weights, __ATOMIC_ACQUIRE);
	fmap m = {0};
	ragdb_status st = RAGDB_OK;
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += texts[i] ? lens[i] : 0;
	ngcache *c = ng_cache(e->dim, bytes);
	for (size_t i = 0; i < n; i++) {
		size_t len = lens[i] < e->max_input ? lens[i] : e->max_input;
		if (!texts[i])
			len = 0;
		if (!fmap_reset(&m, len)) {
			st = rdb_err_set(err, RAGDB_ENOMEM,
			                 "local embedder: out of memory for the features of a %zu-byte "
			                 "text; free memory or send shorter texts", len);
			goto out_free_map;
		}
		embed_one(&m, c, len ? texts[i] : "", len, out + i * (size_t)e->dim, e->dim, lw);
	}
out_free_map:
	free(m.slot);
	return st;
}

static void local_close(rdb_embedder *e)
{
	local_embedder *le = (local_embedder *)e;
	if (!le)
		return;
	rdb_local_weights_free(le->weights);
	for (size_t i = 0; i < le->n_retired; i++)
		rdb_local_weights_free(le->retired[i]);
	free(le->retired);
	free(le);
}

static const struct rdb_embedder_ops local_ops = {
	.embed = local_embed,
	.close = local_close,
};

ragdb_status rdb_local_embedder_open(uint32_t dim, rdb_embedder **out, rdb_err *err)
{
	if (dim == 0)
		dim = RDB_LOCAL_DEFAULT_DIM;
	if (dim > LOCAL_MAX_DIM)
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "local embedder: dimension %u is too large; use 1..%u (default %u)",
		                   dim, LOCAL_MAX_DIM, RDB_LOCAL_DEFAULT_DIM);
	local_embedder *le = calloc(1, sizeof *le);
	if (!le)
		return rdb_err_set(err, RAGDB_ENOMEM, "local embedder: out of memory");
	rdb_embedder *e = &le->base;
	e->ops = &local_ops;
	snprintf(e->name, sizeof e->name, "local");
	snprintf(e->model, sizeof e->model, "%s", RDB_LOCAL_MODEL);
	e->dim = dim;
	e->max_input = LOCAL_MAX_INPUT;
	e->batch_max = LOCAL_BATCH_MAX;
	*out = e;
	return RAGDB_OK;
}

int rdb_local_is(const rdb_embedder *e)
{
	return e && e->ops == &local_ops;
}

ragdb_status rdb_local_retune(rdb_embedder *e, const void *blob, size_t len, rdb_err *err)
{
	if (!rdb_local_is(e))
		return rdb_err_set(err, RAGDB_EUNSUPPORTED, "only the local embedder can be tuned; "
		                   "this knowledge base uses %s:%s", e ? e->name : "?",
		                   e ? e->model : "?");
	local_embedder *le = (local_embedder *)e;
	rdb_local_weights *lw = NULL;
	ragdb_status st;
	if (blob && (st = rdb_local_weights_decode(blob, len, &lw, err)) != RAGDB_OK)
		return st;
	if (le->weights) {
		rdb_local_weights **r = realloc(le->retired, sizeof *r * (le->n_retired + 1));
		if (!r) {
			rdb_local_weights_free(lw);
			return rdb_err_set(err, RAGDB_ENOMEM, "local embedder: out of memory");
		}
		le->retired = r;
		le->retired[le->n_retired++] = le->weights;
	}
	__atomic_store_n(&le->weights, lw, __ATOMIC_RELEASE);
	if (blob)
		rdb_local_tuned_model(blob, len, e->model, sizeof e->model);
	else
		snprintf(e->model, sizeof e->model, "%s", RDB_LOCAL_MODEL);
	return RAGDB_OK;
}

ragdb_status rdb_local_embedder_open_tuned(uint32_t dim, const void *blob, size_t len,
                                           rdb_embedder **out, rdb_err *err)
{
	rdb_embedder *e = NULL;
	ragdb_status st = rdb_local_embedder_open(dim, &e, err);
	if (st == RAGDB_OK && (st = rdb_local_retune(e, blob, len, err)) != RAGDB_OK) {
		local_close(e);
		return st;
	}
	if (st == RAGDB_OK)
		*out = e;
	return st;
}

void rdb_local_word_keys(const char *text, size_t len, void (*cb)(void *ctx, uint64_t key),
                         void *ctx)
{
	rdb_words wd;
	char st[sizeof wd.buf];
	if (len > LOCAL_MAX_INPUT)
		len = LOCAL_MAX_INPUT; /* what the embedder reads */
	rdb_words_init(&wd, text, len);
	while (rdb_words_next(&wd)) {
		if (rdb_stopword(wd.buf, wd.len)) {
			cb(ctx, word_key(wd.buf, wd.len));
			continue;
		}
		size_t sl = light_stem(wd.buf, wd.len, st);
		cb(ctx, word_key(st, sl));
	}
}
