/* ingest/strset.c — string set with linear probing, load factor <= 1/2. */
#include "ingest/strset.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void rdb_strset_free(rdb_strset *s)
{
	for (size_t i = 0; i < s->cap; i++) {
		free(s->slots[i]);
		free((char *)s->vals[i]);
	}
	free(s->slots);
	free(s->vals);
	memset(s, 0, sizeof *s);
}

static size_t find(char *const *slots, size_t cap, const char *key)
{
	size_t i = (size_t)XXH3_64bits(key, strlen(key)) & (cap - 1);
	while (slots[i] && strcmp(slots[i], key) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static int grow(rdb_strset *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	char **slots = calloc(cap, sizeof *slots);
	const char **vals = calloc(cap, sizeof *vals);
	if (!slots || !vals) {
		free(slots);
		free(vals);
		return -1;
	}
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->slots[i])
			continue;
		size_t j = find(slots, cap, s->slots[i]);
		slots[j] = s->slots[i];
		vals[j] = s->vals[i];
	}
	free(s->slots);
	free(s->vals);
	s->slots = slots;
	s->vals = vals;
	s->cap = cap;
	return 0;
}

int rdb_strset_add(rdb_strset *s, const char *key, const char *val, const char **old_val)
{
	if ((s->n + 1) * 2 > s->cap && grow(s) != 0)
		return -1;
	size_t i = find(s->slots, s->cap, key);
	if (s->slots[i]) {
		if (old_val)
			*old_val = s->vals[i];
		return 0;
	}
	char *k = strdup(key);
	char *v = val ? strdup(val) : NULL;
	if (!k || (val && !v)) {
		free(k);
		free(v);
		return -1;
	}
	s->slots[i] = k;
	s->vals[i] = v;
	s->n++;
	return 1;
}

int rdb_strset_has(const rdb_strset *s, const char *key)
{
	return s->cap && s->slots[find(s->slots, s->cap, key)] != NULL;
}
