/*
 * tests/fuzz/fuzz_filter.c — search filter expressions (engine/filter.c):
 * the input's lines are expressions (up to 70, over the limit of 64 on
 * purpose), except lines starting with '{', which are documents' metadata;
 * each parsed filter is matched against a few fixed documents and those.
 * Property: a parse is OK or RAGDB_EINVAL with a message naming the
 * problem; matching never crashes, leaks or reads out of bounds, and gives
 * the same answer twice (it keeps no state).
 */
#include "engine/retrieve.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EXPR 70
#define MAX_META 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	const char *exprs[MAX_EXPR];
	const char *metas[MAX_META];
	size_t ne = 0, nm = 0;
	char *p = buf;
	while (p && p <= buf + size) {
		char *nl = memchr(p, '\n', (size_t)(buf + size - p));
		if (nl)
			*nl = 0;
		if (*p == '{') {
			if (nm < MAX_META)
				metas[nm++] = p;
		} else if (ne < MAX_EXPR) {
			exprs[ne++] = p;
		}
		p = nl ? nl + 1 : NULL;
	}
	static const char *fixed_meta[] = {
		"", "{\"lang\":\"en\",\"year\":2021,\"tags\":[\"a\",\"b\",3],\"draft\":false}",
		"{\"lang\":null,\"year\":\"1999\",\"n\":1e308,\"x\":{\"y\":1}}", "not json",
	};
	rdb_doc docs[4 + MAX_META];
	size_t nd = 0;
	for (size_t i = 0; i < 4; i++) {
		memset(&docs[nd], 0, sizeof docs[nd]);
		docs[nd].id = i & 1 ? "guide/intro.md" : "notes-2021";
		docs[nd].source = i & 2 ? "/srv/docs/guide/intro.md" : "relative/x.txt";
		docs[nd].title = "";
		docs[nd].meta_json = fixed_meta[i];
		nd++;
	}
	for (size_t i = 0; i < nm; i++) {
		memset(&docs[nd], 0, sizeof docs[nd]);
		docs[nd].id = metas[i];
		docs[nd].source = metas[i];
		docs[nd].title = "";
		docs[nd].meta_json = metas[i];
		nd++;
	}
	/* all expressions together, then each alone */
	for (size_t k = 0; k <= ne; k++) {
		const char *const *x = k == 0 ? exprs : exprs + k - 1;
		size_t n = k == 0 ? ne : 1;
		rdb_filter *f = NULL;
		rdb_err e = { 0 };
		ragdb_status st = rdb_filter_parse(x, n, &f, &e);
		if (st != RAGDB_OK) {
			FZ_ASSERT(st == RAGDB_EINVAL || st == RAGDB_ENOMEM);
			FZ_ASSERT(e.msg[0] != 0);
			continue;
		}
		for (size_t d = 0; d < nd; d++) {
			int a = rdb_filter_match(f, &docs[d]);
			FZ_ASSERT(a == 0 || a == 1);
			FZ_ASSERT(a == rdb_filter_match(f, &docs[d]));
		}
		rdb_filter_free(f);
		if (ne == 1)
			break;
	}
	free(buf);
	return 0;
}
