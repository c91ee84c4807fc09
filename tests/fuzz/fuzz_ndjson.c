/*
 * tests/fuzz/fuzz_ndjson.c — the line splitter under the NDJSON streams
 * (rdb_lines, engine/providers/stream.c) on arbitrary bytes cut at
 * arbitrary points (fuzz_split.h), with the default cap and a small one.
 * Property (differential): the lines (split at \n, \r\n or \r, the last
 * one delivered at the end) and where the splitter stops (a line over its
 * cap) are the same whether the stream arrives in one piece, in the fuzzed
 * pieces or one byte at a time; each line is NUL-ended at its length and
 * holds no line break; no crash, leak or over-read.
 */
#include <xxhash.h>

#include "engine/providers/http.h"
#include "fuzz_split.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct linelog {
	uint64_t h;
	size_t n;
} linelog;

static int on_line(void *ctx, const char *line, size_t len)
{
	linelog *l = ctx;
	FZ_ASSERT(line && line[len] == 0);
	FZ_ASSERT(!memchr(line, '\n', len) && !memchr(line, '\r', len));
	l->h = XXH3_64bits_withSeed(line, len, l->h ^ len);
	l->n++;
	return 0;
}

static int run(const uint8_t *body, size_t len, const size_t *cuts, size_t n_cuts, size_t cap,
               linelog *out)
{
	rdb_lines l;
	memset(out, 0, sizeof *out);
	rdb_lines_init(&l, cap, on_line, out);
	int rc = 0;
	size_t at = 0;
	for (size_t i = 0; i <= n_cuts && !rc; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;
		rc = rdb_lines_feed(&l, (const char *)body + at, end - at);
		at = end;
	}
	if (!rc)
		rc = rdb_lines_finish(&l) ? 2 : 0;
	FZ_ASSERT(rc == 0 || rc == -1);
	rdb_lines_free(&l);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *body;
	size_t len, cuts[FZ_MAX_CUTS];
	size_t n = fz_split(data, size, &body, &len, cuts);
	static const size_t caps[] = { 0, 40 };
	for (size_t c = 0; c < 2; c++) {
		linelog whole, split;
		int rw = run(body, len, NULL, 0, caps[c], &whole);
		int rs = run(body, len, cuts, n, caps[c], &split);
		FZ_ASSERT(rw == rs && whole.n == split.n && whole.h == split.h);
		if (len <= 2048) {
			size_t *every = malloc((len ? len : 1) * sizeof *every);
			if (!every)
				return 0;
			for (size_t i = 0; i < len; i++)
				every[i] = i;
			linelog bytes;
			int rb = run(body, len, every, len, caps[c], &bytes);
			free(every);
			FZ_ASSERT(rw == rb && whole.n == bytes.n && whole.h == bytes.h);
		}
	}
	return 0;
}
