/*
 * engine/docs.c — documents through the public API: list, show, delete (by
 * id and by source), stats and check.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/internal.h"
#include "engine/kernels/kernels.h"

static void hash_hex(const uint8_t h[16], char out[33])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[32] = 0;
}

static void info_from_doc(const rdb_doc *d, ragdb_doc_info *out)
{
	memset(out, 0, sizeof *out);
	out->id = d->id;
	out->source = d->source;
	out->title = d->title;
	out->metadata_json = (d->meta_json && *d->meta_json) ? d->meta_json : "{}";
	hash_hex(d->hash, out->hash);
	out->size = d->size;
	out->mtime = d->mtime;
	out->ingested = d->ingested;
	out->n_chunks = d->n_chunks;
}

struct list_ctx {
	int (*cb)(void *ctx, const ragdb_doc_info *doc);
	void *ctx;
};

static int list_one(void *ctx, const rdb_doc *d)
{
	struct list_ctx *lc = ctx;
	ragdb_doc_info info;
	info_from_doc(d, &info);
	return lc->cb(lc->ctx, &info);
}

ragdb_status ragdb_list(ragdb *db, int (*cb)(void *ctx, const ragdb_doc_info *doc), void *ctx)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = {0};
	rdb_txn *t = NULL;
	struct list_ctx lc = {cb, ctx};
	if ((st = rdb_txn_begin(db->store, 0, &t, &e)) == RAGDB_OK)
		st = rdb_doc_iter(t, list_one, &lc, &e);
	rdb_txn_abort(t);
	/* A callback that stops early is not an error. */
	if (st == RAGDB_EINTR)
		st = RAGDB_OK;
	return st == RAGDB_OK ? st : rdb_fail(db, &e);
}

void ragdb_doc_info_free(ragdb_doc_info *d)
{
	if (!d)
		return;
	free((char *)d->id);
	free((char *)d->source);
	free((char *)d->title);
	free((char *)d->metadata_json);
	free((char *)d->text);
	free(d);
}

/* Rebuild a document's text from its chunks. Gaps between chunks held only
 * whitespace (the chunker trims it); they are filled with as many bytes of
 * whitespace, so every chunk's start/end still index into the result. */
static ragdb_status rebuild_text(rdb_txn *t, const rdb_doc *d, char **out, rdb_err *e)
{
	size_t cap = d->size + 1;
	char *text = malloc(cap);
	if (!text)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory for a %llu-byte document",
		                   (unsigned long long)d->size);
	memset(text, ' ', d->size);
	text[d->size] = 0;
	rdb_buf scratch = {0};
	ragdb_status st = RAGDB_OK;
	uint64_t prev_end = 0;
	for (uint32_t i = 0; i < d->n_chunks; i++) {
		rdb_chunk c;
		if ((st = rdb_chunk_get(t, d->first_chunk + i, &c, &scratch, e)) != RAGDB_OK)
			break;
		/* A chunk's text is its range, or ends with it (a split table's
		 * chunk has the table's header rows in front). */
		if (c.end > d->size || c.start > c.end || c.end - c.start > c.text_len) {
			st = rdb_err_set(e, RAGDB_ECORRUPT,
			                 "chunk %llu of document %s has range %llu..%llu outside its %llu bytes",
			                 (unsigned long long)c.id, d->id, (unsigned long long)c.start,
			                 (unsigned long long)c.end, (unsigned long long)d->size);
			break;
		}
		if (c.start > prev_end && c.start - prev_end >= 2)
			text[prev_end] = text[c.start - 1] = '\n';
		memcpy(text + c.start, c.text + (c.text_len - (c.end - c.start)), c.end - c.start);
		if (c.end > prev_end)
			prev_end = c.end;
	}
	rdb_buf_free(&scratch);
	if (st != RAGDB_OK) {
		free(text);
		return st;
	}
	*out = text;
	return RAGDB_OK;
}

