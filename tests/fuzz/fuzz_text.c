/*
 * tests/fuzz/fuzz_text.c — the text reader path: bytes repaired to UTF-8
 * as the pipeline does, then chunked as plain text and as code at the
 * default size and a small one.
 * Property: no crash or leak; the chunker's invariants (fuzz_util.h).
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *fixed = NULL;
	size_t fl = 0;
	size_t bad = rdb_utf8_repair((const char *)data, size, &fixed, &fl);
	if (bad == (size_t)-1)
		return 0;
	const char *t = bad ? fixed : (const char *)data;
	size_t n = bad ? fl : size;
	fz_chunk_check(t, n, RAGDB_FORMAT_TEXT, 256, 32, 1);
	fz_chunk_check(t, n, RAGDB_FORMAT_TEXT, 16, 4, 1);
	fz_chunk_check(t, n, RAGDB_FORMAT_CODE, 24, 0, 1);
	free(fixed);
	return 0;
}
