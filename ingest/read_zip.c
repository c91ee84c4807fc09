/*
 * ingest/read_zip.c — reading entries of a zip archive held in memory
 * (DOCX, ODT, EPUB), with libarchive.
 *
 * A zip bomb is bounded by the budget: every byte inflated, by any call on
 * the same rdb_zip, is counted against RDB_READER_MAX_UNZIP, whatever the
 * sizes the headers claim; and at most RDB_READER_MAX_ENTRIES entries are
 * looked at per pass. Only the zip format is enabled.
 */
#include "ingest/readers.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

void rdb_zip_init(rdb_zip *z, const char *data, size_t len)
{
	z->data = data;
	z->len = len;
	z->budget = RDB_READER_MAX_UNZIP;
}

/* Read the current entry's data, within the budget. */
static ragdb_status read_entry(rdb_zip *z, struct archive *a, const char *name, char **out,
                               size_t *out_len, rdb_err *err)
{
	rdb_tbuf b;
	rdb_tbuf_init(&b, z->budget);
	char chunk[65536];
	for (;;) {
		la_ssize_t r = archive_read_data(a, chunk, sizeof chunk);
		if (r < 0) {
			rdb_tbuf_free(&b);
			return rdb_err_set(err, RAGDB_EBADINPUT, "corrupt archive entry %.200s: %s", name,
			                   archive_error_string(a) ? archive_error_string(a) : "read error");
		}
		if (r == 0)
			break;
		rdb_tbuf_add(&b, chunk, (size_t)r);
		if (b.over) {
			ragdb_status st = b.over < 0
				? rdb_err_set(err, RAGDB_ENOMEM, "out of memory unpacking %.200s", name)
				: rdb_err_set(err, RAGDB_EBADINPUT,
				              "the archive inflates to more than %zu MiB (at entry %.200s); "
				              "refused as a likely zip bomb",
				              RDB_READER_MAX_UNZIP >> 20, name);
			rdb_tbuf_free(&b);
			return st;
		}
	}
	if (!b.p) {
		b.p = calloc(1, 1);
		if (!b.p)
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory unpacking %.200s", name);
	}
	z->budget -= b.n;
	*out = b.p;
	*out_len = b.n;
	return RAGDB_OK;
}

ragdb_status rdb_zip_read(rdb_zip *z, int (*want)(void *ctx, const char *name),
                          int (*got)(void *ctx, rdb_zip_entry *e), void *ctx, rdb_err *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory opening an archive");
	ragdb_status st = RAGDB_OK;
	archive_read_support_format_zip(a);
	if (archive_read_open_memory(a, z->data, z->len) != ARCHIVE_OK) {
		st = rdb_err_set(err, RAGDB_EBADINPUT, "not a zip archive: %s",
		                 archive_error_string(a) ? archive_error_string(a) : "unreadable");
		goto out;
	}
	for (size_t i = 0;; i++) {
		struct archive_entry *ent;
		int r = archive_read_next_header(a, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			st = rdb_err_set(err, RAGDB_EBADINPUT, "corrupt zip archive: %s",
			                 archive_error_string(a) ? archive_error_string(a) : "bad header");
			goto out;
		}
		if (i >= RDB_READER_MAX_ENTRIES) {
			st = rdb_err_set(err, RAGDB_EBADINPUT, "the archive has more than %d entries; refused",
			                 RDB_READER_MAX_ENTRIES);
			goto out;
		}
		const char *name = archive_entry_pathname(ent);
		if (!name || archive_entry_filetype(ent) != AE_IFREG || !want(ctx, name))
			continue;
		rdb_zip_entry e = { strdup(name), NULL, 0 };
		if (!e.name) {
			st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory reading an archive");
			goto out;
		}
		st = read_entry(z, a, name, &e.data, &e.len, err);
		if (st != RAGDB_OK) {
			free(e.name);
			goto out;
		}
		int stop = got(ctx, &e);
		if (stop)
			break;
	}
out:
	archive_read_free(a);
	return st;
}

struct get_ctx {
	const char *name;
	char *data;
	size_t len;
};

static int get_want(void *ctx, const char *name)
{
	return strcmp(((struct get_ctx *)ctx)->name, name) == 0;
}

static int get_got(void *ctx, rdb_zip_entry *e)
{
	struct get_ctx *g = ctx;
	g->data = e->data;
	g->len = e->len;
	free(e->name);
	return 1;
}

ragdb_status rdb_zip_get(rdb_zip *z, const char *name, char **data, size_t *len, rdb_err *err)
{
	struct get_ctx g = { name, NULL, 0 };
	ragdb_status st = rdb_zip_read(z, get_want, get_got, &g, err);
	if (st != RAGDB_OK)
		return st;
	if (!g.data)
		return rdb_err_set(err, RAGDB_ENOTFOUND, "no %s in the archive", name);
	*data = g.data;
	*len = g.len;
	return RAGDB_OK;
}
