/*
 * ingest/pipeline.c — files or texts in, committed documents out.
 *
 * Stages and threads:
 *   reader  (1 thread)   files -> documents (JSONL: one per record), UTF-8
 *                        repaired, empty/binary files reported as skipped;
 *   workers (N threads)  content hash; unchanged documents stop here; else
 *                        chunk, embed, and collect each chunk's full-text
 *                        terms (one tokenizer per worker: stemmers keep
 *                        state);
 *   writer  (the caller) batches documents into write transactions.
 * Items flow through two bounded queues, so memory stays bounded whatever
 * the corpus size.
 *
 * Invariants this file keeps:
 *   1. A document is written with all its chunks and vectors in one
 *      transaction (rdb_doc_put), so it is visible whole or not at all.
 *   2. A batch that fails with a full map is replayed after the map grows;
 *      the prepared documents are kept until their commit succeeds.
 *   3. On interrupt or a fatal error, documents already prepared are still
 *      committed (they are complete); nothing half-done is ever written, so
 *      the next run of the same command finishes the work.
 *   4. JSONL files are validated whole before any of their records is
 *      queued, so a malformed line means nothing of that file is stored
 *      (unless skip_bad_records).
 */
#include "ingest/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <cjson/cJSON.h>

#include "engine/kernels/kernels.h"
#include "engine/providers/bm25_tokenize.h"
#include "engine/providers/text.h"
#include "index/postings.h"
#include "ingest/ingest.h"
#include "ingest/queue.h"
#include "ingest/readers.h"
#include "ingest/strset.h"

/* Writer batch limits: enough to amortise the commit's fsync, small enough
 * that an interrupt loses little work and memory stays bounded. */
#define BATCH_DOCS 512
#define BATCH_CHUNKS 8192
#define BATCH_BYTES (64u << 20)
#define BATCH_SECONDS 2.0
/* Stage queues. The reader's is bounded by the documents' bytes; the
 * workers' holds two writer batches, so that the workers keep going while
 * the writer commits (an fsync): with 256 items they stalled, and ingest
 * used 1.4 of 2 cores; with 1,024, 1.7 (benchmarks/README.md, bench_ingest). */
#define RAW_ITEMS 256
#define RAW_BYTES (256u << 20)
#define READY_ITEMS (2 * BATCH_DOCS)
#define READY_BYTES (256u << 20)
#define RDB_MAX_ID_LEN 511
#define RDB_MAX_SOURCE_LEN 502

enum item_kind { ITEM_DOC, ITEM_UNCHANGED, ITEM_SKIPPED, ITEM_FAILED };

/* One document (or one skipped file) travelling through the stages. */
typedef struct item {
	enum item_kind kind;
	char *id, *source, *title, *meta_json;
	char *text;
	size_t len;
	int64_t mtime;
	ragdb_format fmt;
	char *reason;          /* skip/fail reason, or a warning for a doc */
	/* set by the worker */
	uint8_t hash[16];
	rdb_chunk_in *chunks;
	char **headings;
	char **ctexts;         /* chunk texts the chunker built (split tables), or NULL */
	rdb_term_tf **terms;   /* per chunk, one malloc'd block each */
	char *packed;          /* the chunks' zstd frames, one block (rdb_text_pack) */
	size_t n_chunks;
	float *vecs;
} item;

static void item_free(item *it)
{
	if (!it)
		return;
	free(it->id);
	free(it->source);
	free(it->title);
	free(it->meta_json);
	free(it->text);
	free(it->reason);
	if (it->headings)
		for (size_t i = 0; i < it->n_chunks; i++)
			free(it->headings[i]);
	free(it->headings);
	if (it->ctexts)
		for (size_t i = 0; i < it->n_chunks; i++)
			free(it->ctexts[i]);
	free(it->ctexts);
	if (it->terms)
		for (size_t i = 0; i < it->n_chunks; i++)
			free(it->terms[i]);
	free(it->terms);
	free(it->packed);
	free(it->chunks);
	free(it->vecs);
	free(it);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A file found by the walk, kept until the reader gets to it. */
typedef struct file_ent {
	char *path, *abspath, *rel;
	uint64_t size;
	int64_t mtime;
} file_ent;

typedef struct pipeline {
	const rdb_pipeline_env *env;
	const ragdb_ingest_options *o;
	ragdb_ingest_summary *sum;
	uint32_t chunk_tokens, overlap;

	/* input: files or texts */
	file_ent *files;
	size_t n_files, cap_files;
	const ragdb_document *docs;
	size_t n_docs;

	rdb_queue raw, ready;
	int n_workers;

	pthread_mutex_t mu;    /* guards fatal, err, timing sums */
	int fatal;
	rdb_err err;
	double t_read, t_embed;
	double t_reader_blocked; /* reader thread only: time waiting on a full queue */
	uint64_t embeddings;
	uint64_t warnings;

	rdb_strset walked;     /* absolute paths found by the walk (for sync) */
	double t0;             /* when the ingest started */
	int single_txn;        /* ragdb_ingest_text: one transaction for all */
} pipeline;

static int stopping(pipeline *p)
{
	return *p->env->interrupted || p->fatal;
}

static void set_fatal(pipeline *p, const rdb_err *e)
{
	pthread_mutex_lock(&p->mu);
	if (!p->fatal) {
		p->fatal = 1;
		p->err = *e;
	}
	pthread_mutex_unlock(&p->mu);
}

static item *item_new(enum item_kind kind, const char *id, const char *source, const char *reason)
{
	item *it = calloc(1, sizeof *it);
	if (!it)
		return NULL;
	it->kind = kind;
	it->id = strdup(id ? id : "");
	it->source = strdup(source ? source : "");
	it->reason = reason ? strdup(reason) : NULL;
	if (!it->id || !it->source || (reason && !it->reason)) {
		item_free(it);
		return NULL;
	}
	return it;
}

/* Queue an item, or record running out of memory. */
static void emit(pipeline *p, item *it)
{
	if (!it) {
		rdb_err e;
		rdb_err_set(&e, RAGDB_ENOMEM, "out of memory while reading documents");
		set_fatal(p, &e);
		return;
	}
	double t0 = now_s();
	rdb_queue_push(&p->raw, it, it->len);
	p->t_reader_blocked += now_s() - t0;
}

/* Set the ingest's --meta key=value pairs (checked by check_options) on the
 * item's metadata object, over fields of the same name. -1: out of memory. */
static int merge_meta(pipeline *p, item *it)
{
	cJSON *m = it->meta_json ? cJSON_Parse(it->meta_json) : cJSON_CreateObject();
	if (m && !cJSON_IsObject(m)) {
		cJSON_Delete(m);
		m = cJSON_CreateObject();
	}
	if (!m)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < p->o->n_meta && rc == 0; i++) {
		const char *kv = p->o->meta[i], *eq = strchr(kv, '=');
		char key[256];
		snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
		cJSON_DeleteItemFromObjectCaseSensitive(m, key);
		if (!cJSON_AddStringToObject(m, key, eq + 1))
			rc = -1;
	}
	char *out = rc == 0 ? cJSON_PrintUnformatted(m) : NULL;
	cJSON_Delete(m);
	if (!out)
		return -1;
	free(it->meta_json);
	it->meta_json = out;
	return 0;
}

