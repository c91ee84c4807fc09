/*
 * tests/fuzz/fuzz_markdown.c — the Markdown reader path: the title finder
 * and the Markdown chunker (headings, fences, tables, front matter) on
 * repaired text.
 * Property: no crash or leak; the title, if any, is a non-empty trimmed
 * string found in the text's bytes; the chunker's invariants hold and
 * heading paths are strings.
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
	char *title = rdb_markdown_title(t, n);
	if (title) {
		size_t tl = strlen(title);
		FZ_ASSERT(tl > 0 && !fz_space((unsigned char)title[0]) &&
		          !fz_space((unsigned char)title[tl - 1]));
		free(title);
	}
	fz_chunk_check(t, n, RAGDB_FORMAT_MARKDOWN, 256, 32, 1);
	fz_chunk_check(t, n, RAGDB_FORMAT_MARKDOWN, 20, 5, 1);
	free(fixed);
	return 0;
}
