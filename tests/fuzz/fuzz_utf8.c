/*
 * tests/fuzz/fuzz_utf8.c — UTF-8 repair on arbitrary bytes.
 * Property: no crash or leak; the repaired text (or the input, when
 * nothing was replaced) is valid UTF-8 without NUL bytes (repairing it
 * again replaces nothing), each replacement is U+FFFD (3 bytes) for at
 * least one input byte, so the output is at most 3x the input; valid
 * input is left alone.
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
	if (bad == 0) {
		FZ_ASSERT(fixed == NULL);
		FZ_ASSERT(memchr(data, 0, size) == NULL);
		return 0;
	}
	FZ_ASSERT(fixed && fl <= 3 * size && strlen(fixed) == fl);
	FZ_ASSERT(bad <= size);
	char *again = NULL;
	size_t al = 0;
	FZ_ASSERT(rdb_utf8_repair(fixed, fl, &again, &al) == 0);
	free(fixed);
	return 0;
}