/* Take ownership of @p text (malloc'd, len bytes) for a document item,
 * repairing invalid UTF-8 (rich formats are bytes until a worker converts
 * them: convert_item). */
static item *doc_item(pipeline *p, const char *id, const char *source, const char *title,
                      const char *meta, char *text, size_t len, ragdb_format fmt, int64_t mtime)
{
	item *it = item_new(ITEM_DOC, id, source, NULL);
	if (!it) {
		free(text);
		return NULL;
	}
	char *fixed = NULL;
	size_t fixed_len = 0;
	size_t bad = rdb_format_converts(fmt) ? 0 : rdb_utf8_repair(text, len, &fixed, &fixed_len);
	if (bad == (size_t)-1) {
		free(text);
		item_free(it);
		return NULL;
	}
	if (bad > 0) {
		free(text);
		text = fixed;
		len = fixed_len;
		char msg[160];
		snprintf(msg, sizeof msg, "invalid UTF-8 replaced with U+FFFD (%zu sequence%s)", bad,
		         bad == 1 ? "" : "s");
		it->reason = strdup(msg);
		pthread_mutex_lock(&p->mu);
		p->warnings++;
		pthread_mutex_unlock(&p->mu);
	}
	it->text = text;
	it->len = len;
	it->fmt = fmt;
	it->mtime = mtime;
	it->title = (title && *title) ? strdup(title) : NULL;
	it->meta_json = (meta && *meta) ? strdup(meta) : NULL;
	if (p->o->n_meta > 0 && merge_meta(p, it) != 0) {
		item_free(it);
		return NULL;
	}
	return it;
}

/* --- reader ---------------------------------------------------------------- */

struct jsonl_ctx {
	pipeline *p;
	const file_ent *f;
};

static int on_record(void *ctx, const rdb_record *r)
{
	struct jsonl_ctx *jc = ctx;
	if (stopping(jc->p))
		return 1;
	char *text = malloc(r->text_len + 1);
	if (!text) {
		emit(jc->p, NULL);
		return 1;
	}
	memcpy(text, r->text, r->text_len);
	text[r->text_len] = 0;
	emit(jc->p, doc_item(jc->p, r->id, jc->f->abspath, r->title, r->meta_json, text, r->text_len,
	                     RAGDB_FORMAT_TEXT, jc->f->mtime));
	return 0;
}

static int on_record_check(void *ctx, const rdb_record *r)
{
	(void)ctx;
	(void)r;
	return 0;
}

static void on_bad_record(void *ctx, size_t line, const char *msg)
{
	struct jsonl_ctx *jc = ctx;
	char reason[1200];
	snprintf(reason, sizeof reason, "%s: line %zu: %s", jc->f->path, line, msg);
	char id[64];
	snprintf(id, sizeof id, "%s:%zu", jc->f->rel, line);
	emit(jc->p, item_new(ITEM_SKIPPED, id, jc->f->abspath, reason));
}

/* JSONL or CSV (fmt): one document per record. */
static void read_jsonl(pipeline *p, const file_ent *f, ragdb_format fmt, const char *data, size_t len)
{
	rdb_jsonl_fields fields = {p->o->id_field, p->o->text_field, p->o->title_field};
	struct jsonl_ctx jc = {p, f};
	rdb_err e = {0};
	ragdb_status st;
	if (!p->o->skip_bad_records) {
		st = rdb_records_each(fmt, data, len, &fields, f->rel, 0, on_record_check, NULL, &jc, &e);
		if (st != RAGDB_OK) {
			rdb_err_prefix(&e, "%s", f->path);
			emit(p, item_new(ITEM_FAILED, f->rel, f->abspath, e.msg));
			if (st == RAGDB_EBADINPUT) {
				char msg[sizeof e.msg];
				memcpy(msg, e.msg, sizeof msg);
				rdb_err_set(&e, st, "%.900s (nothing of this file was stored; fix the line or use --skip-bad-records)", msg);
			}
			set_fatal(p, &e);
			return;
		}
	}
	st = rdb_records_each(fmt, data, len, &fields, f->rel, p->o->skip_bad_records, on_record,
	                      on_bad_record, &jc, &e);
	if (st != RAGDB_OK && st != RAGDB_EINTR) {
		rdb_err_prefix(&e, "%s", f->path);
		set_fatal(p, &e);
	}
}

