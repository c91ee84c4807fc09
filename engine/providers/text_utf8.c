/*
 * engine/providers/text_utf8.c — UTF-8 validation and repair, and the
 * "is this a binary file" sniff used before a file is treated as text.
 *
 * Repair follows the Unicode "maximal subpart" practice (the one browsers
 * use): an ill-formed sequence is replaced by one U+FFFD per maximal prefix
 * of a well-formed sequence, so "\xE2\x82" (a truncated euro sign) becomes a
 * single U+FFFD and "\xC0\x80" (an overlong NUL) becomes two. Overlong forms,
 * surrogates (U+D800..DFFF), code points above U+10FFFF and NUL bytes are all
 * rejected. The valid case costs one read-only pass and no allocation.
 */
#include "engine/providers/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char k_fffd[3] = { (char)0xEF, (char)0xBF, (char)0xBD };

/* Length of the well-formed sequence at s[i], or 0 when it is ill-formed, in
 * which case *bad is the number of bytes its maximal subpart covers (>= 1). */
static size_t utf8_step(const unsigned char *s, size_t len, size_t i, size_t *bad)
{
	unsigned c = s[i];
	size_t need;
	unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */

	if (c >= 0x01 && c < 0x80)
		return 1;
	if (c < 0xC2 || c > 0xF4) { /* NUL, stray continuation, C0/C1 overlong, > U+10FFFF */
		*bad = 1;
		return 0;
	}
	if (c < 0xE0) {
		need = 1;
	} else if (c < 0xF0) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;      /* overlong below U+0800 */
		else if (c == 0xED)
			hi = 0x9F;      /* surrogates */
	} else {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;      /* overlong below U+10000 */
		else if (c == 0xF4)
			hi = 0x8F;      /* above U+10FFFF */
	}
	size_t k = 1;
	for (; k <= need; k++) {
		if (i + k >= len)
			break;
		unsigned b = s[i + k];
		if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
			break;
	}
	if (k > need)
		return need + 1;
	*bad = k;
	return 0;
}

/* Whether the 8 bytes at p are all ASCII and none is NUL. */
static int ascii8(const unsigned char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	return ((w | ((w - ones) & ~w)) & highs) == 0;
}

size_t rdb_utf8_repair(const char *in, size_t len, char **out, size_t *out_len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t count = 0, bad_bytes = 0, i = 0, first_bad = 0;

	while (i < len) {
		if (i + 8 <= len && ascii8(s + i)) {
			i += 8;
			continue;
		}
		size_t bad = 0, n = utf8_step(s, len, i, &bad);
		if (n) {
			i += n;
		} else {
			if (count == 0)
				first_bad = i;
			count++;
			bad_bytes += bad;
			i += bad;
		}
	}
	if (count == 0) {
		*out = NULL;
		*out_len = len;
		return 0;
	}
	/* Every replacement is at least one byte, so this cannot overflow unless
	 * len itself is near SIZE_MAX / 3. */
	if (count > (SIZE_MAX - len - 1) / 3)
		return (size_t)-1;
	size_t olen = len - bad_bytes + 3 * count;
	char *o = malloc(olen + 1);
	if (!o)
		return (size_t)-1;
	memcpy(o, in, first_bad);
	size_t w = first_bad;
	i = first_bad;
	while (i < len) {
		size_t bad = 0, n = utf8_step(s, len, i, &bad);
		if (n) {
			memcpy(o + w, s + i, n);
			w += n;
			i += n;
		} else {
			memcpy(o + w, k_fffd, 3);
			w += 3;
			i += bad;
		}
	}
	o[w] = 0;
	*out = o;
	*out_len = w;
	return count;
}

int rdb_looks_binary(const char *data, size_t len)
{
	size_t n = len < 8192 ? len : 8192, ctrl = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c == 0)
			return 1;
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || c == 0x7F)
			ctrl++;
	}
	return n > 0 && ctrl * 10 > n * 3;
}
