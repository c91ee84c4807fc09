/* tests/unit/test_index.c — the LMDB store: open/create, documents and
 * chunks, vector blocks, replace/delete, compaction, check, map growth,
 * snapshots. Raw LMDB is used only to plant corruption and foreign schemas. */
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/postings.h"
#include "index/store.h"
#include "index/store_int.h" /* the chunks db and rdb_ft_flush */
#include "testutil.h"

/* Assert a call succeeds; the caller has an rdb_err named err. */
#define OK(call_with_err) do { ragdb_status s_ = (call_with_err); \
	ck_assert_msg(s_ == RAGDB_OK, "%s -> %d: %s", #call_with_err, s_, err.msg); } while (0)

static rdb_meta meta_dim(uint32_t dim, uint32_t block_cap)
{
	rdb_meta m;
	memset(&m, 0, sizeof m);
	strcpy(m.embedder, "local");
	strcpy(m.model, "hash-v1");
	m.dim = dim;
	m.block_cap = block_cap;
	m.chunk_tokens = 200;
	m.chunk_overlap = 20;
	return m;
}

/* A deterministic unit vector for @p seed. */
static void unit_vec(float *v, uint32_t dim, uint64_t seed)
{
	double ss = 0;
	for (uint32_t j = 0; j < dim; j++) {
		v[j] = (float)sin((double)seed * 1.7 + j * 0.31 + 0.5);
		ss += (double)v[j] * v[j];
	}
	for (uint32_t j = 0; j < dim; j++)
		v[j] = (float)(v[j] / sqrt(ss));
}

/* Put a document with @p n chunks whose vectors are unit_vec(seed + i). */
static ragdb_status put_doc(rdb_txn *t, const char *id, const char *source, size_t n,
                            uint64_t seed, rdb_doc *out, rdb_err *err)
{
	uint32_t dim = rdb_store_meta(rdb_txn_store(t))->dim;
	rdb_chunk_in *c = calloc(n ? n : 1, sizeof *c);
	float *v = calloc((n ? n : 1) * dim, sizeof *v);
	char (*texts)[64] = calloc(n ? n : 1, 64);
	for (size_t i = 0; i < n; i++) {
		snprintf(texts[i], 64, "%s chunk %zu", id, i);
		c[i].start = i * 10;
		c[i].end = i * 10 + 10;
		c[i].text = texts[i];
		c[i].text_len = strlen(texts[i]);
		c[i].heading = (i % 2) ? "Intro > Part" : NULL;
		unit_vec(v + i * dim, dim, seed + i);
	}
	rdb_doc d;
	memset(&d, 0, sizeof d);
	d.id = id;
	d.source = source;
	d.title = "A title";
	d.meta_json = "{\"k\":1}";
	d.size = n * 10;
	d.mtime = 1700000000;
	d.ingested = 1700000001;
	memset(d.hash, 0xab, 16);
	ragdb_status st = rdb_doc_put(t, &d, c, n, v, err);
	if (!st && out)
		*out = d;
	free(c);
	free(v);
	free(texts);
	return st;
}

typedef struct problems {
	int n;
	char text[8192];
} problems;

static void on_problem(void *ctx, const char *p)
{
	problems *pr = ctx;
	pr->n++;
	size_t len = strlen(pr->text);
	snprintf(pr->text + len, sizeof pr->text - len, "%s\n", p);
}

static uint64_t check_store(rdb_store *s, problems *pr)
{
	rdb_err err;
	rdb_txn *t;
	uint64_t n = 99;
	memset(pr, 0, sizeof *pr);
	OK(rdb_txn_begin(s, 0, &t, &err));
	OK(rdb_store_check(t, on_problem, pr, &n, &err));
	rdb_txn_abort(t);
	return n;
}

static rdb_store_stats stats_of(rdb_store *s)
{
	rdb_err err;
	rdb_txn *t;
	rdb_store_stats st;
	OK(rdb_txn_begin(s, 0, &t, &err));
	OK(rdb_store_stats_get(t, &st, &err));
	rdb_txn_abort(t);
	return st;
}

static int collect_num(void *ctx, const char *src, uint64_t num)
{
	(void)src;
	*(unsigned *)ctx |= 1u << num;
	return 0;
}

static int collect_id(void *ctx, const rdb_doc *d)
{
	strcat(ctx, d->id);
	strcat(ctx, ",");
	return 0;
}

/* Create, close, reopen (also read-only): meta survives; block_cap default
 * follows the 1 MiB rule; a read-only store refuses write txns. */
START_TEST(test_create_reopen)
{
	char *dir = tu_tmpdir("idx-create");
	char sub[4200];
	snprintf(sub, sizeof sub, "%s/nested/kb", dir);
	rdb_err err;
	rdb_store *s;
	rdb_meta m = meta_dim(384, 0);
	OK(rdb_store_open(sub, RDB_STORE_CREATE, &m, &s, &err));
	ck_assert_uint_eq(rdb_store_meta(s)->block_cap, 512);
	ck_assert_str_eq(rdb_store_dir(s), sub);
	rdb_store_close(s);
	OK(rdb_store_open(sub, 0, NULL, &s, &err));
	const rdb_meta *g = rdb_store_meta(s);
	ck_assert_uint_eq(g->schema, RDB_SCHEMA_VERSION);
	ck_assert_uint_eq(g->dim, 384);
	ck_assert_uint_eq(g->block_cap, 512);
	ck_assert_uint_eq(g->chunk_tokens, 200);
	ck_assert_uint_eq(g->chunk_overlap, 20);
	ck_assert_str_eq(g->embedder, "local");
	ck_assert_str_eq(g->model, "hash-v1");
	ck_assert(g->created > 0);
	rdb_store_close(s);
	OK(rdb_store_open(sub, RDB_STORE_RDONLY, NULL, &s, &err));
	rdb_txn *t = NULL;
	ck_assert_int_eq(rdb_txn_begin(s, 1, &t, &err), RAGDB_EREADONLY);
	OK(rdb_txn_begin(s, 0, &t, &err));
	rdb_txn_abort(t);
	rdb_store_close(s);

	/* Edge dims: clamps of the block capacity. */
	uint32_t dims[] = { 1, 8, 256, 257, 16384, 65536 };
	uint32_t caps[] = { 4096, 4096, 1024, 512, 16, 16 };
	for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
		snprintf(sub, sizeof sub, "%s/d%u", dir, dims[i]);
		m = meta_dim(dims[i], 0);
		OK(rdb_store_open(sub, RDB_STORE_CREATE, &m, &s, &err));
		ck_assert_uint_eq(rdb_store_meta(s)->block_cap, caps[i]);
		rdb_store_close(s);
	}
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* No knowledge base -> ENOTFOUND naming `ragdb init`; create over one ->
 * EEXIST; another schema number -> ESCHEMA naming both versions. */
START_TEST(test_open_errors)
{
	char *dir = tu_tmpdir("idx-errs");
	rdb_err err;
	rdb_store *s = (rdb_store *)0x1;
	ck_assert_int_eq(rdb_store_open(dir, 0, NULL, &s, &err), RAGDB_ENOTFOUND);
	ck_assert_ptr_eq(s, (rdb_store *)0x1);
	ck_assert(strstr(err.msg, "ragdb init") != NULL);
	ck_assert(strstr(err.msg, dir) != NULL);
	ck_assert_int_eq(rdb_store_open(dir, RDB_STORE_RDONLY, NULL, &s, &err), RAGDB_ENOTFOUND);

	rdb_meta m = meta_dim(8, 0);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	rdb_store_close(s);
	ck_assert_int_eq(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err), RAGDB_EEXIST);

	/* Plant schema 7 with raw LMDB (8-byte little-endian, docs/ARCHITECTURE.md). */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0664), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	uint64_t seven = 7;
	MDB_val k = { 6, "schema" }, v = { 8, &seven };
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	ck_assert_int_eq(rdb_store_open(dir, 0, NULL, &s, &err), RAGDB_ESCHEMA);
	ck_assert_msg(strstr(err.msg, "schema 2") && strstr(err.msg, "schema 7"), "%s", err.msg);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A document round-trips by id and by number with all fields; chunks come
 * back with text, heading, range, ordinal; sources match exactly and as a
 * directory, and "/a/b" does not match "/a/bc". */
