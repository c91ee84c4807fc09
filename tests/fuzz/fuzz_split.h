/*
 * tests/fuzz/fuzz_split.h — split points for the stream targets: the first
 * byte of an input says how many cuts (0..15), the next that many bytes
 * where (each a fraction of the rest), and the rest is the stream.
 */
#ifndef RDB_FUZZ_SPLIT_H
#define RDB_FUZZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define FZ_MAX_CUTS 15

/* Fill @p cuts (ascending offsets into the stream, which starts at
 * *body); returns their number. */
static inline size_t fz_split(const uint8_t *data, size_t size, const uint8_t **body,
                              size_t *body_len, size_t cuts[FZ_MAX_CUTS])
{
	size_t n = size ? data[0] % (FZ_MAX_CUTS + 1) : 0;
	size_t hdr = size ? 1 : 0;
	if (hdr + n > size)
		n = size - hdr;
	const uint8_t *b = data + hdr + n;
	size_t bl = size - hdr - n;
	for (size_t i = 0; i < n; i++)
		cuts[i] = bl * data[hdr + i] / 256;
	/* insertion sort: n <= 15 */
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && cuts[k - 1] > cuts[k]; k--) {
			size_t t = cuts[k];
			cuts[k] = cuts[k - 1];
			cuts[k - 1] = t;
		}
	*body = b;
	*body_len = bl;
	return n;
}

#endif