static void read_file(pipeline *p, const file_ent *f)
{
	char *data = NULL;
	size_t len = 0;
	rdb_err e = {0};
	double t0 = now_s(), blocked0 = p->t_reader_blocked;
	ragdb_status st = rdb_read_file(f->path, &data, &len, &e);
	if (st != RAGDB_OK) {
		emit(p, item_new(ITEM_FAILED, f->rel, f->abspath, e.msg));
		return;
	}
	ragdb_format fmt = p->o->format ? p->o->format
	                   : rdb_format_sniff(rdb_format_from_path(f->path), data, len);
	if (len == 0) {
		free(data);
		emit(p, item_new(ITEM_SKIPPED, f->rel, f->abspath, "empty file"));
		return;
	}
	if (!rdb_format_converts(fmt) && rdb_looks_binary(data, len)) {
		free(data);
		emit(p, item_new(ITEM_SKIPPED, f->rel, f->abspath, "binary file (NUL or control bytes)"));
		return;
	}
	if (fmt == RAGDB_FORMAT_JSONL || fmt == RAGDB_FORMAT_CSV) {
		read_jsonl(p, f, fmt, data, len);
		free(data);
	} else {
		char *title = fmt == RAGDB_FORMAT_MARKDOWN ? rdb_markdown_title(data, len) : NULL;
		emit(p, doc_item(p, f->rel, f->abspath, title, NULL, data, len, fmt, f->mtime));
		free(title);
	}
	/* Time spent waiting for the workers is theirs, not reading's. */
	double busy = now_s() - t0 - (p->t_reader_blocked - blocked0);
	pthread_mutex_lock(&p->mu);
	p->t_read += busy;
	pthread_mutex_unlock(&p->mu);
}

static void *reader_main(void *arg)
{
	pipeline *p = arg;
	for (size_t i = 0; i < p->n_files && !stopping(p); i++)
		read_file(p, &p->files[i]);
	for (size_t i = 0; i < p->n_docs && !stopping(p); i++) {
		const ragdb_document *d = &p->docs[i];
		size_t len = d->text_len == (size_t)-1 ? strlen(d->text) : d->text_len;
		char *text = malloc(len + 1);
		if (!text) {
			emit(p, NULL);
			break;
		}
		memcpy(text, d->text, len);
		text[len] = 0;
		ragdb_format fmt = d->format == RAGDB_FORMAT_JSONL || d->format == RAGDB_FORMAT_CSV
		                   ? RAGDB_FORMAT_TEXT : d->format;
		emit(p, doc_item(p, d->id, d->source ? d->source : d->id, d->title, d->metadata_json, text,
		                 len, fmt ? fmt : RAGDB_FORMAT_TEXT, 0));
	}
	rdb_queue_close(&p->raw);
	return NULL;
}

/* --- workers --------------------------------------------------------------- */

static int same_str(const char *stored, const char *mine)
{
	return strcmp(stored ? stored : "", mine ? mine : "") == 0;
}

/* Is the stored document with this id identical (text, title, metadata,
 * source)? Then nothing needs to be embedded or written. */
static int unchanged(pipeline *p, const item *it)
{
	rdb_txn *t = NULL;
	rdb_doc d;
	int same = 0;
	if (rdb_txn_begin(p->env->store, 0, &t, NULL) != RAGDB_OK)
		return 0;
	if (rdb_doc_get_by_id(t, it->id, &d, NULL) == RAGDB_OK)
		same = memcmp(d.hash, it->hash, 16) == 0 && d.size == it->len &&
		       same_str(d.source, it->source) && same_str(d.title, it->title) &&
		       same_str(d.meta_json, it->meta_json);
	rdb_txn_abort(t);
	return same;
}

/* The text the embedder sees for a chunk: the document title and the
 * chunk's heading path give context the chunk text alone may lack. */
static char *embed_input(const item *it, const rdb_span *s, size_t idx, size_t *len)
{
	/* the chunk's text: a split table's has its header rows first */
	const char *ct = it->chunks[idx].text;
	size_t cl = it->chunks[idx].text_len;
	char *buf = malloc(rdb_embed_text_size(it->title, s->heading, cl));
	if (!buf)
		return NULL;
	*len = rdb_embed_text_build(buf, it->title, s->heading, ct, cl);
	return buf;
}

static ragdb_status embed_chunks(pipeline *p, item *it, const rdb_span *spans, rdb_err *e)
{
	rdb_embedder *emb = p->env->embedder;
	size_t n = it->n_chunks, dim = emb->dim;
	size_t bmax = emb->batch_max ? emb->batch_max : 64;
	if (n > SIZE_MAX / sizeof(float) / dim)
		return rdb_err_set(e, RAGDB_ENOMEM, "document %s has too many chunks (%zu)", it->id, n);
	it->vecs = malloc(n * dim * sizeof(float));
	char **inputs = calloc(bmax, sizeof *inputs);
	size_t *lens = calloc(bmax, sizeof *lens);
	ragdb_status st = RAGDB_OK;
	size_t truncated = 0;
	if (!it->vecs || !inputs || !lens) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory embedding %s", it->id);
		goto out;
	}
	for (size_t i = 0; i < n && st == RAGDB_OK; i += bmax) {
		size_t m = n - i < bmax ? n - i : bmax;
		for (size_t j = 0; j < m; j++) {
			inputs[j] = embed_input(it, &spans[i + j], i + j, &lens[j]);
			if (!inputs[j])
				st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory embedding %s", it->id);
			else if (emb->max_input && lens[j] > emb->max_input)
				truncated++;
		}
		if (st == RAGDB_OK)
			st = rdb_embedder_embed(emb, (const char *const *)inputs, lens, m,
			                        RDB_EMBED_DOCUMENT, it->vecs + i * dim, e);
		for (size_t j = 0; j < m; j++) {
			free(inputs[j]);
			inputs[j] = NULL;
		}
	}
	/* The embedder reads only max_input bytes of a text (a remote model's
	 * window): say so rather than embed less than was stored in silence. */
	if (st == RAGDB_OK && truncated > 0 && !it->reason) {
		char msg[400];
		snprintf(msg, sizeof msg,
		         "%zu chunk%s truncated to %zu bytes for the embedder %s:%s; use smaller chunks (--chunk-tokens at init)",
		         truncated, truncated == 1 ? "" : "s", emb->max_input, emb->name, emb->model);
		it->reason = strdup(msg);
		pthread_mutex_lock(&p->mu);
		p->warnings++;
		pthread_mutex_unlock(&p->mu);
	}
