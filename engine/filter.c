/*
 * engine/filter.c — search filters: parsed once per search, resolved once
 * per document into a bitmap of chunk ids, which the scans consult (see
 * retrieve.h for the expression language).
 */
#include "engine/retrieve.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RDB_FILTER_MAX 64      /* expressions per search */
#define RDB_FILTER_MAX_LEN 1024 /* bytes per expression */

enum fkind { F_SOURCE, F_ID, F_CMP };
enum fop { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

typedef struct fexpr {
	enum fkind kind;
	enum fop op;
	char *key;    /* F_CMP */
	char *value;  /* glob or value */
	char *rel;    /* F_SOURCE with a relative glob: "*" "/" glob */
	int is_num;
	double num;
} fexpr;

struct rdb_filter {
	fexpr *e;
	size_t n;
	int need_meta;
};

void rdb_filter_free(rdb_filter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->e[i].key);
		free(f->e[i].value);
		free(f->e[i].rel);
	}
	free(f->e);
	free(f);
}

static int parse_num(const char *s, double *out)
{
	if (!*s || isspace((unsigned char)*s))
		return 0;
	char *end;
	double v = strtod(s, &end);
	if (*end || !isfinite(v))
		return 0;
	*out = v;
	return 1;
}

static char *dup_trim(const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	/* A quoted value keeps what is inside the quotes. */
	if (len >= 2 && (s[0] == '"' || s[0] == '\'') && s[len - 1] == s[0]) {
		s++;
		len -= 2;
	}
	char *d = malloc(len + 1);
	if (d) {
		memcpy(d, s, len);
		d[len] = 0;
	}
	return d;
}

static ragdb_status parse_one(const char *x, fexpr *e, rdb_err *err)
{
	size_t len = strlen(x);
	if (len == 0 || len > RDB_FILTER_MAX_LEN)
		return rdb_err_set(err, RAGDB_EINVAL, "filter \"%.80s\" is %s; give KEY OP VALUE or "
		                   "source:GLOB / id:GLOB", x, len ? "too long" : "empty");
	memset(e, 0, sizeof *e);
	/* The key: letters, digits, '_', '-', '.' */
	size_t i = 0;
	while (i < len && isspace((unsigned char)x[i]))
		i++;
	size_t k0 = i;
	while (i < len && (isalnum((unsigned char)x[i]) || x[i] == '_' || x[i] == '-' || x[i] == '.'))
		i++;
	size_t k1 = i;
	if (k1 == k0)
		return rdb_err_set(err, RAGDB_EINVAL, "filter \"%s\": expected a field name first "
		                   "(letters, digits, _ - .), e.g. lang=en, year>=2020 or "
		                   "source:docs/**", x);
	while (i < len && isspace((unsigned char)x[i]))
		i++;
	if (i < len && x[i] == ':') {
		size_t kl = k1 - k0;
		if (!(kl == 6 && strncmp(x + k0, "source", 6) == 0) &&
		    !(kl == 2 && strncmp(x + k0, "id", 2) == 0))
			return rdb_err_set(err, RAGDB_EINVAL, "filter \"%s\": \"%.*s:\" is not a filter; "
			                   "globs are source:GLOB or id:GLOB, comparisons KEY OP VALUE",
			                   x, (int)kl, x + k0);
		e->kind = kl == 6 ? F_SOURCE : F_ID;
		if (!(e->value = dup_trim(x + i + 1, len - i - 1)))
			return rdb_err_set(err, RAGDB_ENOMEM, "out of memory parsing a filter");
		if (!*e->value)
			return rdb_err_set(err, RAGDB_EINVAL, "filter \"%s\": the glob after ':' is empty",
			                   x);
		if (e->kind == F_SOURCE && e->value[0] != '/' && e->value[0] != '*') {
			size_t vl = strlen(e->value);
			if (!(e->rel = malloc(vl + 3)))
				return rdb_err_set(err, RAGDB_ENOMEM, "out of memory parsing a filter");
			memcpy(e->rel, "*/", 2);
			memcpy(e->rel + 2, e->value, vl + 1);
		}
		return RAGDB_OK;
	}
	static const struct { const char *s; enum fop op; } ops[] = {
		{ "!=", OP_NE }, { "<=", OP_LE }, { ">=", OP_GE }, { "==", OP_EQ },
		{ "=", OP_EQ }, { "<", OP_LT }, { ">", OP_GT },
	};
	size_t oplen = 0;
	for (size_t j = 0; j < sizeof ops / sizeof ops[0]; j++) {
		size_t l = strlen(ops[j].s);
		if (len - i >= l && strncmp(x + i, ops[j].s, l) == 0) {
			e->op = ops[j].op;
			oplen = l;
			break;
		}
	}
	if (!oplen)
		return rdb_err_set(err, RAGDB_EINVAL, "filter \"%s\": expected an operator (= != < <= "
		                   "> >=) or ':' after \"%.*s\"", x, (int)(k1 - k0), x + k0);
	i += oplen;
	if (i < len && strchr("=<>!", x[i]))
		return rdb_err_set(err, RAGDB_EINVAL, "filter \"%s\": unknown operator \"%.*s\"; use "
		                   "one of = != < <= > >=", x, (int)(oplen + 1), x + i - oplen);
	e->kind = F_CMP;
	e->key = dup_trim(x + k0, k1 - k0);
	e->value = dup_trim(x + i, len - i);
	if (!e->key || !e->value)
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory parsing a filter");
	if (!*e->value)
		return rdb_err_set(err, RAGDB_EINVAL, "filter \"%s\": the value after the operator is "
		                   "empty (quote an empty string: key=\"\")", x);
	e->is_num = parse_num(e->value, &e->num);
	return RAGDB_OK;
}