ragdb_status ragdb_show(ragdb *db, const char *id, ragdb_doc_info **out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	if (!id || !*id)
		return rdb_failf(db, RAGDB_EINVAL, "no document id given");
	rdb_err e = {0};
	rdb_txn *t = NULL;
	rdb_doc d;
	ragdb_doc_info *info = calloc(1, sizeof *info);
	char *text = NULL;
	if (!info) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
		goto out;
	}
	if ((st = rdb_txn_begin(db->store, 0, &t, &e)) != RAGDB_OK)
		goto out;
	if ((st = rdb_doc_get_by_id(t, id, &d, &e)) != RAGDB_OK) {
		if (st == RAGDB_ENOTFOUND)
			rdb_err_set(&e, st, "no document with id \"%s\"; `ragdb list` shows the ids", id);
		goto out;
	}
	if ((st = rebuild_text(t, &d, &text, &e)) != RAGDB_OK)
		goto out;
	ragdb_doc_info view;
	info_from_doc(&d, &view);
	*info = view;
	info->id = strdup(view.id);
	info->source = strdup(view.source);
	info->title = strdup(view.title);
	info->metadata_json = strdup(view.metadata_json);
	info->text = text;
	text = NULL;
	if (!info->id || !info->source || !info->title || !info->metadata_json)
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
out:
	rdb_txn_abort(t);
	free(text);
	if (st != RAGDB_OK) {
		ragdb_doc_info_free(info);
		return rdb_fail(db, &e);
	}
	*out = info;
	return RAGDB_OK;
}

/* --- deletes ------------------------------------------------------------ */

static ragdb_status delete_by_id(rdb_txn *t, void *ctx, rdb_err *e)
{
	const char *id = ctx;
	rdb_doc d;
	ragdb_status st = rdb_doc_get_by_id(t, id, &d, e);
	if (st == RAGDB_ENOTFOUND)
		return rdb_err_set(e, st, "no document with id \"%s\"; `ragdb list` shows the ids", id);
	if (st != RAGDB_OK)
		return st;
	return rdb_doc_delete(t, d.num, e);
}

ragdb_status ragdb_delete(ragdb *db, const char *id)
{
	if (!id || !*id)
		return rdb_failf(db, RAGDB_EINVAL, "no document id given");
	return rdb_write(db, delete_by_id, (void *)id);
}

struct source_del {
	const char *path;
	uint64_t *nums;
	size_t n, cap;
	uint64_t deleted;
};

static int collect_num(void *ctx, const char *source, uint64_t num)
{
	struct source_del *sd = ctx;
	if (sd->n == sd->cap) {
		size_t cap = sd->cap ? sd->cap * 2 : 64;
		uint64_t *p = realloc(sd->nums, cap * sizeof *p);
		if (!p)
			return 1;
		sd->nums = p;
		sd->cap = cap;
	}
	sd->nums[sd->n++] = num;
	return 0;
}

static ragdb_status delete_sources(rdb_txn *t, void *ctx, rdb_err *e)
{
	struct source_del *sd = ctx;
	sd->n = 0;
	sd->deleted = 0;
	ragdb_status st = rdb_source_iter(t, sd->path, 1, collect_num, sd, e);
	if (st == RAGDB_EINTR)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory listing documents of %s", sd->path);
	if (st != RAGDB_OK)
		return st;
	for (size_t i = 0; i < sd->n; i++) {
		if ((st = rdb_doc_delete(t, sd->nums[i], e)) != RAGDB_OK)
			return st;
		sd->deleted++;
	}
	return RAGDB_OK;
}

/* An absolute, normalised form of @p path (which need not exist): "." and
 * ".." resolved lexically, no trailing '/'. */