out:
	free(inputs);
	free(lens);
	return st;
}

/* Collect each chunk's full-text terms: the body is the chunk text, the
 * title field the document title and the chunk's heading path. */
static ragdb_status collect_terms(item *it, rdb_tokenizer *tok, rdb_termbag *bag, rdb_err *e)
{
	it->terms = calloc(it->n_chunks, sizeof *it->terms);
	if (!it->terms)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory indexing %s", it->id);
	for (size_t i = 0; i < it->n_chunks; i++) {
		rdb_chunk_in *c = &it->chunks[i];
		rdb_termbag_reset(bag);
		ragdb_status st = rdb_termbag_add(bag, tok, c->text, c->text_len, 0, e);
		if (st == RAGDB_OK && it->title)
			st = rdb_termbag_add(bag, tok, it->title, strlen(it->title), 1, e);
		if (st == RAGDB_OK && c->heading)
			st = rdb_termbag_add(bag, tok, c->heading, strlen(c->heading), 1, e);
		if (st != RAGDB_OK)
			return st;
		size_t n = 0;
		it->terms[i] = rdb_termbag_dup(bag, &n);
		if (!it->terms[i] && bag->n)
			return rdb_err_set(e, RAGDB_ENOMEM, "out of memory indexing %s", it->id);
		c->terms = it->terms[i];
		c->n_terms = n;
		c->len_body = bag->len_body;
		c->len_title = bag->len_title;
	}
	return RAGDB_OK;
}

/* Pack each chunk's text as the store keeps it (zstd when that saves 10%),
 * here on a worker: done by the writer, compression was a third of its time
 * and the writer is the one serial stage of an ingest. */
static ragdb_status pack_chunks(item *it, void **cctx, rdb_err *e)
{
	size_t room = 0;
	for (size_t i = 0; i < it->n_chunks; i++)
		room += rdb_text_pack_room(it->chunks[i].text_len);
	if (room == 0)
		return RAGDB_OK; /* every chunk is too short: the writer stores them raw */
	it->packed = malloc(room);
	if (!it->packed)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory compressing %s", it->id);
	size_t used = 0;
	for (size_t i = 0; i < it->n_chunks; i++) {
		rdb_chunk_in *c = &it->chunks[i];
		size_t len = 0;
		c->pack = rdb_text_pack(cctx, c->text, c->text_len, it->packed + used, &len);
		if (c->pack < 0)
			return rdb_err_set(e, RAGDB_ENOMEM, "out of memory compressing %s", it->id);
		c->packed_len = c->pack == RDB_PACK_ZSTD ? len : 0;
		used += c->packed_len;
	}
	/* Offsets become pointers once the block has its final size. */
	if (used == 0) {
		free(it->packed);
		it->packed = NULL;
	} else {
		char *shrunk = realloc(it->packed, used);
		if (shrunk)
			it->packed = shrunk;
	}
	for (size_t i = 0, off = 0; i < it->n_chunks; i++) {
		rdb_chunk_in *c = &it->chunks[i];
		if (c->pack == RDB_PACK_ZSTD) {
			c->packed = it->packed + off;
			off += c->packed_len;
		}
	}
	return RAGDB_OK;
}

/* Hash, compare, chunk, embed. On failure the item becomes ITEM_FAILED. */
/* HTML, PDF, DOCX, ODT, EPUB: the file's bytes become Markdown-like text
 * (readers.h), here in a worker so that files convert in parallel. On
 * failure the item becomes ITEM_FAILED with the reason naming the file;
 * for ragdb_ingest_text (all or nothing) the failure stops the call. */
static int convert_item(pipeline *p, item *it)
{
	double t0 = now_s();
	rdb_converted c;
	rdb_err e = {0};
	ragdb_status st = rdb_convert(it->fmt, it->text, it->len, &c, &e);
	pthread_mutex_lock(&p->mu);
	p->t_read += now_s() - t0;
	pthread_mutex_unlock(&p->mu);
	if (st != RAGDB_OK) {
		/* the reason goes out with the source (on_item); a fatal error
		 * goes out alone, so it names the document itself */
		it->kind = ITEM_FAILED;
		free(it->reason);
		it->reason = strdup(e.msg);
		rdb_err_prefix(&e, "%s", p->single_txn ? it->id : it->source);
		if (st == RAGDB_ENOMEM || p->single_txn)
			set_fatal(p, &e);
		return -1;
	}
	free(it->text);
	it->text = c.text;
	it->len = c.len;
	it->fmt = c.fmt;
	if (!it->title)
		it->title = c.title;
	else
		free(c.title);
	return 0;
}

