/* tests/unit/test_providers_local.c — the built-in local embedder and the
 * embedder dispatch: identity, determinism, normalisation, dimensions,
 * similarity ordering, batches and concurrent use. */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/providers/embedder.h"
#include "engine/providers/stopwords.h"
#include "testutil.h"

static rdb_embedder *open_local(uint32_t dim)
{
	rdb_embedder *e = NULL;
	rdb_err err;
	ck_assert_int_eq(rdb_embedder_open("local", dim, &e, &err), RAGDB_OK);
	ck_assert_ptr_nonnull(e);
	return e;
}

static void embed1(rdb_embedder *e, const char *text, float *out)
{
	rdb_err err;
	size_t len = strlen(text);
	ck_assert_int_eq(rdb_embedder_embed(e, &text, &len, 1, RDB_EMBED_DOCUMENT, out, &err),
	                 RAGDB_OK);
}

static double dot(const float *a, const float *b, uint32_t dim)
{
	double s = 0;
	for (uint32_t i = 0; i < dim; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* Dispatch: NULL, "" and "local" open the local embedder with its identity
 * and default dimension; an unknown name fails EINVAL naming the known
 * ones; dimensions outside 1..8192 fail. */
START_TEST(test_open_dispatch)
{
	rdb_embedder *e = NULL;
	rdb_err err;
	ck_assert_int_eq(rdb_embedder_open(NULL, 0, &e, &err), RAGDB_OK);
	ck_assert_str_eq(e->name, "local");
	ck_assert_str_eq(e->model, RDB_LOCAL_MODEL);
	ck_assert_uint_eq(e->dim, RDB_LOCAL_DEFAULT_DIM);
	ck_assert_uint_gt(e->max_input, 0);
	ck_assert_uint_gt(e->batch_max, 0);
	rdb_embedder_close(e);

	e = NULL;
	ck_assert_int_eq(rdb_embedder_open("", 17, &e, &err), RAGDB_OK);
	ck_assert_uint_eq(e->dim, 17);
	rdb_embedder_close(e);

	e = NULL;
	ck_assert_int_eq(rdb_embedder_open("openai", 0, &e, &err), RAGDB_EINVAL);
	ck_assert_ptr_null(e);
	ck_assert_ptr_nonnull(strstr(err.msg, "unknown embedder \"openai\""));
	ck_assert_ptr_nonnull(strstr(err.msg, "known: local"));

	ck_assert_int_eq(rdb_embedder_open("local", 8193, &e, &err), RAGDB_EINVAL);
	ck_assert_ptr_null(e);
	ck_assert_int_eq(rdb_embedder_open("local", 8192, &e, &err), RAGDB_OK);
	rdb_embedder_close(e);
	rdb_embedder_close(NULL);
}
END_TEST

/* Rows are unit length for many dimensions (1, odd, large), the same text
 * gives the same vector on every call, and an empty text or one without
 * words gives the zero vector. */
START_TEST(test_norm_and_determinism)
{
	static const uint32_t dims[] = {1, 2, 3, 7, 31, 384, 385, 768, 1000, 8192};
	const char *text = "How do I rotate the API keys of the server? Run `keyctl rotate`.";
	for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
		uint32_t dim = dims[d];
		rdb_embedder *e = open_local(dim);
		float *a = malloc(dim * sizeof *a), *b = malloc(dim * sizeof *b);
		embed1(e, text, a);
		embed1(e, text, b);
		ck_assert_int_eq(memcmp(a, b, dim * sizeof *a), 0);
		ck_assert_double_eq_tol(dot(a, a, dim), 1.0, 1e-5);

		embed1(e, "", a);
		for (uint32_t i = 0; i < dim; i++)
			ck_assert_float_eq(a[i], 0.0f);
		embed1(e, " ,.;!? -- ", a);
		for (uint32_t i = 0; i < dim; i++)
			ck_assert_float_eq(a[i], 0.0f);
		/* A stopword alone is still a word: a unit vector. */
		embed1(e, "the", a);
		ck_assert_double_eq_tol(dot(a, a, dim), 1.0, 1e-5);
		free(a);
		free(b);
		rdb_embedder_close(e);
	}
}
END_TEST

/* Similarity ordering on triples (anchor, paraphrase, unrelated): the
 * paraphrase is closer to the anchor than the unrelated text. Also: case
 * and inflection do not change much. */
START_TEST(test_similarity_order)
{
	static const char *const triples[][3] = {
		{"How do I rotate the encryption keys?",
		 "Rotating keys: the key rotation command replaces old encryption keys.",
		 "The garden needs watering twice a week in summer."},
		{"Copy files between directories recursively",
		 "cp -r copies directories and their files recursively",
		 "The printer is out of paper and toner."},
		{"configure the network interface address",
		 "ip addr add sets an address on a network interface; configuration is lost on reboot",
		 "Bake the bread for forty minutes until golden."},
		{"compress a file with gzip",
		 "gzip compresses files; compressed files get the .gz suffix",
		 "Elections are held every four years in the country."},
	};
	rdb_embedder *e = open_local(0);
	uint32_t dim = e->dim;
	float *a = malloc(dim * sizeof *a), *p = malloc(dim * sizeof *p), *u = malloc(dim * sizeof *u);
	for (size_t i = 0; i < sizeof triples / sizeof triples[0]; i++) {
		embed1(e, triples[i][0], a);
		embed1(e, triples[i][1], p);
		embed1(e, triples[i][2], u);
		double sp = dot(a, p, dim), su = dot(a, u, dim);
		ck_assert_msg(sp > su + 0.1, "triple %zu: related %.3f vs unrelated %.3f", i, sp, su);
	}
	embed1(e, "ROTATE THE KEYS", a);
	embed1(e, "rotating the key", p);
	ck_assert_double_gt(dot(a, p, dim), 0.8);
	free(a);
	free(p);
	free(u);
	rdb_embedder_close(e);
}
END_TEST

/* A batch gives exactly the rows the texts give one at a time, whatever
 * their order and lengths; QUERY and DOCUMENT give the same vector; texts
 * are read by length, not up to a NUL. */
START_TEST(test_batch_equals_single)
{
	static const char *const texts[] = {
		"first text about keys", "", "Straße und Café", "東京タワー",
		"a much longer text that repeats repeats repeats the same words words words",
		"x",
	};
	enum { N = sizeof texts / sizeof texts[0] };
	rdb_embedder *e = open_local(96);
	uint32_t dim = e->dim;
	size_t lens[N];
	for (size_t i = 0; i < N; i++)
		lens[i] = strlen(texts[i]);
	float *batch = malloc(N * dim * sizeof *batch), *one = malloc(dim * sizeof *one);
	rdb_err err;
	ck_assert_int_eq(rdb_embedder_embed(e, texts, lens, N, RDB_EMBED_DOCUMENT, batch, &err),
	                 RAGDB_OK);
	for (size_t i = 0; i < N; i++) {
		ck_assert_int_eq(rdb_embedder_embed(e, &texts[i], &lens[i], 1, RDB_EMBED_QUERY, one,
		                                    &err), RAGDB_OK);
		ck_assert_int_eq(memcmp(one, batch + i * dim, dim * sizeof *one), 0);
	}
	/* Length, not NUL: "first text" alone differs from the whole text. */
	const char *t = texts[0];
	size_t l = 10;
	ck_assert_int_eq(rdb_embedder_embed(e, &t, &l, 1, RDB_EMBED_DOCUMENT, one, &err), RAGDB_OK);
	ck_assert_int_ne(memcmp(one, batch, dim * sizeof *one), 0);
	embed1(e, "first text", batch);
	ck_assert_int_eq(memcmp(one, batch, dim * sizeof *one), 0);
	free(batch);
	free(one);
	rdb_embedder_close(e);
}
END_TEST

/* Texts longer than max_input are read up to max_input: a text and the
 * same text with more appended past the cap embed the same. Also covers a
 * large text (the feature map grows). */
START_TEST(test_max_input)
{
	rdb_embedder *e = open_local(64);
	size_t cap = e->max_input;
	char *big = malloc(cap + 1000);
	unsigned seed = 7;
	for (size_t i = 0; i < cap + 1000; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned r = (seed >> 16) % 30;
		big[i] = r < 4 ? ' ' : (char)('a' + r - 4);
	}
	float a[64], b[64];
	const char *t = big;
	size_t l1 = cap, l2 = cap + 1000;
	rdb_err err;
	ck_assert_int_eq(rdb_embedder_embed(e, &t, &l1, 1, RDB_EMBED_DOCUMENT, a, &err), RAGDB_OK);
	ck_assert_int_eq(rdb_embedder_embed(e, &t, &l2, 1, RDB_EMBED_DOCUMENT, b, &err), RAGDB_OK);
	ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
	ck_assert_double_eq_tol(dot(a, a, 64), 1.0, 1e-4);
	free(big);
	rdb_embedder_close(e);
}
END_TEST

struct thread_job {
	rdb_embedder *e;
	float *out;
	int rounds;
};

static const char *const thread_texts[] = {
	"The quick brown fox jumps over the lazy dog.",
	"ragdb turns documents into an on-disk knowledge base.",
	"Ingest files, search them, and answer questions with sources.",
	"Σίσυφος 東京 café Straße",
};
enum { N_THREAD_TEXTS = 4 };

static void *thread_main(void *arg)
{
	struct thread_job *j = arg;
	size_t lens[N_THREAD_TEXTS];
	for (size_t i = 0; i < N_THREAD_TEXTS; i++)
		lens[i] = strlen(thread_texts[i]);
	rdb_err err;
	for (int r = 0; r < j->rounds; r++)
		if (rdb_embedder_embed(j->e, thread_texts, lens, N_THREAD_TEXTS, RDB_EMBED_DOCUMENT,
		                       j->out, &err) != RAGDB_OK)
			return (void *)1;
	return NULL;
}

/* Two threads embedding with one embedder at once get the vectors a
 * single thread gets. */
START_TEST(test_threads)
{
	rdb_embedder *e = open_local(0);
	size_t rowbytes = (size_t)N_THREAD_TEXTS * e->dim * sizeof(float);
	float *ref = malloc(rowbytes), *o1 = malloc(rowbytes), *o2 = malloc(rowbytes);
	struct thread_job j0 = {e, ref, 1}, j1 = {e, o1, 300}, j2 = {e, o2, 300};
	ck_assert_ptr_null(thread_main(&j0));
	pthread_t t1, t2;
	ck_assert_int_eq(pthread_create(&t1, NULL, thread_main, &j1), 0);
	ck_assert_int_eq(pthread_create(&t2, NULL, thread_main, &j2), 0);
	void *r1, *r2;
	pthread_join(t1, &r1);
	pthread_join(t2, &r2);
	ck_assert_ptr_null(r1);
	ck_assert_ptr_null(r2);
	ck_assert_int_eq(memcmp(ref, o1, rowbytes), 0);
	ck_assert_int_eq(memcmp(ref, o2, rowbytes), 0);
	free(ref);
	free(o1);
	free(o2);
	rdb_embedder_close(e);
}
END_TEST

/* The n-gram cache (a thread's, once it has embedded 64 KB) changes no
 * vector by a single bit: texts over a vocabulary larger than the cache
 * (slots evicted and refilled), with short words, words past the cached
 * length, non-ASCII words and stopwords, embed the same in a thread that
 * computes every n-gram, in a warm thread (first and second pass), and
 * after the warm thread switches dimension (the cache is for one). */
enum { NG_TEXTS = 400, NG_TEXT_BYTES = 600, NG_DIM = 384, NG_DIM2 = 64 };

struct ng_job {
	char **texts;
	size_t *lens;
	bool off;
	float *out, *out2, *small; /* NG_DIM rows twice, then NG_DIM2 rows */
	size_t hits;
};

static void *ng_thread(void *arg)
{
	struct ng_job *j = arg;
	if (j->off)
		rdb_local_cache_disable();
	rdb_embedder *e = NULL, *e2 = NULL;
	rdb_err err;
	if (rdb_embedder_open("local", NG_DIM, &e, &err) != RAGDB_OK ||
	    rdb_embedder_open("local", NG_DIM2, &e2, &err) != RAGDB_OK)
		return (void *)1;
	const char *const *t = (const char *const *)j->texts;
	void *r = NULL;
	for (size_t i = 0; i < NG_TEXTS && !r; i += 8)
		if (rdb_embedder_embed(e, t + i, j->lens + i, 8, RDB_EMBED_DOCUMENT,
		                       j->out + i * NG_DIM, &err) != RAGDB_OK)
			r = (void *)1;
	if (!r && rdb_embedder_embed(e, t, j->lens, NG_TEXTS, RDB_EMBED_DOCUMENT, j->out2,
	                             &err) != RAGDB_OK)
		r = (void *)1;
	if (!r && rdb_embedder_embed(e2, t, j->lens, NG_TEXTS, RDB_EMBED_DOCUMENT, j->small,
	                             &err) != RAGDB_OK)
		r = (void *)1;
	j->hits = rdb_local_cache_hits();
	rdb_embedder_close(e);
	rdb_embedder_close(e2);
	return r;
}

static void ng_run(struct ng_job *j)
{
	pthread_t th;
	void *r;
	ck_assert_int_eq(pthread_create(&th, NULL, ng_thread, j), 0);
	pthread_join(th, &r);
	ck_assert_ptr_null(r);
}

START_TEST(test_ngram_cache)
{
	static const char *const fixed[] = {"the", "of", "a", "zu", "x", "東京タワー", "Straße",
	                                    "naïve", "supercalifragilisticexpialidocious",
	                                    "rotating", "rotates", "internationalisation"};
	enum { NFIXED = sizeof fixed / sizeof fixed[0] };
	char **texts = malloc(NG_TEXTS * sizeof *texts);
	size_t *lens = malloc(NG_TEXTS * sizeof *lens);
	uint32_t x = 12345;
	for (size_t i = 0; i < NG_TEXTS; i++) {
		char *p = texts[i] = malloc(NG_TEXT_BYTES + 64);
		size_t n = 0;
		while (n < NG_TEXT_BYTES) {
			x = x * 1103515245u + 12345u;
			if ((x >> 16) % 4 == 0) {
				n += (size_t)sprintf(p + n, "%s ", fixed[(x >> 8) % NFIXED]);
				continue;
			}
			/* ~8,000 distinct words of 1..14 letters, Zipf-like reuse. */
			uint32_t w = (x >> 8) % 8000, r = w * 2654435761u;
			w = w * (w & 7) / 8;
			size_t wl = 1 + (r >> 7) % 14;
			for (size_t k = 0; k < wl; k++)
				p[n++] = (char)('a' + (r >> (k % 5 * 5) ^ w >> k) % 26);
			p[n++] = ' ';
		}
		lens[i] = n;
	}
	size_t rows = (size_t)NG_TEXTS * NG_DIM, small = (size_t)NG_TEXTS * NG_DIM2;
	struct ng_job ref = {texts, lens, true, malloc(rows * 4), malloc(rows * 4),
	                     malloc(small * 4), 0};
	struct ng_job warm = {texts, lens, false, malloc(rows * 4), malloc(rows * 4),
	                      malloc(small * 4), 0};
	ng_run(&ref);
	ng_run(&warm);
	ck_assert_uint_eq(ref.hits, 0);
	/* 240 KB of text: the cache starts after the first 64 KB. */
	ck_assert_uint_gt(warm.hits, 10000);
	ck_assert_int_eq(memcmp(ref.out, ref.out2, rows * 4), 0);
	ck_assert_int_eq(memcmp(ref.out, warm.out, rows * 4), 0);
	ck_assert_int_eq(memcmp(ref.out, warm.out2, rows * 4), 0);
	ck_assert_int_eq(memcmp(ref.small, warm.small, small * 4), 0);
	for (size_t i = 0; i < NG_TEXTS; i++)
		free(texts[i]);
	free(texts);
	free(lens);
	struct ng_job *jobs[] = {&ref, &warm};
	for (size_t i = 0; i < 2; i++) {
		free(jobs[i]->out);
		free(jobs[i]->out2);
		free(jobs[i]->small);
	}
}
END_TEST

/* The stopword set: function words are in, content words are not. */
START_TEST(test_stopwords)
{
	ck_assert(rdb_stopword("the", 3));
	ck_assert(rdb_stopword("yourselves", 10));
	ck_assert(rdb_stopword("of", 2));
	ck_assert(!rdb_stopword("key", 3));
	ck_assert(!rdb_stopword("th", 2));
	ck_assert(!rdb_stopword("", 0));
	ck_assert(!rdb_stopword("thesaurus", 9));
	/* the length given is the word: a stopword's prefix or extension is not one */
	ck_assert(!rdb_stopword("these", 4));
	ck_assert(rdb_stopword("these", 5));
	ck_assert(rdb_stopword("herself", 3));  /* "her" */
	ck_assert(rdb_stopword("herself", 4));  /* "hers" */
	ck_assert(!rdb_stopword("herself", 5)); /* "herse" */
	ck_assert(rdb_stopword("herself", 7));
	ck_assert(rdb_stopword("i", 1));
	ck_assert(!rdb_stopword("yourselvesx", 11));
	ck_assert(!rdb_stopword("yourselve", 9));
	ck_assert(!rdb_stopword("The", 3)); /* words arrive case-folded */
	/* every function word of a sentence, none of its content words */
	static const char *const in[] = { "a", "about", "between", "could", "etc", "ourselves",
	                                  "themselves", "upon", "whose", "within", "yours" };
	static const char *const out[] = { "ab", "abut", "betwixt", "cloud", "ours_", "them_",
	                                   "up0", "who's", "withinn", "yo", "zz" };
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		ck_assert_msg(rdb_stopword(in[i], strlen(in[i])), "%s", in[i]);
		ck_assert_msg(!rdb_stopword(out[i], strlen(out[i])), "%s", out[i]);
	}
}
END_TEST

static Suite *local_suite(void)
{
	Suite *s = suite_create("providers_local");
	TCase *tc = tcase_create("local");
	tcase_add_test(tc, test_open_dispatch);
	tcase_add_test(tc, test_norm_and_determinism);
	tcase_add_test(tc, test_similarity_order);
	tcase_add_test(tc, test_batch_equals_single);
	tcase_add_test(tc, test_max_input);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_stopwords);
	tcase_add_test(tc, test_ngram_cache);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(local_suite());
}
