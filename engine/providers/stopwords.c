/*
 * engine/providers/stopwords.c — the built-in English stopword set.
 *
 * Looked up once per word by the local embedder, so it is a hash set of
 * XXH3 values built once (pthread_once) rather than a list to search: one
 * short hash and one or two probes per word.
 */
#include "engine/providers/stopwords.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <xxhash.h>

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
#define STOP_SEED 0x5709u
#define STOP_MAXLEN 10 /* longest entry ("yourselves") */

static uint64_t stop_table[STOP_SLOTS]; /* 0 = empty; written once */
static pthread_once_t stop_once = PTHREAD_ONCE_INIT;

static uint64_t stop_hash(const char *w, size_t len)
{
	uint64_t h = XXH3_64bits_withSeed(w, len, STOP_SEED);
	return h ? h : 1;
}

static void stop_build(void)
{
	for (size_t i = 0; i < sizeof stopword_list / sizeof stopword_list[0]; i++) {
		uint64_t h = stop_hash(stopword_list[i], strlen(stopword_list[i]));
		size_t j = h & (STOP_SLOTS - 1);
		while (stop_table[j])
			j = (j + 1) & (STOP_SLOTS - 1);
		stop_table[j] = h;
	}
}

/* A 64-bit hash match is taken as equality: a false positive needs a
 * collision among ~2^64 values, and would only lower one word's weight. */
bool rdb_stopword(const char *w, size_t len)
{
	if (len == 0 || len > STOP_MAXLEN)
		return false;
	pthread_once(&stop_once, stop_build);
	uint64_t h = stop_hash(w, len);
	for (size_t j = h & (STOP_SLOTS - 1); stop_table[j]; j = (j + 1) & (STOP_SLOTS - 1))
		if (stop_table[j] == h)
			return true;
	return false;
}