static void prepare(pipeline *p, item *it, rdb_tokenizer *tok, rdb_termbag *bag, void **cctx)
{
	/* LMDB keys are at most 511 bytes: refuse here, per document, rather
	 * than fail the whole batch at write time. */
	const char *too_long = strlen(it->id) > RDB_MAX_ID_LEN         ? "its id is longer than 511 bytes"
	                       : strlen(it->source) > RDB_MAX_SOURCE_LEN ? "its source path is longer than 502 bytes"
	                                                                  : NULL;
	if (too_long) {
		it->kind = ITEM_FAILED;
		free(it->reason);
		it->reason = strdup(too_long);
		return;
	}
	if (rdb_format_converts(it->fmt) && convert_item(p, it) != 0)
		return;
	XXH128_hash_t h = XXH3_128bits(it->text, it->len);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	memcpy(it->hash, c.digest, 16);
	if (unchanged(p, it)) {
		it->kind = ITEM_UNCHANGED;
		return;
	}
	double t0 = now_s();
	rdb_err e = {0};
	rdb_span *spans = NULL;
	size_t n = 0;
	rdb_chunk_opts co = {p->chunk_tokens, p->overlap};
	ragdb_status st = rdb_chunk_text(it->text, it->len, it->fmt, &co, &spans, &n, &e);
	if (st == RAGDB_OK && n == 0) {
		it->kind = ITEM_SKIPPED;
		free(it->reason);
		it->reason = strdup("no text (only whitespace)");
		rdb_spans_free(spans, n);
		return;
	}
	if (st == RAGDB_OK) {
		it->chunks = calloc(n, sizeof *it->chunks);
		it->headings = calloc(n, sizeof *it->headings);
		it->ctexts = calloc(n, sizeof *it->ctexts);
		if (!it->chunks || !it->headings || !it->ctexts)
			st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory chunking %s", it->id);
	}
	if (st == RAGDB_OK) {
		it->n_chunks = n;
		for (size_t i = 0; i < n; i++) {
			it->chunks[i].start = spans[i].start;
			it->chunks[i].end = spans[i].end;
			it->chunks[i].text = it->text + spans[i].start;
			it->chunks[i].text_len = spans[i].end - spans[i].start;
			if (spans[i].text) { /* moved */
				it->ctexts[i] = spans[i].text;
				it->chunks[i].text = spans[i].text;
				it->chunks[i].text_len = spans[i].text_len;
				spans[i].text = NULL;
			}
			it->headings[i] = spans[i].heading;
			it->chunks[i].heading = spans[i].heading;
			spans[i].heading = NULL; /* moved */
		}
	}
	if (st == RAGDB_OK)
		st = collect_terms(it, tok, bag, &e);
	if (st == RAGDB_OK)
		st = pack_chunks(it, cctx, &e);
	double t1 = now_s();
	if (st == RAGDB_OK)
		st = embed_chunks(p, it, spans, &e);
	double t2 = now_s();
	rdb_spans_free(spans, n);
	pthread_mutex_lock(&p->mu);
	p->t_read += t1 - t0;
	p->t_embed += t2 - t1;
	if (st == RAGDB_OK)
		p->embeddings += it->n_chunks;
	pthread_mutex_unlock(&p->mu);
	if (st != RAGDB_OK) {
		it->kind = ITEM_FAILED;
		free(it->reason);
		it->reason = strdup(e.msg);
		if (st == RAGDB_ENOMEM)
			set_fatal(p, &e);
	}
}

/* The bytes a prepared item holds, roughly: its text, the chunks' terms
 * (about the text's size), packed texts and vectors. */
static size_t item_bytes(const item *it, size_t dim)
{
	size_t packed = 0;
	for (size_t i = 0; i < it->n_chunks; i++)
		packed += it->chunks[i].packed_len;
	return 2 * it->len + packed + it->n_chunks * dim * sizeof(float);
}

static void *worker_main(void *arg)
{
	pipeline *p = arg;
	item *it;
	rdb_tokenizer *tok = NULL;
	rdb_termbag bag = {0};
	void *cctx = NULL; /* this worker's zstd context */
	rdb_err e = {0};
	if (rdb_tokenizer_create(rdb_store_language(p->env->store), &tok, &e) != RAGDB_OK)
		set_fatal(p, &e);
	while ((it = rdb_queue_pop(&p->raw)) != NULL) {
		if (it->kind == ITEM_DOC) {
			if (stopping(p) || !tok) {
				item_free(it); /* not started: the next run does it */
				continue;
			}
			prepare(p, it, tok, &bag, &cctx);
		}
		rdb_queue_push(&p->ready, it, item_bytes(it, p->env->embedder->dim));
	}
	rdb_termbag_free(&bag);
	rdb_text_pack_end(cctx);
	rdb_tokenizer_free(tok);
	rdb_queue_close(&p->ready);
	return NULL;
}

/* --- writer ---------------------------------------------------------------- */

typedef struct batch {
	item **items;
	size_t n, cap;
	size_t chunks, bytes;
	double since;
} batch;

static void report(pipeline *p, ragdb_ingest_action a, const item *it, const char *reason)
{
	if (p->o->on_item)
		p->o->on_item(p->o->ctx, a, it->id, it->source, reason);
}

struct write_ctx {
	pipeline *p;
	batch *b;
	uint8_t *replaced;
};

static ragdb_status write_batch_txn(rdb_txn *t, struct write_ctx *wc, rdb_err *e)
{
	for (size_t i = 0; i < wc->b->n; i++) {
		item *it = wc->b->items[i];
		rdb_doc old;
		ragdb_status st = rdb_doc_get_by_id(t, it->id, &old, e);
		if (st != RAGDB_OK && st != RAGDB_ENOTFOUND)
			return st;
		wc->replaced[i] = st == RAGDB_OK;
		rdb_doc d = {0};
		d.id = it->id;
		d.source = it->source;
		d.title = it->title ? it->title : "";
		d.meta_json = it->meta_json ? it->meta_json : "";
		memcpy(d.hash, it->hash, 16);
		d.size = it->len;
		d.mtime = it->mtime;
		d.ingested = (int64_t)time(NULL);
		st = rdb_doc_put(t, &d, it->chunks, it->n_chunks, it->vecs, e);
		if (st != RAGDB_OK) {
			rdb_err_prefix(e, "writing %s", it->id);
			return st;
		}
	}
	return RAGDB_OK;
}

