/*
 * tests/fuzz/fuzz_records.c — the on-disk record decoders fed corrupted
 * records: documents, chunks (raw and zstd), ids, sources, terms,
 * postings segments (varint/delta), chunk term lists, vector blocks,
 * quantized (int8) blocks and conversation heads and turns.
 *
 * Once per process a small knowledge base is written through the index
 * layer (3 documents, 7 chunks, blocks of 4 vectors, int8 blocks, a
 * conversation of two turns) and every record of those databases is
 * listed. An input is the number of the record to replace (first byte,
 * modulo the count) and the bytes to replace it with; the record is put,
 * committed, read back by every reader (documents by number and id, each
 * chunk's text, postings of every term, chunk term lists, the blocks and
 * quantized blocks, the conversation) and by rdb_store_check, then the
 * original is put back. With RAGDB_FUZZ_DUMP=DIR set, the records are
 * written to DIR in this input format (how corpus/records was made).
 * Property: a corrupted record makes a reader return RAGDB_ECORRUPT (or
 * another error status) with a message, or decode to something the check
 * reports; never a crash, leak or read outside the record.
 */
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "index/conv.h"
#include "index/postings.h"
#include "index/store.h"
#include "index/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DIM 8
#define MAX_REC 512

typedef struct rec {
	MDB_dbi dbi;
	const char *db;
	void *key, *val;
	size_t klen, vlen;
} rec;

static rdb_store *g_s;
static rec g_rec[MAX_REC];
static size_t g_n;
static char g_dir[256];
static const char *g_terms[] = { "alpha", "beta", "gamma", "delta", "zeta" };

__attribute__((noreturn)) static void die(const char *what, const rdb_err *e)
{
	fprintf(stderr, "fuzz_records: %s: %s\n", what, e ? e->msg : "");
	abort();
}

static void rm_dir(void)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_records: could not remove %s\n", g_dir);
}

static void unit(float *v, uint32_t seed)
{
	for (int k = 0; k < DIM; k++)
		v[k] = (float)((seed * 31 + (uint32_t)k * 7) % 13) - 6.0f;
	double ss = 0;
	for (int k = 0; k < DIM; k++)
		ss += (double)v[k] * v[k];
	for (int k = 0; k < DIM; k++)
		v[k] = (float)(v[k] / sqrt(ss));
}

