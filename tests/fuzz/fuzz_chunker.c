/*
 * tests/fuzz/fuzz_chunker.c — the chunker with options taken from the
 * input: byte 0 picks the format (text, Markdown, code, PDF-Markdown),
 * bytes 1-2 the chunk size (1..1024 tokens), byte 3 the overlap; the rest
 * is the text, chunked both as given (maybe invalid UTF-8) and repaired.
 * Property: no crash or leak; spans in bounds, trimmed, strictly advancing,
 * covering every non-space byte; on valid UTF-8 never inside a character.
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	static const ragdb_format fmts[] = { RAGDB_FORMAT_TEXT, RAGDB_FORMAT_MARKDOWN,
		                                 RAGDB_FORMAT_CODE, RAGDB_FORMAT_PDF };
	ragdb_format fmt = fmts[data[0] % 4];
	uint32_t tokens = 1 + ((uint32_t)data[1] << 8 | data[2]) % 1024;
	uint32_t overlap = data[3];
	const char *text = (const char *)data + 4;
	size_t len = size - 4;
	fz_chunk_check(text, len, fmt, tokens, overlap, 0);
	char *fixed = NULL;
	size_t fl = 0;
	size_t bad = rdb_utf8_repair(text, len, &fixed, &fl);
	if (bad > 0 && bad != (size_t)-1) {
		fz_chunk_check(fixed, fl, fmt, tokens, overlap, 1);
		free(fixed);
	} else if (bad == 0) {
		fz_chunk_check(text, len, fmt, tokens, overlap, 1);
	}
	return 0;
}
