/*
 * benchmarks/bench_bm25.c — the BM25 search (MaxScore over postings cursors,
 * engine/bm25.c) against the full merge of every posting it replaced
 * (rdb_bm25_topk_ref), on the same queries in the same process, taking turns.
 *
 *   bench_bm25 --corpus C.jsonl --queries Q.jsonl [--copies N] [--reps R]
 *              [--keep DIR]
 *
 * Builds a knowledge base from N copies of a BEIR corpus (ids suffixed #0,
 * #1, ...; the built-in embedder, English stemming) in a temporary
 * directory, or reuses DIR given with --keep if it holds one. Then for two
 * workloads over every query of Q.jsonl:
 *   bm25     a `--mode bm25 -k 10` search;
 *   hybrid   the BM25 half of a default hybrid search: a first pass of 10
 *            for feedback, the query expanded by its 10 best terms
 *            (rdb_bm25_expand), and a pass of depth 100;
 * it runs R rounds, each timing every query with the pruned search and with
 * the reference (the order alternating between rounds), and prints the
 * median round's milliseconds per query for each, the ratio, and whether
 * every query got the same chunks and scores (bit for bit) from both.
 * Defaults: N 10, R 5. Never used in tests.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/internal.h"
#include "engine/retrieve.h"
#include "index/postings.h"
#include "ragdb.h"

#define BB_MAX_QUERIES 100000
#define BB_MAX_ROUNDS 99
#define BB_DEPTH 100

static double bb_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bb_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Each line of a BEIR JSONL file, parsed; NULL-terminated. */
static cJSON **bb_read_jsonl(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "bench_bm25: cannot open %s\n", path);
		return NULL;
	}
	cJSON **v = NULL;
	size_t cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	*n = 0;
	while (getline(&line, &lcap, f) > 0) {
		cJSON *j = cJSON_Parse(line);
		if (!j || !cJSON_IsString(cJSON_GetObjectItem(j, "_id")) ||
		    !cJSON_IsString(cJSON_GetObjectItem(j, "text"))) {
			fprintf(stderr, "bench_bm25: %s line %zu: expected {\"_id\": ..., \"text\": ...}\n",
			        path, *n + 1);
			cJSON_Delete(j);
			continue;
		}
		if (*n + 1 >= cap) {
			cap = cap ? cap * 2 : 1024;
			v = realloc(v, cap * sizeof *v);
			if (!v) {
				fprintf(stderr, "bench_bm25: out of memory\n");
				exit(1);
			}
		}
		v[(*n)++] = j;
		v[*n] = NULL;
	}
	free(line);
	fclose(f);
	return v;
}

static int bb_build(const char *dir, cJSON **docs, size_t nd, int copies)
{
	ragdb *db = NULL;
	if (ragdb_create(dir, NULL, &db) != RAGDB_OK) {
		fprintf(stderr, "bench_bm25: %s\n", ragdb_errmsg(db));
		ragdb_close(db);
		return -1;
	}
	enum { BATCH = 1000 };
	ragdb_document d[BATCH];
	char ids[BATCH][256];
	size_t m = 0;
	double t0 = bb_now();
	for (int c = 0; c < copies; c++)
		for (size_t i = 0; i < nd; i++) {
			cJSON *title = cJSON_GetObjectItem(docs[i], "title");
			snprintf(ids[m], sizeof ids[m], "%s#%d",
			         cJSON_GetObjectItem(docs[i], "_id")->valuestring, c);
			d[m] = (ragdb_document){ .id = ids[m],
			                         .text = cJSON_GetObjectItem(docs[i], "text")->valuestring,
			                         .text_len = (size_t)-1,
			                         .title = cJSON_IsString(title) ? title->valuestring : NULL };
			if (++m == BATCH || (c == copies - 1 && i == nd - 1)) {
				if (ragdb_ingest_text(db, d, m, NULL, NULL) != RAGDB_OK) {
					fprintf(stderr, "bench_bm25: ingest: %s\n", ragdb_errmsg(db));
					ragdb_close(db);
					return -1;
				}
				m = 0;
			}
		}
	printf("built %s: %zu documents x %d copies in %.1f s\n", dir, nd, copies, bb_now() - t0);
	ragdb_close(db);
	return 0;
}