static void build(void)
{
	rdb_err e = { 0 };
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(g_dir, sizeof g_dir, "%s/ragdb-fuzz-records-%d", base, (int)getpid());
	rdb_meta m;
	memset(&m, 0, sizeof m);
	m.schema = RDB_SCHEMA_VERSION;
	snprintf(m.embedder, sizeof m.embedder, "local");
	snprintf(m.model, sizeof m.model, "hash-v1");
	m.dim = DIM;
	m.block_cap = 4;
	m.chunk_tokens = 64;
	m.chunk_overlap = 8;
	m.created = 1700000000;
	if (rdb_store_open(g_dir, RDB_STORE_CREATE, &m, &g_s, &e))
		die("create", &e);
	atexit(rm_dir);
	/* commits need not reach the disk: the store is thrown away */
	mdb_env_set_flags(g_s->env, MDB_NOSYNC, 1);
	if (rdb_conv_ready(g_s, 1, &e))
		die("conv", &e);
	rdb_txn *t;
	if (rdb_txn_begin(g_s, 1, &t, &e))
		die("begin", &e);
	static char long_text[600];
	for (size_t i = 0; i + 1 < sizeof long_text; i++)
		long_text[i] = "compressible text repeats "[i % 26];
	for (uint32_t d = 0; d < 3; d++) {
		rdb_chunk_in ch[3];
		rdb_term_tf tf[3][3];
		float vecs[3 * DIM];
		uint32_t nc = d + 1 < 3 ? d + 2 : 3;
		for (uint32_t c = 0; c < nc; c++) {
			memset(&ch[c], 0, sizeof ch[c]);
			ch[c].start = c * 100;
			ch[c].end = c * 100 + 50;
			ch[c].heading = c ? "Intro > Setup" : NULL;
			ch[c].text = c == 1 ? long_text : "alpha beta gamma, a short chunk";
			ch[c].text_len = strlen(ch[c].text);
			for (uint32_t k = 0; k < 3; k++) {
				tf[c][k].term = g_terms[(d + c + k) % 5];
				tf[c][k].tf_body = k + 1;
				tf[c][k].tf_title = k == 0;
			}
			ch[c].terms = tf[c];
			ch[c].n_terms = 3;
			ch[c].len_body = 20;
			ch[c].len_title = 2;
			unit(vecs + c * DIM, d * 3 + c + 1);
		}
		char id[32], src[64];
		snprintf(id, sizeof id, "doc-%u", d);
		snprintf(src, sizeof src, "/kb/docs/doc-%u.md", d);
		rdb_doc doc;
		memset(&doc, 0, sizeof doc);
		doc.id = id;
		doc.source = src;
		doc.title = d ? "A title" : "";
		doc.meta_json = d == 1 ? "{\"lang\":\"en\",\"year\":2021}" : "";
		doc.size = 300;
		doc.mtime = 1700000000;
		doc.ingested = 1700000001;
		if (rdb_doc_put(t, &doc, ch, nc, vecs, &e))
			die("doc_put", &e);
	}
	rdb_conv_turn turns[2];
	memset(turns, 0, sizeof turns);
	turns[0].role = RDB_ROLE_USER;
	turns[0].time_ms = 1700000000000;
	turns[0].text = "How do I rotate the keys?";
	turns[0].query = "rotate keys";
	turns[1].role = RDB_ROLE_ASSISTANT;
	turns[1].time_ms = 1700000001000;
	turns[1].text = "Run the rotation [1].";
	turns[1].model = "extractive";
	turns[1].sources_json = "[{\"id\":\"doc-0\",\"chunk\":1}]";
	turns[1].output_tokens = 6;
	if (rdb_conv_append(t, "conv-1", turns, 2, &e))
		die("conv_append", &e);
	if (rdb_store_set_quant(t, 2, &e))
		die("quant", &e);
	if (rdb_txn_commit(t, &e))
		die("commit", &e);

	/* list every record */
	static const char *names[] = { "docs", "ids", "sources", "chunks", "vectors", "terms",
	                               "postings", "chunkterms", "qvectors", "conversations" };
	MDB_txn *txn;
	if (mdb_txn_begin(g_s->env, NULL, MDB_RDONLY, &txn))
		die("mdb_txn_begin", NULL);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		MDB_dbi dbi;
		MDB_cursor *cur;
		MDB_val k, v;
		if (mdb_dbi_open(txn, names[i], 0, &dbi) || mdb_cursor_open(txn, dbi, &cur))
			die(names[i], NULL);
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && g_n < MAX_REC;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			rec *r = &g_rec[g_n++];
			r->dbi = dbi;
			r->db = names[i];
			r->klen = k.mv_size;
			r->vlen = v.mv_size;
			r->key = malloc(k.mv_size);
			r->val = malloc(v.mv_size ? v.mv_size : 1);
			memcpy(r->key, k.mv_data, k.mv_size);
			memcpy(r->val, v.mv_data, v.mv_size);
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	const char *dump = getenv("RAGDB_FUZZ_DUMP");
	for (size_t i = 0; dump && i < g_n; i++) {
		char p[512];
		snprintf(p, sizeof p, "%s/%03zu-%s", dump, i, g_rec[i].db);
		FILE *f = fopen(p, "wb");
		if (!f)
			die(p, NULL);
		uint8_t b = (uint8_t)i;
		fwrite(&b, 1, 1, f);
		fwrite(g_rec[i].val, 1, g_rec[i].vlen, f);
		fclose(f);
	}
}

static void put(size_t i, const void *v, size_t len)
{
	rdb_err e = { 0 };
	rdb_txn *t;
	if (rdb_txn_begin(g_s, 1, &t, &e))
		die("begin (put)", &e);
	MDB_val k = { g_rec[i].klen, g_rec[i].key }, val = { len, (void *)v };
	if (mdb_put(t->txn, g_rec[i].dbi, &k, &val, 0))
		die("mdb_put", NULL);
	if (rdb_txn_commit(t, &e))
		die("commit (put)", &e);
}

#define EXPECT(st, e)                                                   \
	do {                                                                \
		if ((st) != RAGDB_OK && (st) != RAGDB_ENOTFOUND)                \
			FZ_ASSERT((e).msg[0] != 0);                                 \
	} while (0)

static int on_doc(void *ctx, const rdb_doc *d)
{
	(void)ctx;
	FZ_ASSERT(d->id && d->source && d->title && d->meta_json);
	size_t n = strlen(d->id) + strlen(d->source) + strlen(d->title) + strlen(d->meta_json);
	return n == (size_t)-1;
}

static int on_turn(void *ctx, uint32_t n, const rdb_conv_turn *tn)
{
	(void)ctx;
	(void)n;
	FZ_ASSERT(tn->text && tn->model && tn->query && tn->sources_json);
	return strlen(tn->text) + strlen(tn->model) + strlen(tn->query) + strlen(tn->sources_json) ==
	       (size_t)-1;
}

static int on_head(void *ctx, const rdb_conv_head *h)
{
	(void)ctx;
	FZ_ASSERT(h->id && h->title);
	return strlen(h->id) + strlen(h->title) == (size_t)-1;
}

static void on_problem(void *ctx, const char *msg)
{
	FZ_ASSERT(msg && *msg);
	(*(uint64_t *)ctx)++;
}