ragdb_status rdb_filter_parse(const char *const *exprs, size_t n, rdb_filter **out,
                              rdb_err *err)
{
	if (n > RDB_FILTER_MAX)
		return rdb_err_set(err, RAGDB_EINVAL, "%zu filters given; the limit is %d", n,
		                   RDB_FILTER_MAX);
	rdb_filter *f = calloc(1, sizeof *f);
	if (!f || !(f->e = calloc(n ? n : 1, sizeof *f->e))) {
		free(f);
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory parsing filters");
	}
	for (size_t i = 0; i < n; i++) {
		ragdb_status st = exprs[i] ? parse_one(exprs[i], &f->e[i], err)
		                           : rdb_err_set(err, RAGDB_EINVAL, "filter %zu is NULL", i + 1);
		f->n = i + 1;
		if (st) {
			rdb_filter_free(f);
			return st;
		}
		if (f->e[i].kind == F_CMP)
			f->need_meta = 1;
	}
	*out = f;
	return RAGDB_OK;
}

/* Compare one JSON scalar against the expression's value. */
static int cmp_scalar(const fexpr *e, const cJSON *v)
{
	double a;
	int num = 0;
	const char *s = NULL;
	char buf[64];
	if (cJSON_IsNumber(v)) {
		a = v->valuedouble;
		num = e->is_num;
		if (!num) {
			snprintf(buf, sizeof buf, "%.17g", a);
			s = buf;
		}
	} else if (cJSON_IsString(v)) {
		s = v->valuestring;
		num = e->is_num && parse_num(s, &a);
	} else if (cJSON_IsBool(v)) {
		s = cJSON_IsTrue(v) ? "true" : "false";
	} else {
		return e->op == OP_NE;
	}
	int c;
	if (num)
		c = (a > e->num) - (a < e->num);
	else
		c = strcmp(s, e->value);
	switch (e->op) {
	case OP_EQ: return c == 0;
	case OP_NE: return c != 0;
	case OP_LT: return c < 0;
	case OP_LE: return c <= 0;
	case OP_GT: return c > 0;
	case OP_GE: return c >= 0;
	}
	return 0;
}

