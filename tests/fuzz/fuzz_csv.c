/*
 * tests/fuzz/fuzz_csv.c — the CSV reader (records per row) on arbitrary
 * bytes, stopping at the first bad row and skipping bad rows.
 * Property: no crash or leak; the result is OK or a clean EBADINPUT with a
 * "line N" message; every record has a non-empty id, text_len ==
 * strlen(text), a line number >= 2, and metadata that parses as a JSON
 * object.
 */
#include <cjson/cJSON.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_rec(void *ctx, const rdb_record *r)
{
	(void)ctx;
	FZ_ASSERT(r->id && *r->id);
	FZ_ASSERT(r->text && strlen(r->text) == r->text_len);
	FZ_ASSERT(r->line >= 2);
	if (r->meta_json) {
		cJSON *m = cJSON_Parse(r->meta_json);
		FZ_ASSERT(cJSON_IsObject(m));
		cJSON_Delete(m);
	}
	return 0;
}

static void on_bad(void *ctx, size_t line, const char *msg)
{
	(void)ctx;
	FZ_ASSERT(line >= 1 && msg && *msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int skip = 0; skip < 2; skip++) {
		rdb_err e = { 0 };
		rdb_csv_fields f = { NULL, NULL, NULL, skip ? "f.csv" : NULL };
		ragdb_status st = rdb_csv_each((const char *)data, size, &f, skip, on_rec, on_bad, NULL, &e);
		FZ_ASSERT(st == RAGDB_OK || st == RAGDB_EBADINPUT);
		if (st == RAGDB_EBADINPUT)
			FZ_ASSERT(strncmp(e.msg, "line ", 5) == 0);
	}
	return 0;
}
