/*
 * tests/fuzz/fuzz_sse.c — the server-sent events parser
 * (engine/providers/stream.c) on arbitrary bytes cut at arbitrary points
 * (fuzz_split.h), with the default caps and with small ones.
 * Property (differential): the events (name, data) and where the parser
 * stops (a line or event over its cap) are the same whether the stream
 * arrives in one piece, in the fuzzed pieces or one byte at a time; every
 * event's data is NUL-ended at its length; no crash, leak or over-read.
 */
#include <xxhash.h>

#include "engine/providers/http.h"
#include "fuzz_split.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct evlog {
	uint64_t h;
	size_t n;
} evlog;

static int on_event(void *ctx, const char *event, const char *d, size_t len)
{
	evlog *l = ctx;
	FZ_ASSERT(event && d && d[len] == 0);
	FZ_ASSERT(strlen(event) < 64);
	l->h = XXH3_64bits_withSeed(event, strlen(event) + 1, l->h);
	l->h = XXH3_64bits_withSeed(d, len, l->h ^ len);
	l->n++;
	return 0;
}

/* Feed @p body in pieces ending at @p cuts (then the rest); returns the
 * first non-zero feed result, 0 when all went in. */
static int run(const uint8_t *body, size_t len, const size_t *cuts, size_t n_cuts, size_t cap,
               evlog *out)
{
	rdb_sse s;
	memset(out, 0, sizeof *out);
	rdb_sse_init(&s, on_event, out);
	if (cap) {
		s.max = cap;
		s.lines.max = cap;
	}
	int rc = 0;
	size_t at = 0;
	for (size_t i = 0; i <= n_cuts && !rc; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;
		rc = rdb_sse_feed(&s, (const char *)body + at, end - at);
		at = end;
	}
	FZ_ASSERT(rc == 0 || rc == -1);
	rdb_sse_free(&s);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *body;
	size_t len, cuts[FZ_MAX_CUTS];
	size_t n = fz_split(data, size, &body, &len, cuts);
	static const size_t caps[] = { 0, 48 };
	for (size_t c = 0; c < 2; c++) {
		evlog whole, split;
		int rw = run(body, len, NULL, 0, caps[c], &whole);
		int rs = run(body, len, cuts, n, caps[c], &split);
		FZ_ASSERT(rw == rs && whole.n == split.n && whole.h == split.h);
		if (len <= 2048) {
			size_t *every = malloc((len ? len : 1) * sizeof *every);
			if (!every)
				return 0;
			for (size_t i = 0; i < len; i++)
				every[i] = i;
			evlog bytes;
			int rb = run(body, len, every, len, caps[c], &bytes);
			free(every);
			FZ_ASSERT(rw == rb && whole.n == bytes.n && whole.h == bytes.h);
		}
	}
	return 0;
}