static char *absolute_path(const char *path)
{
	char *real = realpath(path, NULL);
	if (real)
		return real;
	char cwd[PATH_MAX];
	size_t n = strlen(path) + PATH_MAX + 2;
	char *joined = malloc(n);
	if (!joined)
		return NULL;
	if (path[0] == '/')
		snprintf(joined, n, "%s", path);
	else if (getcwd(cwd, sizeof cwd))
		snprintf(joined, n, "%s/%s", cwd, path);
	else
		snprintf(joined, n, "%s", path);
	/* Lexical normalisation in place. */
	char *out = malloc(strlen(joined) + 2);
	if (!out) {
		free(joined);
		return NULL;
	}
	size_t len = 0;
	for (char *seg = strtok(joined, "/"); seg; seg = strtok(NULL, "/")) {
		if (!strcmp(seg, "."))
			continue;
		if (!strcmp(seg, "..")) {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
			continue;
		}
		out[len++] = '/';
		size_t sl = strlen(seg);
		memcpy(out + len, seg, sl);
		len += sl;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = 0;
	free(joined);
	return out;
}

ragdb_status ragdb_delete_source(ragdb *db, const char *path, uint64_t *n_deleted)
{
	if (!path || !*path)
		return rdb_failf(db, RAGDB_EINVAL, "no source path given");
	char *abs = absolute_path(path);
	if (!abs)
		return rdb_failf(db, RAGDB_ENOMEM, "out of memory");
	struct source_del sd = {.path = abs};
	ragdb_status st = rdb_write(db, delete_sources, &sd);
	free(sd.nums);
	free(abs);
	if (st == RAGDB_OK && n_deleted)
		*n_deleted = sd.deleted;
	return st;
}

/* --- stats, check, compact ---------------------------------------------- */

ragdb_status ragdb_get_stats(ragdb *db, ragdb_stats *out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = {0};
	rdb_txn *t = NULL;
	rdb_store_stats ss;
	/* The identity below is the handle's: refused once another process
	 * re-embedded the vectors (server's /ready then says so). */
	if ((st = rdb_txn_begin(db->store, 0, &t, &e)) == RAGDB_OK &&
	    (st = rdb_txn_embedder_current(t, &e)) == RAGDB_OK)
		st = rdb_store_stats_get(t, &ss, &e);
	rdb_txn_abort(t);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	const rdb_meta *m = rdb_store_meta(db->store);
	ragdb_stats s = {0};
	s.schema_version = ss.schema;
	snprintf(s.embedder, sizeof s.embedder, "%s", m->embedder);
	snprintf(s.embedder_model, sizeof s.embedder_model, "%s", m->model);
	s.dim = m->dim;
	s.chunk_tokens = m->chunk_tokens;
	s.chunk_overlap = m->chunk_overlap;
	s.documents = ss.documents;
	s.chunks = ss.chunks;
	s.vectors_live = ss.vectors_live;
	s.vectors_dead = ss.vectors_dead;
	s.blocks = ss.blocks;
	s.text_bytes = ss.text_bytes;
	s.file_bytes = ss.file_bytes;
	s.map_bytes = ss.map_bytes;
	snprintf(s.kernel, sizeof s.kernel, "%s", rdb_kernel_name());
	const char *q = rdb_qkind_name(ss.quant), *sq = rdb_qkind_name(ss.staged_quant);
	snprintf(s.quantize, sizeof s.quantize, "%s", q ? q : "?");
	if (ss.staged_quant && ss.quant == 0) {
		snprintf(s.unfinished_quantize, sizeof s.unfinished_quantize, "%s", sq ? sq : "?");
		s.unfinished_bytes = ss.quant_bytes;
	} else if (ss.quant) {
		s.quantize_bytes = ss.quant_bytes;
	}
	s.unfinished_reembed_bytes = ss.vstaged_bytes;
	*out = s;
	return RAGDB_OK;
}

ragdb_status ragdb_check(ragdb *db, void (*cb)(void *ctx, const char *problem), void *ctx,
                         uint64_t *n_problems)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = {0};
	rdb_txn *t = NULL;
	uint64_t n = 0;
	if ((st = rdb_txn_begin(db->store, 0, &t, &e)) == RAGDB_OK)
		st = rdb_store_check(t, cb, ctx, &n, &e);
	rdb_txn_abort(t);
	if (st != RAGDB_OK)
		return rdb_fail(db, &e);
	rdb_cache_check(db, 0, cb, ctx, &n); /* the persistent cache (ecache_api.c) */
	if (n_problems)
		*n_problems = n;
	return RAGDB_OK;
}