/* Commit the batch; on a full map grow and replay it. */
static ragdb_status flush(pipeline *p, batch *b, rdb_err *e)
{
	if (b->n == 0)
		return RAGDB_OK;
	double t0 = now_s();
	uint8_t *replaced = calloc(b->n, 1);
	if (!replaced)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory committing a batch");
	struct write_ctx wc = {p, b, replaced};
	ragdb_status st;
	for (int attempt = 0;; attempt++) {
		rdb_txn *t = NULL;
		st = rdb_txn_begin(p->env->store, 1, &t, e);
		if (st == RAGDB_OK) {
			st = write_batch_txn(t, &wc, e);
			if (st == RAGDB_OK)
				st = rdb_txn_commit(t, e);
			else
				rdb_txn_abort(t);
		}
		if (st != RAGDB_EMAPFULL || attempt >= 16)
			break;
		if (rdb_store_grow(p->env->store, e) != RAGDB_OK) {
			st = e->status;
			break;
		}
	}
	if (st == RAGDB_OK) {
		for (size_t i = 0; i < b->n; i++) {
			item *it = b->items[i];
			if (replaced[i])
				p->sum->replaced++;
			else
				p->sum->added++;
			p->sum->chunks += it->n_chunks;
			p->sum->bytes += it->len;
			report(p, replaced[i] ? RAGDB_REPLACED : RAGDB_ADDED, it, it->reason);
		}
	}
	free(replaced);
	for (size_t i = 0; i < b->n; i++)
		item_free(b->items[i]);
	b->n = b->chunks = b->bytes = 0;
	p->sum->seconds_write += now_s() - t0;
	return st;
}

static int batch_add(batch *b, item *it)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		item **items = realloc(b->items, cap * sizeof *items);
		if (!items)
			return -1;
		b->items = items;
		b->cap = cap;
	}
	if (b->n == 0)
		b->since = now_s();
	b->items[b->n++] = it;
	b->chunks += it->n_chunks;
	b->bytes += it->len;
	return 0;
}

static int batch_full(const pipeline *p, const batch *b)
{
	if (p->single_txn)
		return 0;
	return b->n >= BATCH_DOCS || b->chunks >= BATCH_CHUNKS || b->bytes >= BATCH_BYTES ||
	       (b->n > 0 && now_s() - b->since >= BATCH_SECONDS);
}

static void progress(pipeline *p)
{
	if (p->o->on_progress) {
		p->sum->seconds = now_s() - p->t0;
		p->sum->embeddings = p->embeddings;
		p->sum->warnings = p->warnings;
		p->o->on_progress(p->o->ctx, p->sum);
	}
}

/* The writer loop: runs on the calling thread until every worker is done. */
static ragdb_status write_loop(pipeline *p, rdb_err *e)
{
	batch b = {0};
	rdb_strset seen = {0};
	ragdb_status st = RAGDB_OK;
	int write_failed = 0;
	item *it;
	while ((it = rdb_queue_pop(&p->ready)) != NULL) {
		p->sum->files_seen++;
		switch (it->kind) {
		case ITEM_UNCHANGED:
			p->sum->unchanged++;
			rdb_strset_add(&seen, it->id, it->source, NULL);
			report(p, RAGDB_UNCHANGED, it, NULL);
			item_free(it);
			break;
		case ITEM_SKIPPED:
			p->sum->skipped++;
			report(p, RAGDB_SKIPPED, it, it->reason);
			item_free(it);
			break;
		case ITEM_FAILED:
			p->sum->failed++;
			report(p, RAGDB_FAILED, it, it->reason);
			item_free(it);
			break;
		case ITEM_DOC: {
			const char *first = NULL;
			int added = rdb_strset_add(&seen, it->id, it->source, &first);
			if (added == 0) {
				char reason[1024];
				snprintf(reason, sizeof reason,
				         "duplicate id \"%.300s\": also produced by %.600s in this ingest; only the first is kept",
				         it->id, first ? first : "another document");
				p->sum->skipped++;
				report(p, RAGDB_SKIPPED, it, reason);
				item_free(it);
				break;
			}
			if (added < 0 || batch_add(&b, it) != 0) {
				item_free(it);
				rdb_err_set(e, RAGDB_ENOMEM, "out of memory");
				set_fatal(p, e);
				break;
			}
			break;
		}
		}
		if (batch_full(p, &b) && !write_failed) {
			st = flush(p, &b, e);
			if (st != RAGDB_OK) {
				write_failed = 1;
				set_fatal(p, e);
			}
			progress(p);
		}
	}
	/* Documents prepared before a stop are complete: commit them, unless a
	 * write already failed, or (one transaction for all) a document failed
	 * or the call is failing (an out-of-memory here must not commit part of
	 * an all-or-none call; found by tests/unit/test_engine_enomem.c). */
	int all_or_none_failed = p->single_txn && (p->sum->failed > 0 || p->fatal);
	if (b.n > 0 && !write_failed && !all_or_none_failed) {
		st = flush(p, &b, e);
		if (st != RAGDB_OK)
			set_fatal(p, e);
		progress(p);
	}
	for (size_t i = 0; i < b.n; i++)
		item_free(b.items[i]);
	free(b.items);
	rdb_strset_free(&seen);
	return p->fatal ? p->err.status : RAGDB_OK;
}

/* --- sync ------------------------------------------------------------------ */

struct sync_ctx {
	pipeline *p;
	uint64_t *nums;
	char **sources;
	char **ids;
	size_t n, cap;
};

static int sync_collect(void *ctx, const char *source, uint64_t num)
{
	struct sync_ctx *sc = ctx;
	if (rdb_strset_has(&sc->p->walked, source))
		return 0;
	struct stat st;
	if (stat(source, &st) == 0 || errno != ENOENT)
		return 0; /* still there (maybe excluded this time): keep it */
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 32;
		uint64_t *nums = realloc(sc->nums, cap * sizeof *nums);
		if (!nums)
			return 1;
		sc->nums = nums;
		char **srcs = realloc(sc->sources, cap * sizeof *srcs);
		if (!srcs)
			return 1;
		sc->sources = srcs;
		char **ids = realloc(sc->ids, cap * sizeof *ids);
		if (!ids)
			return 1;
		sc->ids = ids;
		sc->cap = cap;
	}
	sc->sources[sc->n] = strdup(source);
	sc->ids[sc->n] = NULL;
	sc->nums[sc->n++] = num;
	return 0;
}

