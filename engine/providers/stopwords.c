/*
 * engine/providers/stopwords.c — the built-in English stopword set.
 *
 * Looked up once per word by the local embedder and the full-text
 * tokenizer, so it is an open-addressing set of the words themselves (each
 * packed into 16 bytes) rather than a list to search: one multiply and one
 * or two exact compares per word.
 */
#include "engine/providers/stopwords.h"

#include <stdint.h>
#include <string.h>

static const char *const stopword_list[] = {
	"a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and",
	"any", "are", "as", "at", "be", "because", "been", "before", "being", "below",
	"between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down",
	"during", "each", "either", "etc", "few", "for", "from", "further", "had", "has",
	"have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his",
	"how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "may", "me",
	"might", "more", "most", "must", "my", "myself", "no", "nor", "not", "now", "of",
	"off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out",
	"over", "own", "same", "shall", "she", "should", "so", "some", "such", "than",
	"that", "the", "their", "theirs", "them", "themselves", "then", "there", "these",
	"they", "this", "those", "through", "to", "too", "under", "until", "up", "upon",
	"very", "was", "we", "were", "what", "when", "where", "which", "while", "who",
	"whom", "whose", "why", "will", "with", "within", "would", "you", "your", "yours",
	"yourself", "yourselves",
};

#define STOP_SLOTS 512 /* power of two, > 2x the list */
#define STOP_MAXLEN 10 /* longest entry ("yourselves") */

/* A word of up to STOP_MAXLEN bytes is its own key: its bytes in lo and
 * hi (zero past the word), with its length in hi's top byte, so a lookup compares
 * the word exactly and costs a multiply, not a hash function call. */
typedef struct stop_key {
	uint64_t lo, hi; /* hi == 0: empty slot (every key's length is >= 1) */
} stop_key;

static stop_key stop_table[STOP_SLOTS]; /* written once, before main */

/* The lengths of the stopwords beginning with each pair of letters (low 5
 * bits of the first two bytes; 0 for the second of a one-letter word), 2 KB:
 * most words are not stopwords, and most are turned away by this one load
 * before their key is built. */
static uint16_t stop_pair[32 * 32];

static inline size_t pair_of(const char *w, size_t len)
{
	return (size_t)(w[0] & 31) * 32 + (len > 1 ? (size_t)(w[1] & 31) : 0);
}

static inline stop_key stop_make(const char *w, size_t len)
{
	/* byte by byte: a variable-length memcpy here was a libc call per word */
	stop_key k = { 0, (uint64_t)len << 56 };
	for (size_t i = 0; i < len && i < 8; i++)
		k.lo |= (uint64_t)(unsigned char)w[i] << (8 * i);
	for (size_t i = 8; i < len; i++)
		k.hi |= (uint64_t)(unsigned char)w[i] << (8 * (i - 8));
	return k;
}

static inline size_t stop_slot(stop_key k)
{
	uint64_t h = (k.lo ^ (k.hi * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
	return (size_t)(h >> 55); /* top 9 bits: 512 slots */
}

/* Built when the library loads, so lookups need no once-guard. */
__attribute__((constructor)) static void stop_build(void)
{
	for (size_t i = 0; i < sizeof stopword_list / sizeof stopword_list[0]; i++) {
		size_t len = strlen(stopword_list[i]);
		stop_pair[pair_of(stopword_list[i], len)] |= (uint16_t)(1u << len);
		stop_key k = stop_make(stopword_list[i], len);
		size_t j = stop_slot(k);
		while (stop_table[j].hi)
			j = (j + 1) & (STOP_SLOTS - 1);
		stop_table[j] = k;
	}
}

bool rdb_stopword(const char *w, size_t len)
{
	if (len == 0 || len > STOP_MAXLEN || !(stop_pair[pair_of(w, len)] >> len & 1))
		return false;
	stop_key k = stop_make(w, len);
	for (size_t j = stop_slot(k); stop_table[j].hi; j = (j + 1) & (STOP_SLOTS - 1))
		if (stop_table[j].lo == k.lo && stop_table[j].hi == k.hi)
			return true;
	return false;
}