static void read_all(void)
{
	rdb_err e = { 0 };
	rdb_txn *t;
	ragdb_status st;
	if (rdb_txn_begin(g_s, 0, &t, &e))
		die("begin (read)", &e);
	for (uint64_t num = 1; num <= 4; num++) {
		rdb_doc d;
		rdb_err de = { 0 };
		st = rdb_doc_get(t, num, &d, &de);
		EXPECT(st, de);
		if (st == RAGDB_OK)
			on_doc(NULL, &d);
	}
	for (int i = 0; i < 3; i++) {
		char id[16];
		snprintf(id, sizeof id, "doc-%d", i);
		rdb_doc d;
		rdb_err de = { 0 };
		st = rdb_doc_get_by_id(t, id, &d, &de);
		EXPECT(st, de);
	}
	rdb_err ie = { 0 };
	st = rdb_doc_iter(t, on_doc, NULL, &ie);
	EXPECT(st, ie);
	rdb_buf scratch = { 0 };
	for (uint64_t c = 1; c <= 8; c++) {
		rdb_chunk ch;
		rdb_err ce = { 0 };
		st = rdb_chunk_get(t, c, &ch, &scratch, &ce);
		EXPECT(st, ce);
		if (st == RAGDB_OK)
			FZ_ASSERT(strlen(ch.text) <= ch.text_len && strlen(ch.heading) < (1u << 20));
		uint32_t b, sl;
		rdb_err se = { 0 };
		st = rdb_chunk_slot(t, c, &b, &sl, &se);
		EXPECT(st, se);
		rdb_chunk_term *terms = NULL;
		size_t nt = 0;
		uint32_t lb, lt;
		rdb_err te = { 0 };
		st = rdb_chunk_terms_get(t, c, &terms, &nt, &lb, &lt, &te);
		EXPECT(st, te);
		free(terms);
	}
	rdb_buf_free(&scratch);
	for (size_t i = 0; i < sizeof g_terms / sizeof g_terms[0]; i++) {
		uint64_t df = 0;
		rdb_posting *p = NULL;
		size_t n = 0;
		rdb_err pe = { 0 };
		st = rdb_postings_get(t, g_terms[i], &df, &p, &n, &pe);
		EXPECT(st, pe);
		free(p);
		/* The cursor the search reads through: walk, then seek by steps
		 * of 2 from a fresh one, its chunks strictly increasing. */
		uint32_t tid;
		rdb_err te2 = { 0 };
		if (rdb_term_id(t, g_terms[i], &tid, &te2) != RAGDB_OK)
			continue;
		for (int mode = 0; mode < 2; mode++) {
			rdb_pcur pc;
			rdb_err ce = { 0 };
			uint64_t last = 0, target = 0;
			st = rdb_pcur_open(t, tid, &pc, &df, &ce);
			for (const rdb_posting *x; st == RAGDB_OK && (x = rdb_pcur_at(&pc));) {
				FZ_ASSERT(x->chunk > last);
				FZ_ASSERT(!mode || x->chunk >= target);
				last = x->chunk;
				target = last + 2;
				st = mode ? rdb_pcur_seek(&pc, target, &ce) : rdb_pcur_next(&pc, &ce);
			}
			EXPECT(st, ce);
			rdb_pcur_close(&pc);
		}
	}
	rdb_block_view *v = NULL;
	size_t nb = 0;
	rdb_err be = { 0 };
	st = rdb_blocks_get(t, &v, &nb, &be);
	EXPECT(st, be);
	if (st == RAGDB_OK) {
		float sum = 0;
		for (size_t i = 0; i < nb; i++)
			for (uint32_t k = 0; k < v[i].count; k++)
				sum += v[i].vecs[(size_t)k * DIM] + (float)v[i].ids[k];
		(void)sum;
		uint32_t kind = 0;
		rdb_qview *q = NULL;
		rdb_err qe = { 0 };
		st = rdb_qblocks_get(t, v, nb, &kind, &q, &qe);
		EXPECT(st, qe);
		free(q);
	}
	free(v);
	rdb_conv_head h;
	rdb_err he = { 0 };
	st = rdb_conv_head_get(t, "conv-1", &h, &he);
	EXPECT(st, he);
	rdb_err tue = { 0 };
	st = rdb_conv_turns(t, "conv-1", on_turn, NULL, &tue);
	EXPECT(st, tue);
	rdb_err cie = { 0 };
	st = rdb_conv_iter(t, on_head, NULL, &cie);
	EXPECT(st, cie);
	uint64_t problems = 0, np = 0;
	rdb_err ke = { 0 };
	st = rdb_store_check(t, on_problem, &problems, &np, &ke);
	EXPECT(st, ke);
	rdb_txn_abort(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_s)
		build();
	if (size < 1 || g_n == 0)
		return 0;
	size_t i = data[0] % g_n;
	/* LMDB keeps values 2-byte aligned at best; so does this copy */
	put(i, data + 1, size - 1);
	read_all();
	put(i, g_rec[i].val, g_rec[i].vlen);
	return 0;
}
