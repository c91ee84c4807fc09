/*
 * tests/fuzz/fuzz_jsonl.c — the JSONL / JSON-array reader on arbitrary
 * bytes, stopping at the first bad line and skipping bad lines.
 * Property: no crash or leak; OK or a clean EBADINPUT ("line N: ...");
 * every record has a non-empty id, text of text_len bytes, a line >= 1 and
 * metadata that parses as a JSON object.
 */
#include <cjson/cJSON.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_rec(void *ctx, const rdb_record *r)
{
	(void)ctx;
	FZ_ASSERT(r->id && *r->id);
	FZ_ASSERT(r->text || r->text_len == 0);
	FZ_ASSERT(r->line >= 1);
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
		ragdb_status st = rdb_jsonl_each((const char *)data, size, NULL, skip, on_rec, on_bad, NULL, &e);
		FZ_ASSERT(st == RAGDB_OK || st == RAGDB_EBADINPUT || st == RAGDB_ENOMEM);
		if (st == RAGDB_EBADINPUT)
			FZ_ASSERT(strncmp(e.msg, "line ", 5) == 0);
	}
	return 0;
}