/* Remove documents under the walked roots whose files are gone. */
static ragdb_status sync_roots(pipeline *p, char **roots, size_t n_roots, rdb_err *e)
{
	struct sync_ctx sc = {p, NULL, NULL, NULL, 0, 0};
	ragdb_status st = RAGDB_OK;
	rdb_txn *t = NULL;
	for (int attempt = 0;; attempt++) {
		sc.n = 0;
		if ((st = rdb_txn_begin(p->env->store, 1, &t, e)) != RAGDB_OK)
			break;
		for (size_t r = 0; r < n_roots && st == RAGDB_OK; r++)
			st = rdb_source_iter(t, roots[r], 1, sync_collect, &sc, e);
		if (st == RAGDB_EINTR)
			st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory during --sync");
		for (size_t i = 0; i < sc.n && st == RAGDB_OK; i++) {
			rdb_doc d;
			if (rdb_doc_get(t, sc.nums[i], &d, e) == RAGDB_OK) {
				free(sc.ids[i]);
				sc.ids[i] = strdup(d.id);
				st = rdb_doc_delete(t, sc.nums[i], e);
			}
		}
		st = st == RAGDB_OK ? rdb_txn_commit(t, e) : (rdb_txn_abort(t), st);
		if (st != RAGDB_EMAPFULL || attempt > 8 || rdb_store_grow(p->env->store, e) != RAGDB_OK)
			break;
		for (size_t i = 0; i < sc.n; i++) {
			free(sc.sources[i]);
			free(sc.ids[i]);
		}
	}
	for (size_t i = 0; i < sc.n; i++) {
		if (st == RAGDB_OK && p->o->on_item)
			p->o->on_item(p->o->ctx, RAGDB_REMOVED, sc.ids[i] ? sc.ids[i] : "", sc.sources[i],
			              "file is gone");
		free(sc.sources[i]);
		free(sc.ids[i]);
	}
	if (st == RAGDB_OK)
		p->sum->removed += sc.n;
	free(sc.nums);
	free(sc.sources);
	free(sc.ids);
	return st;
}

/* --- driver ---------------------------------------------------------------- */

static int on_found(void *ctx, const rdb_found *f)
{
	pipeline *p = ctx;
	if (*p->env->interrupted)
		return 1;
	if (p->n_files == p->cap_files) {
		size_t cap = p->cap_files ? p->cap_files * 2 : 256;
		file_ent *fs = realloc(p->files, cap * sizeof *fs);
		if (!fs)
			return 1;
		p->files = fs;
		p->cap_files = cap;
	}
	file_ent *fe = &p->files[p->n_files];
	fe->path = strdup(f->path);
	fe->abspath = strdup(f->abspath);
	fe->rel = strdup(f->rel);
	fe->size = (uint64_t)f->st->st_size;
	fe->mtime = (int64_t)f->st->st_mtime;
	if (!fe->path || !fe->abspath || !fe->rel || rdb_strset_add(&p->walked, f->abspath, NULL, NULL) < 0) {
		free(fe->path);
		free(fe->abspath);
		free(fe->rel);
		return 1;
	}
	p->n_files++;
	p->sum->files_total++;
	p->sum->bytes_total += fe->size;
	return 0;
}

static void on_walk_warn(void *ctx, const char *path, const char *msg)
{
	pipeline *p = ctx;
	p->warnings++;
	if (p->o->on_item)
		p->o->on_item(p->o->ctx, RAGDB_SKIPPED, path, path, msg);
	p->sum->skipped++;
}

static ragdb_status run(pipeline *p, rdb_err *err)
{
	ragdb_status st = RAGDB_OK;
	int nw = p->o->threads > 0 ? p->o->threads : rdb_ncores();
	if (nw > 64)
		nw = 64;
	p->n_workers = nw;
	if (rdb_queue_init(&p->raw, RAW_ITEMS, RAW_BYTES, 1) != 0)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory starting the ingest");
	if (rdb_queue_init(&p->ready, READY_ITEMS, READY_BYTES, nw) != 0) {
		rdb_queue_destroy(&p->raw); /* leak found by test_engine_enomem */
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory starting the ingest");
	}
	pthread_t reader, workers[64];
	int started = 0;
	if (pthread_create(&reader, NULL, reader_main, p) != 0) {
		st = rdb_err_set(err, RAGDB_ENOMEM, "cannot start the reader thread");
		goto out;
	}
	for (; started < nw; started++)
		if (pthread_create(&workers[started], NULL, worker_main, p) != 0)
			break;
	if (started == 0) {
		/* No worker could start: do the work here, in order. */
		worker_main(p);
	} else {
		for (int i = started; i < nw; i++)
			rdb_queue_close(&p->ready);
	}
	st = write_loop(p, err);
	pthread_join(reader, NULL);
	for (int i = 0; i < started; i++)
		pthread_join(workers[i], NULL);
	if (p->fatal) {
		*err = p->err;
		st = p->err.status;
	}
out:
	rdb_queue_destroy(&p->raw);
	rdb_queue_destroy(&p->ready);
	return st;
}

static void finish(pipeline *p, double t0)
{
	p->sum->embeddings = p->embeddings;
	p->sum->warnings = p->warnings;
	p->sum->seconds_read = p->t_read;
	p->sum->seconds_embed = p->t_embed;
	p->sum->seconds = now_s() - t0;
}

static void pipeline_init(pipeline *p, const rdb_pipeline_env *env, const ragdb_ingest_options *o,
                          ragdb_ingest_summary *sum)
{
	memset(p, 0, sizeof *p);
	memset(sum, 0, sizeof *sum);
	p->env = env;
	p->o = o;
	p->sum = sum;
	p->t0 = now_s();
	const rdb_meta *m = rdb_store_meta(env->store);
	p->chunk_tokens = o->chunk_tokens ? o->chunk_tokens : m->chunk_tokens;
	p->overlap = o->chunk_overlap == UINT32_MAX ? 0
	             : o->chunk_overlap ? o->chunk_overlap : m->chunk_overlap;
	if (p->overlap >= p->chunk_tokens / 2)
		p->overlap = p->chunk_tokens / 4;
	pthread_mutex_init(&p->mu, NULL);
}