static int match_cmp(const fexpr *e, const cJSON *meta)
{
	const cJSON *v = meta ? cJSON_GetObjectItemCaseSensitive(meta, e->key) : NULL;
	if (!v || cJSON_IsNull(v))
		return e->op == OP_NE;
	if (cJSON_IsArray(v)) {
		const cJSON *x;
		if (e->op == OP_NE) {
			fexpr eq = *e;
			eq.op = OP_EQ;
			cJSON_ArrayForEach(x, v)
				if (cmp_scalar(&eq, x))
					return 0;
			return 1;
		}
		cJSON_ArrayForEach(x, v)
			if (cmp_scalar(e, x))
				return 1;
		return 0;
	}
	return cmp_scalar(e, v);
}

static int match_parsed(const rdb_filter *f, const rdb_doc *d, const cJSON *meta)
{
	for (size_t i = 0; i < f->n; i++) {
		const fexpr *e = &f->e[i];
		int ok;
		switch (e->kind) {
		case F_SOURCE:
			ok = fnmatch(e->value, d->source, 0) == 0 ||
			     (e->rel && fnmatch(e->rel, d->source, 0) == 0);
			break;
		case F_ID:
			ok = fnmatch(e->value, d->id, 0) == 0;
			break;
		default:
			ok = match_cmp(e, meta);
		}
		if (!ok)
			return 0;
	}
	return 1;
}

int rdb_filter_match(const rdb_filter *f, const rdb_doc *d)
{
	cJSON *meta = f->need_meta && d->meta_json && *d->meta_json ? cJSON_Parse(d->meta_json)
	                                                            : NULL;
	int ok = match_parsed(f, d, meta);
	cJSON_Delete(meta);
	return ok;
}

typedef struct range {
	uint64_t first;
	uint32_t n;
} range;

struct collect {
	const rdb_filter *f;
	range *v;
	size_t n, cap;
	int oom;
};

static int on_doc(void *ctx, const rdb_doc *d)
{
	struct collect *c = ctx;
	if (!d->n_chunks || !rdb_filter_match(c->f, d))
		return 0;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 256;
		range *nv = realloc(c->v, nc * sizeof *nv);
		if (!nv) {
			c->oom = 1;
			return 1;
		}
		c->v = nv;
		c->cap = nc;
	}
	c->v[c->n++] = (range){ d->first_chunk, d->n_chunks };
	return 0;
}

ragdb_status rdb_filter_chunks(const rdb_filter *f, rdb_txn *t, rdb_chunkset *out, rdb_err *err)
{
	struct collect c = { .f = f };
	ragdb_status st = rdb_doc_iter(t, on_doc, &c, err);
	if (st == RAGDB_OK && c.oom)
		st = rdb_err_set(err, RAGDB_ENOMEM, "out of memory applying filters");
	if (st) {
		free(c.v);
		return st;
	}
	uint64_t max = 0;
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].first + c.v[i].n > max)
			max = c.v[i].first + c.v[i].n;
	rdb_chunkset s = { .nbits = max };
	s.bits = calloc(max / 64 + 1, sizeof *s.bits);
	if (!s.bits) {
		free(c.v);
		return rdb_err_set(err, RAGDB_ENOMEM, "out of memory for a filter of %llu chunks",
		                   (unsigned long long)max);
	}
	for (size_t i = 0; i < c.n; i++)
		for (uint64_t id = c.v[i].first; id < c.v[i].first + c.v[i].n; id++) {
			s.bits[id / 64] |= 1ull << (id % 64);
			s.count++;
		}
	free(c.v);
	*out = s;
	return RAGDB_OK;
}

void rdb_chunkset_free(rdb_chunkset *s)
{
	if (s) {
		free(s->bits);
		s->bits = NULL;
	}
}

int rdb_chunkset_keep(void *ctx, uint64_t id)
{
	const rdb_chunkset *s = ctx;
	return id < s->nbits && (s->bits[id / 64] >> (id % 64) & 1);
}