START_TEST(test_doc_roundtrip_and_sources)
{
	char *dir = tu_tmpdir("idx-doc");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	rdb_meta m = meta_dim(8, 0);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	OK(rdb_txn_begin(s, 1, &t, &err));
	rdb_doc d1, d2, d3, d4;
	OK(put_doc(t, "one", "/a/b", 3, 100, &d1, &err));
	OK(put_doc(t, "two", "/a/bc", 2, 200, &d2, &err));
	OK(put_doc(t, "three", "/a/b/c.md", 1, 300, &d3, &err));
	OK(put_doc(t, "four", "/a/b", 0, 400, &d4, &err));
	OK(rdb_txn_commit(t, &err));
	ck_assert_uint_eq(d1.num, 1);
	ck_assert_uint_eq(d1.first_chunk, 1);
	ck_assert_uint_eq(d1.n_chunks, 3);
	ck_assert_uint_eq(d2.first_chunk, 4);
	ck_assert_uint_eq(d3.first_chunk, 6);
	ck_assert_uint_eq(d4.n_chunks, 0);

	OK(rdb_txn_begin(s, 0, &t, &err));
	rdb_doc g;
	OK(rdb_doc_get_by_id(t, "one", &g, &err));
	ck_assert_uint_eq(g.num, 1);
	ck_assert_str_eq(g.id, "one");
	ck_assert_str_eq(g.source, "/a/b");
	ck_assert_str_eq(g.title, "A title");
	ck_assert_str_eq(g.meta_json, "{\"k\":1}");
	ck_assert_uint_eq(g.size, 30);
	ck_assert_int_eq(g.mtime, 1700000000);
	ck_assert_int_eq(g.ingested, 1700000001);
	ck_assert_uint_eq(g.hash[15], 0xab);
	ck_assert_uint_eq(g.first_chunk, 1);
	ck_assert_uint_eq(g.n_chunks, 3);
	OK(rdb_doc_get(t, d2.num, &g, &err));
	ck_assert_str_eq(g.id, "two");
	ck_assert_int_eq(rdb_doc_get_by_id(t, "nope", &g, &err), RAGDB_ENOTFOUND);
	ck_assert_int_eq(rdb_doc_get(t, 999, &g, &err), RAGDB_ENOTFOUND);

	rdb_buf b = { 0 };
	rdb_chunk c;
	OK(rdb_chunk_get(t, 2, &c, &b, &err));
	ck_assert_str_eq(c.text, "one chunk 1");
	ck_assert_uint_eq(c.text_len, strlen("one chunk 1"));
	ck_assert_str_eq(c.heading, "Intro > Part");
	ck_assert_uint_eq(c.doc, 1);
	ck_assert_uint_eq(c.ordinal, 1);
	ck_assert_uint_eq(c.start, 10);
	ck_assert_uint_eq(c.end, 20);
	OK(rdb_chunk_get(t, 1, &c, &b, &err));
	ck_assert_str_eq(c.heading, "");
	ck_assert_int_eq(rdb_chunk_get(t, 77, &c, &b, &err), RAGDB_ENOTFOUND);
	rdb_buf_free(&b);

	/* Source matching, table-driven: bitmask of doc nums found. */
	struct { const char *src; int prefix; unsigned want; } cases[] = {
		{ "/a/b", 0, 1u << 1 | 1u << 4 },
		{ "/a/b", 1, 1u << 1 | 1u << 3 | 1u << 4 },
		{ "/a/b/", 1, 1u << 3 },
		{ "/a/bc", 1, 1u << 2 },
		{ "/a", 1, 1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 },
		{ "/a", 0, 0 },
		{ "", 1, 1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 },
		{ "/a/b/c", 1, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned got = 0;
		OK(rdb_source_iter(t, cases[i].src, cases[i].prefix, collect_num, &got, &err));
		ck_assert_msg(got == cases[i].want, "source \"%s\" prefix %d: got 0x%x, want 0x%x",
		              cases[i].src, cases[i].prefix, got, cases[i].want);
	}
	/* Documents in id order. */
	char order[64] = "";
	OK(rdb_doc_iter(t, collect_id, order, &err));
	ck_assert_str_eq(order, "four,one,three,two,");
	rdb_txn_abort(t);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST


/* Every chunk's record names a slot that holds its id and its vector. */
static void assert_mapping(rdb_txn *t, uint64_t first, uint64_t n, uint64_t seed)
{
	rdb_err err;
	uint32_t dim = rdb_store_meta(rdb_txn_store(t))->dim;
	rdb_block_view *bv;
	size_t nb;
	OK(rdb_blocks_get(t, &bv, &nb, &err));
	rdb_buf b = { 0 };
	float want[64];
	for (uint64_t i = 0; i < n; i++) {
		rdb_chunk c;
		OK(rdb_chunk_get(t, first + i, &c, &b, &err));
		size_t j = 0;
		while (j < nb && bv[j].block_no != c.block)
			j++;
		ck_assert_msg(j < nb, "chunk %llu names missing block %u", (unsigned long long)(first + i),
		              c.block);
		ck_assert_uint_lt(c.slot, bv[j].count);
		ck_assert_uint_eq(bv[j].ids[c.slot], first + i);
		unit_vec(want, dim, seed + i);
		ck_assert_msg(memcmp(want, bv[j].vecs + (size_t)c.slot * dim, dim * 4) == 0,
		              "chunk %llu: vector differs", (unsigned long long)(first + i));
	}
	rdb_buf_free(&b);
	free(bv);
}

/* Count live slots and find each live id at most once across all blocks. */
static uint64_t live_slots(rdb_txn *t, size_t *n_blocks)
{
	rdb_err err;
	rdb_block_view *bv;
	size_t nb;
	OK(rdb_blocks_get(t, &bv, &nb, &err));
	uint64_t live = 0;
	for (size_t j = 0; j < nb; j++) {
		if (j)
			ck_assert_uint_gt(bv[j].block_no, bv[j - 1].block_no);
		ck_assert_uint_eq((uintptr_t)bv[j].ids % 8, 0);
		ck_assert_uint_eq((uintptr_t)bv[j].vecs % 4, 0);
		for (uint32_t i = 0; i < bv[j].count; i++)
			live += bv[j].ids[i] != 0;
	}
	free(bv);
	if (n_blocks)
		*n_blocks = nb;
	return live;
}

/* Replacing a document (same id) deletes the old one in the same txn:
 * counters stay exact, old chunks vanish, their slots become tombstones;
 * deleting leaves tombstones too; check passes throughout. */
START_TEST(test_replace_and_delete)
{
	char *dir = tu_tmpdir("idx-replace");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	problems pr;
	rdb_meta m = meta_dim(8, 16);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	OK(rdb_txn_begin(s, 1, &t, &err));
	rdb_doc a, b, a2;
	OK(put_doc(t, "a", "/x/a", 3, 10, &a, &err));
	OK(put_doc(t, "b", "/x/b", 2, 20, &b, &err));
	OK(rdb_txn_commit(t, &err));
	OK(rdb_txn_begin(s, 1, &t, &err));
	OK(put_doc(t, "a", "/x/a2", 4, 30, &a2, &err));
	OK(rdb_txn_commit(t, &err));
	ck_assert_uint_eq(a2.num, 3);
	ck_assert_uint_eq(a2.first_chunk, 6);
	rdb_store_stats st = stats_of(s);
	ck_assert_uint_eq(st.documents, 2);
	ck_assert_uint_eq(st.chunks, 6);
	ck_assert_uint_eq(st.vectors_live, 6);
	ck_assert_uint_eq(st.vectors_dead, 3);
	ck_assert_uint_eq(st.text_bytes, 20 + 40);
	ck_assert_uint_eq(check_store(s, &pr), 0);

	OK(rdb_txn_begin(s, 0, &t, &err));
	rdb_doc g;
	OK(rdb_doc_get_by_id(t, "a", &g, &err));
	ck_assert_uint_eq(g.num, 3);
	ck_assert_str_eq(g.source, "/x/a2");
	ck_assert_int_eq(rdb_doc_get(t, 1, &g, &err), RAGDB_ENOTFOUND);
	rdb_chunk c;
	rdb_buf bb = { 0 };
	for (uint64_t id = 1; id <= 3; id++)
		ck_assert_int_eq(rdb_chunk_get(t, id, &c, &bb, &err), RAGDB_ENOTFOUND);
	unsigned found = 0;
	OK(rdb_source_iter(t, "/x/a", 0, collect_num, &found, &err));
	ck_assert_uint_eq(found, 0);
	ck_assert_uint_eq(live_slots(t, NULL), 6);
	assert_mapping(t, 6, 4, 30);
	rdb_txn_abort(t);
	rdb_buf_free(&bb);

	OK(rdb_txn_begin(s, 1, &t, &err));
	OK(rdb_doc_delete(t, b.num, &err));
	ck_assert_int_eq(rdb_doc_delete(t, b.num, &err), RAGDB_ENOTFOUND);
	OK(rdb_txn_commit(t, &err));
	st = stats_of(s);
	ck_assert_uint_eq(st.documents, 1);
	ck_assert_uint_eq(st.chunks, 4);
	ck_assert_uint_eq(st.vectors_live, 4);
	ck_assert_uint_eq(st.vectors_dead, 5);
	ck_assert_uint_eq(st.text_bytes, 40);
	ck_assert_uint_eq(check_store(s, &pr), 0);
	OK(rdb_txn_begin(s, 0, &t, &err));
	ck_assert_uint_eq(live_slots(t, NULL), 4);
	rdb_txn_abort(t);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Many small documents over several txns with block_cap 16: blocks fill
 * and new ones start; every chunk finds its vector; a write txn's
 * rdb_blocks_get sees its own pending (uncommitted) tail. */
START_TEST(test_blocks_many)
{
	char *dir = tu_tmpdir("idx-blocks");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	problems pr;
	rdb_meta m = meta_dim(8, 16);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	uint64_t total = 0;
	for (int txn = 0; txn < 6; txn++) {
		OK(rdb_txn_begin(s, 1, &t, &err));
		for (int d = 0; d < 10; d++) {
			char id[32];
			snprintf(id, sizeof id, "doc-%d-%d", txn, d);
			size_t n = 1 + (size_t)(txn * 10 + d) % 7;
			rdb_doc out;
			OK(put_doc(t, id, "/many", n, 1000 + total + 1, &out, &err));
			ck_assert_uint_eq(out.first_chunk, total + 1);
			total += n;
		}
		/* Pending tail visible inside the write txn. */
		ck_assert_uint_eq(live_slots(t, NULL), total);
		OK(rdb_txn_commit(t, &err));
	}
	OK(rdb_txn_begin(s, 0, &t, &err));
	size_t nb;
	ck_assert_uint_eq(live_slots(t, &nb), total);
	ck_assert_uint_eq(nb, (total + 15) / 16);
	assert_mapping(t, 1, total, 1001);
	rdb_store_stats st;
	OK(rdb_store_stats_get(t, &st, &err));
	ck_assert_uint_eq(st.blocks, nb);
	ck_assert_uint_eq(st.vectors_live, total);
	ck_assert(st.file_bytes > 0 && st.map_bytes >= st.file_bytes);
	rdb_txn_abort(t);

	/* Raw vectors (benchmarks) go through the same blocks. */
	OK(rdb_txn_begin(s, 1, &t, &err));
	uint64_t ids[40];
	float v[40 * 8];
	for (int i = 0; i < 40; i++) {
		ids[i] = 1000000 + (uint64_t)i;
		unit_vec(v + i * 8, 8, (uint64_t)i);
	}
	ck_assert_int_eq(rdb_vectors_append(t, (uint64_t[]){ 0 }, v, 1, &err), RAGDB_EINVAL);
	OK(rdb_vectors_append(t, ids, v, 40, &err));
	ck_assert_uint_eq(live_slots(t, NULL), total + 40);
	rdb_txn_abort(t);
	ck_assert_uint_eq(check_store(s, &pr), 0);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Chunk text: long compressible text is stored zstd and comes back exact
 * (in the scratch buffer); short and incompressible texts are stored raw
 * and point into the map; empty text works. */
START_TEST(test_compression_roundtrip)
{
	char *dir = tu_tmpdir("idx-zstd");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	rdb_meta m = meta_dim(4, 0);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	size_t long_len = 200000;
	char *lng = malloc(long_len), *rnd = malloc(5000);
	for (size_t i = 0; i < long_len; i++)
		lng[i] = "the quick brown fox jumps over the lazy dog. "[i % 45];
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < 5000; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		rnd[i] = (char)(x >> 24);
		if (!rnd[i])
			rnd[i] = 1;
	}
	rdb_chunk_in c[4] = {
		{ .start = 0, .end = 10, .text = lng, .text_len = long_len },
		{ .start = 0, .end = 5, .heading = "h", .text = "short", .text_len = 5 },
		{ .start = 0, .end = 0, .text = "", .text_len = 0 },
		{ .start = 0, .end = 5000, .text = rnd, .text_len = 5000 },
	};
	float v[16] = { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	rdb_doc d;
	memset(&d, 0, sizeof d);
	d.id = "z";
	d.source = "z.txt";
	d.size = long_len;
	OK(rdb_txn_begin(s, 1, &t, &err));
	OK(rdb_doc_put(t, &d, c, 4, v, &err));
	OK(rdb_txn_commit(t, &err));
	OK(rdb_txn_begin(s, 0, &t, &err));
	rdb_buf b = { 0 };
	rdb_chunk g;
	OK(rdb_chunk_get(t, 1, &g, &b, &err));
	ck_assert_uint_eq(g.text_len, long_len);
	ck_assert(memcmp(g.text, lng, long_len) == 0);
	ck_assert_int_eq(g.text[long_len], 0);
	ck_assert_ptr_eq(g.text, b.data); /* decompressed: it was stored zstd */
	ck_assert_int_eq(rdb_chunk_get(t, 1, &g, NULL, &err), RAGDB_EINVAL);
	OK(rdb_chunk_get(t, 2, &g, &b, &err));
	ck_assert_str_eq(g.text, "short");
	ck_assert_ptr_ne(g.text, b.data);
	OK(rdb_chunk_get(t, 3, &g, &b, &err));
	ck_assert_str_eq(g.text, "");
	ck_assert_uint_eq(g.text_len, 0);
	OK(rdb_chunk_get(t, 4, &g, &b, &err));
	ck_assert_uint_eq(g.text_len, 5000);
	ck_assert(memcmp(g.text, rnd, 5000) == 0);
	ck_assert_ptr_ne(g.text, b.data); /* incompressible: raw */
	rdb_store_stats st;
	OK(rdb_store_stats_get(t, &st, &err));
	ck_assert(st.file_bytes < long_len); /* the long text really shrank */
	rdb_txn_abort(t);
	rdb_buf_free(&b);
	free(lng);
	free(rnd);
	/* A vector that is not unit length is refused. */
	OK(rdb_txn_begin(s, 1, &t, &err));
	float bad[4] = { 1, 1, 0, 0 };
	d.id = "bad";
	ck_assert_int_eq(rdb_doc_put(t, &d, c + 1, 1, bad, &err), RAGDB_EINVAL);
	rdb_txn_abort(t);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Chunks the caller packed ahead (as the ingest workers do) are stored as
 * packed and read back as their text; the same chunk packed by the writer
 * takes the same bytes; packings that cannot be right are refused. */
START_TEST(test_caller_packed_chunks)
{
	char *dir = tu_tmpdir("idx-packed");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	rdb_meta m = meta_dim(4, 0);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	size_t len = 3000;
	char *txt = malloc(len);
	for (size_t i = 0; i < len; i++)
		txt[i] = "packed by a worker, stored by the writer; "[i % 42];
	void *cctx = NULL;
	char *z = malloc(rdb_text_pack_room(len));
	size_t zlen = 0;
	ck_assert_int_eq(rdb_text_pack(&cctx, txt, len, z, &zlen), RDB_PACK_ZSTD);
	ck_assert_uint_lt(zlen, len / 2);
	/* too short to pack, and incompressible bytes, both stay raw */
	size_t dummy = 0;
	ck_assert_int_eq(rdb_text_pack(&cctx, "tiny", 4, z, &dummy), RDB_PACK_RAW);
	char rnd[600];
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < sizeof rnd; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		rnd[i] = (char)(x >> 24);
	}
	char *z2 = malloc(rdb_text_pack_room(sizeof rnd));
	ck_assert_int_eq(rdb_text_pack(&cctx, rnd, sizeof rnd, z2, &dummy), RDB_PACK_RAW);
	free(z2);
	rdb_chunk_in c[3] = {
		{ .end = len, .text = txt, .text_len = len, .pack = RDB_PACK_ZSTD, .packed = z,
		  .packed_len = zlen },
		{ .end = len, .text = txt, .text_len = len }, /* the writer packs this one */
		{ .end = len, .text = txt, .text_len = len, .pack = RDB_PACK_RAW },
	};
	float v[12] = { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0 };
	rdb_doc d;
	memset(&d, 0, sizeof d);
	d.id = "p";
	d.source = "p.txt";
	d.size = len;
	OK(rdb_txn_begin(s, 1, &t, &err));
	OK(rdb_doc_put(t, &d, c, 3, v, &err));
	OK(rdb_txn_commit(t, &err));
	OK(rdb_txn_begin(s, 0, &t, &err));
	rdb_buf b = { 0 };
	rdb_chunk g;
	for (uint64_t id = 1; id <= 3; id++) {
		OK(rdb_chunk_get(t, id, &g, &b, &err));
		ck_assert_uint_eq(g.text_len, len);
		ck_assert(memcmp(g.text, txt, len) == 0);
		ck_assert_int_eq(g.text[len], 0);
		if (id < 3)
			ck_assert_ptr_eq(g.text, b.data); /* decompressed */
		else
			ck_assert_ptr_ne(g.text, b.data); /* stored raw, read from the map */
	}
	/* the writer's frame for chunk 2 is the caller's frame for chunk 1 */
	MDB_val k1, k2, v1, v2;
	uint8_t kb1[8], kb2[8];
	rdb_put_be64(kb1, 1);
	rdb_put_be64(kb2, 2);
	k1 = (MDB_val){ 8, kb1 };
	k2 = (MDB_val){ 8, kb2 };
	ck_assert_int_eq(mdb_get(t->txn, s->chunks, &k1, &v1), 0);
	ck_assert_int_eq(mdb_get(t->txn, s->chunks, &k2, &v2), 0);
	ck_assert_uint_eq(v1.mv_size, v2.mv_size);
	/* flags, then heading, text and stored lengths (ordinal and slot differ) */
	ck_assert(memcmp(v1.mv_data, v2.mv_data, 4) == 0);
	ck_assert(memcmp((char *)v1.mv_data + 40, (char *)v2.mv_data + 40, 12) == 0);
	ck_assert(memcmp((char *)v1.mv_data + RDB_CHUNK_HDR, (char *)v2.mv_data + RDB_CHUNK_HDR,
	                 v1.mv_size - RDB_CHUNK_HDR) == 0);
	rdb_txn_abort(t);
	/* a frame longer than the text, a missing frame, an unknown packing */
	rdb_chunk_in bad = c[0];
	bad.packed_len = len + 1;
	OK(rdb_txn_begin(s, 1, &t, &err));
	d.id = "bad";
	ck_assert_int_eq(rdb_doc_put(t, &d, &bad, 1, v, &err), RAGDB_EINVAL);
	ck_assert(strstr(err.msg, "packed text") != NULL);
	bad = c[0];
	bad.packed = NULL;
	ck_assert_int_eq(rdb_doc_put(t, &d, &bad, 1, v, &err), RAGDB_EINVAL);
	bad = c[0];
	bad.pack = 7;
	ck_assert_int_eq(rdb_doc_put(t, &d, &bad, 1, v, &err), RAGDB_EINVAL);
	ck_assert(strstr(err.msg, "unknown packing") != NULL);
	rdb_txn_abort(t);
	rdb_buf_free(&b);
	rdb_text_pack_end(cctx);
	free(z);
	free(txt);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Chunks with long term lists in any order, over a dictionary past 2^16
 * ids (so the writer's sort of a chunk's terms needs its third byte): each
 * forward record lists the chunk's terms in increasing id with the right
 * frequencies, and check finds postings and forward records in agreement. */
START_TEST(test_ft_long_term_lists)
{
	char *dir = tu_tmpdir("idx-ftsort");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	rdb_meta m = meta_dim(4, 0);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	enum { CHUNKS = 300, PER = 260, SHARED = 400 };
	/* chunk c's terms: 40 of SHARED common ones (ids from the first chunks)
	 * and 220 of its own, so ids pass 65,536 by the last chunks */
	char (*words)[16] = malloc(sizeof *words * CHUNKS * PER);
	rdb_term_tf *tt = malloc(sizeof *tt * CHUNKS * PER);
	rdb_chunk_in *c = calloc(CHUNKS, sizeof *c);
	float *v = calloc(CHUNKS * 4, sizeof *v);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t k = 0; k < CHUNKS; k++) {
		rdb_term_tf *ct = tt + k * PER;
		uint32_t len = 0;
		for (size_t j = 0; j < PER; j++) {
			char *w = words[k * PER + j];
			if (j < 40)
				snprintf(w, 16, "s%zu", (k * 7 + j * 11) % SHARED);
			else
				snprintf(w, 16, "u%zu_%zu", k, j);
			ct[j] = (rdb_term_tf){ w, (uint32_t)(1 + (k + j) % 5), (uint32_t)(j % 3 == 0) };
			len += ct[j].tf_body;
		}
		/* shared names can repeat within a chunk: keep one of each */
		size_t n = 0;
		for (size_t j = 0; j < PER; j++) {
			int dup = 0;
			for (size_t i = 0; i < n && j < 40; i++)
				dup |= strcmp(ct[i].term, ct[j].term) == 0;
			if (!dup)
				ct[n++] = ct[j];
		}
		for (size_t j = n; j > 1; j--) { /* any order */
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			size_t r = x % j;
			rdb_term_tf tmp = ct[j - 1];
			ct[j - 1] = ct[r];
			ct[r] = tmp;
		}
		c[k] = (rdb_chunk_in){ .end = 1, .text = "x", .text_len = 1, .terms = ct,
		                       .n_terms = n, .len_body = len, .len_title = PER };
		v[k * 4 + k % 4] = 1;
	}
	rdb_doc d;
	memset(&d, 0, sizeof d);
	d.source = "many.txt";
	d.size = 1;
	for (int half = 0; half < 2; half++) { /* two transactions: ids cached, then looked up */
		OK(rdb_txn_begin(s, 1, &t, &err));
		d.id = half ? "b" : "a";
		OK(rdb_doc_put(t, &d, c + half * (CHUNKS / 2), CHUNKS / 2, v + half * (CHUNKS / 2) * 4,
		               &err));
		OK(rdb_txn_commit(t, &err));
	}
	OK(rdb_txn_begin(s, 0, &t, &err));
	uint32_t last_id = 0;
	for (size_t k = 0; k < CHUNKS; k++) {
		rdb_chunk_term *got = NULL;
		size_t n = 0;
		uint32_t lb, lt;
		OK(rdb_chunk_terms_get(t, k + 1, &got, &n, &lb, &lt, &err));
		ck_assert_uint_eq(n, c[k].n_terms);
		for (size_t i = 1; i < n; i++)
			ck_assert_uint_lt(got[i - 1].term, got[i].term);
		for (size_t j = 0; j < n; j++) {
			uint32_t id;
			OK(rdb_term_id(t, c[k].terms[j].term, &id, &err));
			size_t lo = 0, hi = n;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (got[mid].term < id)
					lo = mid + 1;
				else
					hi = mid;
			}
			ck_assert_uint_lt(lo, n);
			ck_assert_uint_eq(got[lo].term, id);
			ck_assert_uint_eq(got[lo].tf_body, c[k].terms[j].tf_body);
			ck_assert_uint_eq(got[lo].tf_title, c[k].terms[j].tf_title);
			if (id > last_id)
				last_id = id;
		}
		free(got);
	}
	ck_assert_uint_gt(last_id, 65536);
	rdb_txn_abort(t);
	problems pr;
	uint64_t np = check_store(s, &pr);
	ck_assert_msg(np == 0, "%.300s", pr.text);
	rdb_store_close(s);
	free(words);
	free(tt);
	free(c);
	free(v);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* The full-text buffers a write txn leaves to the next: after an aborted
 * txn created terms, the next txn must not take their ids from the reused
 * cache (they were never stored), nor see the aborted txn's postings. */
START_TEST(test_ft_reuse_after_abort)
{
	char *dir = tu_tmpdir("idx-ftspare");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	rdb_meta m = meta_dim(4, 0);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	rdb_term_tf tt[3] = { { "alpha", 1, 0 }, { "beta", 2, 0 }, { "gamma", 1, 1 } };
	rdb_chunk_in c = { .end = 1, .text = "x", .text_len = 1, .terms = tt, .n_terms = 3,
	                   .len_body = 4, .len_title = 1 };
	float v[4] = { 1, 0, 0, 0 };
	rdb_doc d;
	memset(&d, 0, sizeof d);
	d.source = "s.txt";
	d.size = 1;
	d.id = "aborted";
	OK(rdb_txn_begin(s, 1, &t, &err));
	OK(rdb_doc_put(t, &d, &c, 1, v, &err));
	OK(rdb_ft_flush(t, &err));
	rdb_txn_abort(t);
	/* the same terms, in another order, in the next txn */
	rdb_term_tf t2[3] = { tt[2], tt[0], tt[1] };
	c.terms = t2;
	d.id = "kept";
	OK(rdb_txn_begin(s, 1, &t, &err));
	OK(rdb_doc_put(t, &d, &c, 1, v, &err));
	OK(rdb_txn_commit(t, &err));
	OK(rdb_txn_begin(s, 0, &t, &err));
	for (int i = 0; i < 3; i++) {
		uint32_t id;
		OK(rdb_term_id(t, tt[i].term, &id, &err));
		uint64_t df = 0;
		rdb_posting *pv = NULL;
		size_t n = 0;
		OK(rdb_postings_get(t, tt[i].term, &df, &pv, &n, &err));
		ck_assert_uint_eq(df, 1);
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(pv[0].tf_body, tt[i].tf_body);
		free(pv);
	}
	rdb_txn_abort(t);
	problems pr;
	uint64_t np = check_store(s, &pr);
	ck_assert_msg(np == 0, "%.300s", pr.text);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Compaction packs live vectors, deletes emptied blocks, updates every
 * chunk's (block, slot); check passes after, and appends continue. */
START_TEST(test_compact)
{
	char *dir = tu_tmpdir("idx-compact");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	problems pr;
	rdb_meta m = meta_dim(8, 16);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	OK(rdb_txn_begin(s, 1, &t, &err));
	rdb_doc docs[20];
	for (int i = 0; i < 20; i++) {
		char id[16];
		snprintf(id, sizeof id, "d%02d", i);
		OK(put_doc(t, id, "/c", 5, (uint64_t)i * 100, &docs[i], &err));
	}
	OK(rdb_txn_commit(t, &err));
	ck_assert_uint_eq(stats_of(s).blocks, 7); /* 100 vectors / 16 */
	uint64_t freed = 1;
	OK(rdb_store_compact(s, &freed, &err));
	ck_assert_uint_eq(freed, 0); /* nothing dead */
	OK(rdb_txn_begin(s, 1, &t, &err));
	for (int i = 0; i < 20; i += 2)
		OK(rdb_doc_delete(t, docs[i].num, &err));
	OK(rdb_txn_commit(t, &err));
	ck_assert_uint_eq(stats_of(s).vectors_dead, 50);
	OK(rdb_store_compact(s, &freed, &err));
	ck_assert_uint_eq(freed, 50 * (8 * 4 + 8));
	rdb_store_stats st = stats_of(s);
	ck_assert_uint_eq(st.vectors_dead, 0);
	ck_assert_uint_eq(st.vectors_live, 50);
	ck_assert_uint_eq(st.blocks, 4);
	ck_assert_uint_eq(check_store(s, &pr), 0);
	OK(rdb_txn_begin(s, 0, &t, &err));
	for (int i = 1; i < 20; i += 2)
		assert_mapping(t, docs[i].first_chunk, 5, (uint64_t)i * 100);
	size_t nb;
	ck_assert_uint_eq(live_slots(t, &nb), 50);
	rdb_txn_abort(t);
	/* Appends continue into the packed tail. */
	OK(rdb_txn_begin(s, 1, &t, &err));
	rdb_doc more;
	OK(put_doc(t, "more", "/c", 9, 5000, &more, &err));
	OK(rdb_txn_commit(t, &err));
	ck_assert_uint_eq(stats_of(s).blocks, 4);
	ck_assert_uint_eq(check_store(s, &pr), 0);
	OK(rdb_txn_begin(s, 0, &t, &err));
	assert_mapping(t, more.first_chunk, 9, 5000);
	rdb_txn_abort(t);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Open the environment raw (the store must be closed). */
static MDB_env *raw_open(const char *dir, MDB_txn **txn)
{
	MDB_env *env;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0664), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, txn), 0);
	return env;
}

/* check reports planted damage with specifics: a slot id overwritten, a
 * counter off by one, an ids entry pointing nowhere. */
START_TEST(test_check_detects_corruption)
{
	char *dir = tu_tmpdir("idx-check");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	problems pr;
	rdb_meta m = meta_dim(8, 16);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	OK(rdb_txn_begin(s, 1, &t, &err));
	OK(put_doc(t, "a", "/a", 3, 1, NULL, &err));
	OK(put_doc(t, "b", "/b", 3, 9, NULL, &err));
	OK(rdb_txn_commit(t, &err));
	ck_assert_uint_eq(check_store(s, &pr), 0);
	rdb_store_close(s);

	MDB_txn *txn;
	MDB_env *env = raw_open(dir, &txn);
	MDB_dbi vec, meta, ids;
	ck_assert_int_eq(mdb_dbi_open(txn, "vectors", 0, &vec), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "ids", 0, &ids), 0);
	uint8_t kb[4] = { 0, 0, 0, 0 };
	MDB_val k = { 4, kb }, v;
	ck_assert_int_eq(mdb_get(txn, vec, &k, &v), 0);
	uint8_t *copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	uint64_t bogus = 424242;
	memcpy(copy + 16 + 8, &bogus, 8); /* slot 1: chunk 2 -> 424242 */
	MDB_val nv = { v.mv_size, copy };
	ck_assert_int_eq(mdb_put(txn, vec, &k, &nv, 0), 0);
	free(copy);
	uint64_t docs = 3;
	MDB_val mk = { 9, "documents" }, mv = { 8, &docs };
	ck_assert_int_eq(mdb_put(txn, meta, &mk, &mv, 0), 0);
	uint8_t num[8] = { 0, 0, 0, 0, 0, 0, 0, 77 };
	MDB_val ik = { 5, "ghost" }, iv = { 8, num };
	ck_assert_int_eq(mdb_put(txn, ids, &ik, &iv, 0), 0);
	/* Document b's last two chunks gone: one problem names both. */
	MDB_dbi chunks;
	ck_assert_int_eq(mdb_dbi_open(txn, "chunks", 0, &chunks), 0);
	for (uint8_t c = 5; c <= 6; c++) {
		uint8_t ckb[8] = { 0, 0, 0, 0, 0, 0, 0, c };
		MDB_val ck = { 8, ckb };
		ck_assert_int_eq(mdb_del(txn, chunks, &ck, NULL), 0);
	}
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	OK(rdb_store_open(dir, 0, NULL, &s, &err));
	uint64_t n = check_store(s, &pr);
	ck_assert_msg(strstr(pr.text, "document 2: chunks 5 to 6 (ordinals 1 to 2 of 3) are missing"),
	              "%s", pr.text);
	ck_assert_msg(n >= 4, "only %llu problems:\n%s", (unsigned long long)n, pr.text);
	ck_assert_uint_eq((uint64_t)pr.n, n);
	ck_assert_msg(strstr(pr.text, "424242"), "%s", pr.text);
	ck_assert_msg(strstr(pr.text, "chunk 2 names block 0 slot 1"), "%s", pr.text);
	ck_assert_msg(strstr(pr.text, "documents is 3; 2 counted"), "%s", pr.text);
	ck_assert_msg(strstr(pr.text, "ghost"), "%s", pr.text);
	/* Deleting a document whose slot no longer holds it is refused, not half done. */
	OK(rdb_txn_begin(s, 1, &t, &err));
	ck_assert_int_eq(rdb_doc_delete(t, 1, &err), RAGDB_ECORRUPT);
	rdb_txn_abort(t);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A 1 MiB map (RAGDB_MAP_SIZE) fills on a large put: EMAPFULL; after
 * abort + grow the retry succeeds and the earlier document is intact. */
START_TEST(test_map_full_grow)
{
	char *dir = tu_tmpdir("idx-mapfull");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	problems pr;
	setenv("RAGDB_MAP_SIZE", "1048576", 1);
	rdb_meta m = meta_dim(8, 0);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	unsetenv("RAGDB_MAP_SIZE");
	ck_assert_uint_eq(stats_of(s).map_bytes, 1048576);
	OK(rdb_txn_begin(s, 1, &t, &err));
	OK(put_doc(t, "small", "/s", 2, 1, NULL, &err));
	OK(rdb_txn_commit(t, &err));

	size_t len = 3u << 20;
	char *big = malloc(len);
	uint64_t x = 2463534242ULL;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		big[i] = (char)('a' + x % 26);
	}
	rdb_chunk_in c = { .start = 0, .end = len, .text = big, .text_len = len };
	float v[8];
	unit_vec(v, 8, 3);
	rdb_doc d;
	memset(&d, 0, sizeof d);
	d.id = "big";
	d.source = "/big";
	d.size = len;
	int grows = 0;
	ragdb_status st;
	for (;;) {
		OK(rdb_txn_begin(s, 1, &t, &err));
		st = rdb_doc_put(t, &d, &c, 1, v, &err);
		if (!st)
			st = rdb_txn_commit(t, &err);
		else
			rdb_txn_abort(t);
		if (st != RAGDB_EMAPFULL || grows == 8)
			break;
		ck_assert(strstr(err.msg, dir) != NULL);
		OK(rdb_store_grow(s, &err));
		grows++;
	}
	ck_assert_int_eq(st, RAGDB_OK);
	ck_assert_int_ge(grows, 1);
	ck_assert_uint_ge(stats_of(s).map_bytes, 2u << 20);
	OK(rdb_txn_begin(s, 0, &t, &err));
	rdb_doc g;
	OK(rdb_doc_get_by_id(t, "small", &g, &err));
	ck_assert_uint_eq(g.n_chunks, 2);
	rdb_buf b = { 0 };
	rdb_chunk ch;
	OK(rdb_chunk_get(t, 3, &ch, &b, &err));
	ck_assert_uint_eq(ch.text_len, len);
	ck_assert(memcmp(ch.text, big, len) == 0);
	rdb_buf_free(&b);
	rdb_txn_abort(t);
	ck_assert_uint_eq(check_store(s, &pr), 0);
	rdb_store_close(s);
	free(big);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A read txn begun before a write commits keeps its snapshot; an aborted
 * write txn leaves nothing behind, counters included. */
START_TEST(test_snapshot_and_abort)
{
	char *dir = tu_tmpdir("idx-snap");
	rdb_err err;
	rdb_store *s;
	rdb_txn *r, *w;
	problems pr;
	rdb_meta m = meta_dim(8, 16);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	OK(rdb_txn_begin(s, 1, &w, &err));
	OK(put_doc(w, "first", "/f", 2, 1, NULL, &err));
	OK(rdb_txn_commit(w, &err));

	OK(rdb_txn_begin(s, 0, &r, &err));
	OK(rdb_txn_begin(s, 1, &w, &err));
	OK(put_doc(w, "second", "/s", 20, 5, NULL, &err));
	OK(rdb_doc_delete(w, 1, &err));
	OK(rdb_txn_commit(w, &err));
	rdb_doc g;
	OK(rdb_doc_get_by_id(r, "first", &g, &err));
	ck_assert_int_eq(rdb_doc_get_by_id(r, "second", &g, &err), RAGDB_ENOTFOUND);
	rdb_store_stats st;
	OK(rdb_store_stats_get(r, &st, &err));
	ck_assert_uint_eq(st.documents, 1);
	ck_assert_uint_eq(live_slots(r, NULL), 2);
	rdb_txn_abort(r);
	OK(rdb_txn_begin(s, 0, &r, &err));
	ck_assert_int_eq(rdb_doc_get_by_id(r, "first", &g, &err), RAGDB_ENOTFOUND);
	OK(rdb_doc_get_by_id(r, "second", &g, &err));
	ck_assert_uint_eq(live_slots(r, NULL), 20);
	rdb_txn_abort(r);

	/* Abort: nothing stays, and numbering resumes where it was. */
	rdb_store_stats before = stats_of(s);
	OK(rdb_txn_begin(s, 1, &w, &err));
	OK(put_doc(w, "third", "/t", 30, 9, NULL, &err));
	OK(rdb_doc_delete(w, 2, &err));
	rdb_txn_abort(w);
	rdb_store_stats after = stats_of(s);
	ck_assert(memcmp(&before, &after, sizeof before) == 0);
	OK(rdb_txn_begin(s, 1, &w, &err));
	rdb_doc d;
	OK(put_doc(w, "third", "/t", 1, 9, &d, &err));
	OK(rdb_txn_commit(w, &err));
	ck_assert_uint_eq(d.num, 3);
	ck_assert_uint_eq(d.first_chunk, 23);
	ck_assert_uint_eq(check_store(s, &pr), 0);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

typedef struct scan_arg {
	rdb_txn *t;
	uint64_t total;
	int ok;
} scan_arg;

static void *scan_thread(void *p)
{
	scan_arg *a = p;
	rdb_err err;
	rdb_buf b = { 0 };
	a->ok = 1;
	for (int round = 0; round < 20 && a->ok; round++) {
		rdb_block_view *bv;
		size_t nb;
		if (rdb_blocks_get(a->t, &bv, &nb, &err)) {
			a->ok = 0;
			break;
		}
		uint64_t live = 0;
		for (size_t j = 0; j < nb; j++)
			for (uint32_t i = 0; i < bv[j].count; i++) {
				if (!bv[j].ids[i])
					continue;
				live++;
				rdb_chunk c;
				if (i % 7 == 0 && (rdb_chunk_get(a->t, bv[j].ids[i], &c, &b, &err) ||
				                   c.block != bv[j].block_no || c.slot != i))
					a->ok = 0;
			}
		if (live != a->total)
			a->ok = 0;
		free(bv);
	}
	rdb_buf_free(&b);
	return NULL;
}

/* One read txn shared by four threads (MDB_NOTLS): blocks (overflow pages
 * read in place, a small tail block copied for alignment) and chunks read
 * concurrently give the same answers. */
START_TEST(test_shared_read_txn_threads)
{
	char *dir = tu_tmpdir("idx-threads");
	rdb_err err;
	rdb_store *s;
	rdb_txn *t;
	rdb_meta m = meta_dim(64, 16);
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	OK(rdb_txn_begin(s, 1, &t, &err));
	OK(put_doc(t, "a", "/a", 35, 1, NULL, &err)); /* 2 full blocks + 3 */
	OK(rdb_txn_commit(t, &err));
	OK(rdb_txn_begin(s, 0, &t, &err));
	scan_arg args[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (scan_arg){ t, 35, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, scan_thread, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(args[i].ok, "thread %d saw wrong data", i);
	}
	assert_mapping(t, 1, 35, 1);
	rdb_txn_abort(t);
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

Suite *index_suite(void);
Suite *index_suite(void)
{
	Suite *s = suite_create("index");
	TCase *tc = tcase_create("store");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_create_reopen);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_doc_roundtrip_and_sources);
	tcase_add_test(tc, test_replace_and_delete);
	tcase_add_test(tc, test_blocks_many);
	tcase_add_test(tc, test_compression_roundtrip);
	tcase_add_test(tc, test_caller_packed_chunks);
	tcase_add_test(tc, test_ft_long_term_lists);
	tcase_add_test(tc, test_ft_reuse_after_abort);
	tcase_add_test(tc, test_compact);
	tcase_add_test(tc, test_check_detects_corruption);
	tcase_add_test(tc, test_map_full_grow);
	tcase_add_test(tc, test_snapshot_and_abort);
	tcase_add_test(tc, test_shared_read_txn_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(index_suite());
}