typedef ragdb_status (*bb_topk_fn)(rdb_txn *, const rdb_bm25_query *, const rdb_bm25_params *,
                                   size_t, rdb_keep_fn, void *, rdb_scored *, size_t *, rdb_err *);

/* One workload's queries, parsed (and expanded) once. */
typedef struct bb_load {
	const char *name;
	size_t k;
	rdb_bm25_query *q;
	size_t nq;
	rdb_scored *hits[2]; /* nq x k per search: pruned, reference */
	size_t *nhits[2];
} bb_load;

static double bb_round(rdb_txn *t, const rdb_bm25_params *p, bb_load *l, int which)
{
	bb_topk_fn fn = which ? rdb_bm25_topk_ref : rdb_bm25_topk;
	rdb_err e = { 0 };
	double t0 = bb_now();
	for (size_t i = 0; i < l->nq; i++)
		if (fn(t, &l->q[i], p, l->k, NULL, NULL, l->hits[which] + i * l->k,
		       &l->nhits[which][i], &e) != RAGDB_OK) {
			fprintf(stderr, "bench_bm25: search: %s\n", e.msg);
			exit(1);
		}
	return (bb_now() - t0) * 1e3 / (double)l->nq;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *corpus = NULL, *queries = NULL, *keep = NULL;
	int copies = 10, reps = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--corpus") && i + 1 < argc)
			corpus = argv[++i];
		else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
			queries = argv[++i];
		else if (!strcmp(argv[i], "--copies") && i + 1 < argc)
			copies = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--keep") && i + 1 < argc)
			keep = argv[++i];
		else {
			fprintf(stderr, "usage: bench_bm25 --corpus C.jsonl --queries Q.jsonl "
			                "[--copies N] [--reps R] [--keep DIR]\n");
			return 2;
		}
	}
	if (!corpus || !queries || copies < 1 || reps < 1 || reps > BB_MAX_ROUNDS) {
		fprintf(stderr, "bench_bm25: --corpus and --queries are needed; --copies >= 1, "
		                "--reps 1..%d\n", BB_MAX_ROUNDS);
		return 2;
	}
	char tmp[] = "/tmp/bench_bm25.XXXXXX";
	const char *dir = keep;
	if (!dir && !(dir = mkdtemp(tmp))) {
		perror("bench_bm25: mkdtemp");
		return 1;
	}
	char marker[4096];
	snprintf(marker, sizeof marker, "%s/data.mdb", dir);
	FILE *mk = fopen(marker, "r");
	if (mk) {
		fclose(mk);
		printf("reusing %s\n", dir);
	} else {
		size_t nd = 0;
		cJSON **docs = bb_read_jsonl(corpus, &nd);
		if (!docs || nd == 0 || bb_build(dir, docs, nd, copies))
			return 1;
		for (size_t i = 0; i < nd; i++)
			cJSON_Delete(docs[i]);
		free(docs);
	}
	size_t nq = 0;
	cJSON **qs = bb_read_jsonl(queries, &nq);
	if (!qs || nq == 0 || nq > BB_MAX_QUERIES)
		return 1;

	ragdb *db = NULL;
	if (ragdb_open(dir, 0, &db) != RAGDB_OK) {
		fprintf(stderr, "bench_bm25: %s\n", ragdb_errmsg(db));
		return 1;
	}
	rdb_err e = { 0 };
	rdb_txn *t = NULL;
	rdb_tokenizer *tok = NULL;
	if (rdb_txn_begin(db->store, 0, &t, &e) ||
	    rdb_tokenizer_create(rdb_store_meta(db->store)->language, &tok, &e)) {
		fprintf(stderr, "bench_bm25: %s\n", e.msg);
		return 1;
	}
	rdb_ft_stats fs;
	if (rdb_ft_stats_get(t, &fs, &e)) {
		fprintf(stderr, "bench_bm25: %s\n", e.msg);
		return 1;
	}
	printf("%llu chunks, %zu queries, %d rounds\n", (unsigned long long)fs.chunks, nq, reps);
	rdb_bm25_params p = { RDB_BM25_K1, RDB_BM25_B, RDB_BM25_W_TITLE, RDB_BM25_B_TITLE };
	bb_load loads[2] = { { "bm25", 10, NULL, nq, { 0 }, { 0 } },
	                     { "hybrid", BB_DEPTH, NULL, nq, { 0 }, { 0 } } };
	rdb_scored fb[RDB_PRF_DOCS];
	for (int w = 0; w < 2; w++) {
		bb_load *l = &loads[w];
		l->q = calloc(nq, sizeof *l->q);
		for (int m = 0; m < 2; m++) {
			l->hits[m] = malloc(nq * l->k * sizeof *l->hits[m]);
			l->nhits[m] = calloc(nq, sizeof *l->nhits[m]);
		}
		if (!l->q || !l->hits[0] || !l->hits[1] || !l->nhits[0] || !l->nhits[1]) {
			fprintf(stderr, "bench_bm25: out of memory\n");
			return 1;
		}
		for (size_t i = 0; i < nq; i++) {
			size_t nfb = 0;
			const char *text = cJSON_GetObjectItem(qs[i], "text")->valuestring;
			if (rdb_bm25_query_parse(t, tok, text, &l->q[i], &e) ||
			    (w == 1 && (rdb_bm25_topk(t, &l->q[i], &p, RDB_PRF_DOCS, NULL, NULL, fb, &nfb,
			                              &e) ||
			                rdb_bm25_expand(t, &l->q[i], fb, nfb, RDB_PRF_TERMS, RDB_PRF_ORIG,
			                                &e)))) {
				fprintf(stderr, "bench_bm25: query %zu: %s\n", i, e.msg);
				return 1;
			}
		}
	}
	printf("\n%-8s %14s %14s %8s %s\n", "workload", "pruned ms/q", "reference ms/q", "ratio",
	       "same results");
	for (int w = 0; w < 2; w++) {
		bb_load *l = &loads[w];
		double ms[2][BB_MAX_ROUNDS];
		for (int r = 0; r < reps; r++)
			for (int m = 0; m < 2; m++) {
				int which = r % 2 ? 1 - m : m;
				ms[which][r] = bb_round(t, &p, l, which);
			}
		size_t same = 0;
		for (size_t i = 0; i < nq; i++) {
			const rdb_scored *x = l->hits[0] + i * l->k, *y = l->hits[1] + i * l->k;
			size_t j = 0, n = l->nhits[0][i];
			while (j < n && x[j].id == y[j].id && x[j].score == y[j].score)
				j++;
			same += n == l->nhits[1][i] && j == n;
		}
		qsort(ms[0], (size_t)reps, sizeof(double), bb_cmp);
		qsort(ms[1], (size_t)reps, sizeof(double), bb_cmp);
		double a = ms[0][reps / 2], b = ms[1][reps / 2];
		printf("%-8s %14.3f %14.3f %7.2fx %zu of %zu\n", l->name, a, b, b / a, same, nq);
		for (size_t i = 0; i < nq; i++)
			rdb_bm25_query_free(&l->q[i]);
		free(l->q);
		for (int m = 0; m < 2; m++) {
			free(l->hits[m]);
			free(l->nhits[m]);
		}
	}
	rdb_tokenizer_free(tok);
	rdb_txn_abort(t);
	ragdb_close(db);
	for (size_t i = 0; i < nq; i++)
		cJSON_Delete(qs[i]);
	free(qs);
	if (!keep) {
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_bm25: could not remove %s\n", dir);
	}
	return 0;
}