static void pipeline_free(pipeline *p)
{
	for (size_t i = 0; i < p->n_files; i++) {
		free(p->files[i].path);
		free(p->files[i].abspath);
		free(p->files[i].rel);
	}
	free(p->files);
	rdb_strset_free(&p->walked);
	pthread_mutex_destroy(&p->mu);
	/* the writer's full-text buffers, kept from batch to batch */
	rdb_ft_spare_drop(p->env->store);
}

static ragdb_status check_options(const ragdb_ingest_options *o, uint32_t tokens, rdb_err *err)
{
	if (tokens < 16 || tokens > 8192)
		return rdb_err_set(err, RAGDB_EINVAL, "chunk size %u tokens is out of range; use 16..8192",
		                   tokens);
	if (o->chunk_overlap != UINT32_MAX && o->chunk_overlap && o->chunk_overlap >= tokens / 2)
		return rdb_err_set(err, RAGDB_EINVAL,
		                   "overlap %u tokens must be less than half the chunk size (%u tokens)",
		                   o->chunk_overlap, tokens);
	if ((unsigned)o->format > RAGDB_FORMAT_CSV)
		return rdb_err_set(err, RAGDB_EINVAL, "unknown format %d", (int)o->format);
	for (size_t i = 0; i < o->n_meta; i++) {
		const char *kv = o->meta[i], *eq = kv ? strchr(kv, '=') : NULL;
		if (!eq || eq == kv || eq - kv > 255)
			return rdb_err_set(err, RAGDB_EINVAL, "metadata \"%s\" is not key=value (a key of "
			                   "1..255 bytes, then '=', then the value)", kv ? kv : "(null)");
	}
	return RAGDB_OK;
}

ragdb_status rdb_pipeline_paths(const rdb_pipeline_env *env, const char *const *paths, size_t n,
                                const ragdb_ingest_options *opts, ragdb_ingest_summary *summary,
                                rdb_err *err)
{
	static const ragdb_ingest_options none;
	const ragdb_ingest_options *o = opts ? opts : &none;
	double t0 = now_s();
	pipeline p;
	pipeline_init(&p, env, o, summary);
	ragdb_status st = check_options(o, p.chunk_tokens, err);
	if (st != RAGDB_OK)
		goto out;
	if (n == 0) {
		st = rdb_err_set(err, RAGDB_EINVAL, "no paths given; name files or directories to ingest");
		goto out;
	}
	rdb_walk_opts wo = {o->globs, o->n_globs, o->excludes, o->n_excludes};
	st = rdb_walk(paths, n, &wo, on_found, on_walk_warn, &p, err);
	if (st == RAGDB_EINTR && *env->interrupted)
		st = rdb_err_set(err, RAGDB_EINTR, "interrupted while listing files; nothing was changed");
	else if (st == RAGDB_EINTR)
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory listing files");
	if (st != RAGDB_OK)
		goto out;
	st = run(&p, err);
	if (st == RAGDB_OK && *env->interrupted)
		st = rdb_err_set(err, RAGDB_EINTR, "interrupted; what was committed stays");
	if (st == RAGDB_OK && o->sync) {
		char **roots = calloc(n, sizeof *roots);
		size_t nr = 0;
		if (!roots) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			if ((roots[nr] = realpath(paths[i], NULL)) != NULL)
				nr++;
		st = sync_roots(&p, roots, nr, err);
		for (size_t i = 0; i < nr; i++)
			free(roots[i]);
		free(roots);
	}
	if (st == RAGDB_EINTR && err->msg[0] == 0)
		rdb_err_set(err, RAGDB_EINTR, "interrupted; what was committed stays");
out:
	finish(&p, t0);
	pipeline_free(&p);
	return st;
}

ragdb_status rdb_pipeline_texts(const rdb_pipeline_env *env, const ragdb_document *docs, size_t n,
                                const ragdb_ingest_options *opts, ragdb_ingest_summary *summary,
                                rdb_err *err)
{
	static const ragdb_ingest_options none;
	const ragdb_ingest_options *o = opts ? opts : &none;
	double t0 = now_s();
	pipeline p;
	pipeline_init(&p, env, o, summary);
	p.docs = docs;
	p.n_docs = n;
	p.single_txn = 1;
	rdb_strset ids = {0};
	ragdb_status st = check_options(o, p.chunk_tokens, err);
	for (size_t i = 0; i < n && st == RAGDB_OK; i++) {
		const ragdb_document *d = &docs[i];
		if (!d->id || !*d->id)
			st = rdb_err_set(err, RAGDB_EINVAL, "document %zu has no id; every document needs one", i + 1);
		else if (!d->text)
			st = rdb_err_set(err, RAGDB_EINVAL, "document \"%s\" has no text", d->id);
		else if ((unsigned)d->format > RAGDB_FORMAT_CSV)
			st = rdb_err_set(err, RAGDB_EINVAL, "document \"%s\": unknown format %d", d->id,
			                 (int)d->format);
		else if (rdb_strset_add(&ids, d->id, NULL, NULL) == 0)
			st = rdb_err_set(err, RAGDB_EINVAL, "id \"%s\" appears twice in this batch; ids must be unique", d->id);
		else if (d->metadata_json && *d->metadata_json) {
			cJSON *m = cJSON_Parse(d->metadata_json);
			if (!cJSON_IsObject(m))
				st = rdb_err_set(err, RAGDB_EINVAL,
				                 "document \"%s\": metadata must be a JSON object, got: %.80s", d->id,
				                 d->metadata_json);
			cJSON_Delete(m);
		}
	}
	rdb_strset_free(&ids);
	if (st == RAGDB_OK)
		st = run(&p, err);
	if (st == RAGDB_OK && summary->failed > 0)
		st = rdb_err_set(err, RAGDB_EEMBEDDER, "%llu document(s) failed; nothing else is missing",
		                 (unsigned long long)summary->failed);
	finish(&p, t0);
	pipeline_free(&p);
	return st;
}
