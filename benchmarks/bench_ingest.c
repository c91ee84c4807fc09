/*
 * benchmarks/bench_ingest.c — ingest throughput of the local-embedder path.
 *
 *   bench_ingest [--corpus FILE] [--threads N] [--db DIR] [--keep]
 *
 * Ingests a JSONL corpus (default ../shared/data/manpages/corpus.jsonl,
 * BEIR layout: _id, title, text) into a fresh knowledge base through the
 * public API, once with one worker thread (the baseline) and once with the
 * requested number (default: all cores), and prints MB of text per second,
 * chunks per second, and where the time went: read+chunk and embed (CPU
 * seconds summed over worker threads) and write (LMDB, on the writer thread).
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragdb.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int run(const char *corpus, const char *dir, int threads, ragdb_ingest_summary *sum)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	ragdb *db = NULL;
	if (ragdb_create(dir, NULL, &db) != RAGDB_OK) {
		fprintf(stderr, "bench_ingest: %s\n", ragdb_errmsg(db));
		ragdb_close(db);
		return -1;
	}
	ragdb_ingest_options o = {0};
	o.format = RAGDB_FORMAT_JSONL;
	o.id_field = "_id";
	o.text_field = "text";
	o.title_field = "title";
	o.threads = threads;
	const char *paths[] = {corpus};
	ragdb_status st = ragdb_ingest_paths(db, paths, 1, &o, sum);
	if (st != RAGDB_OK)
		fprintf(stderr, "bench_ingest: %s\n", ragdb_errmsg(db));
	ragdb_close(db);
	return st == RAGDB_OK ? 0 : -1;
}

static void print_row(const char *label, int threads, const ragdb_ingest_summary *s)
{
	double mb = s->bytes / 1e6;
	printf("%-10s threads=%-2d docs=%-6llu chunks=%-7llu %7.1f MB  %6.2f s  %7.2f MB/s  %9.0f chunks/s"
	       "   read+chunk %.2f s  embed %.2f s  write %.2f s\n",
	       label, threads, (unsigned long long)(s->added + s->replaced),
	       (unsigned long long)s->chunks, mb, s->seconds, mb / s->seconds,
	       s->chunks / s->seconds, s->seconds_read, s->seconds_embed, s->seconds_write);
}

int main(int argc, char **argv)
{
	const char *corpus = "../shared/data/manpages/corpus.jsonl";
	const char *dir = NULL;
	int threads = 0, keep = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--corpus") && i + 1 < argc)
			corpus = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--db") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else {
			fprintf(stderr, "usage: bench_ingest [--corpus FILE] [--threads N] [--db DIR] [--keep]\n");
			return 2;
		}
	}
	if (access(corpus, R_OK) != 0) {
		fprintf(stderr, "bench_ingest: cannot read %s; pass --corpus FILE (a BEIR corpus.jsonl)\n", corpus);
		return 1;
	}
	char tmpl[] = "/tmp/bench_ingest-XXXXXX";
	if (!dir) {
		if (!mkdtemp(tmpl)) {
			perror("mkdtemp");
			return 1;
		}
		dir = tmpl;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (threads <= 0)
		threads = (int)(cores > 0 ? cores : 1);
	printf("bench_ingest: %s, local embedder, %ld cores\n", corpus, cores);
	ragdb_ingest_summary base, par;
	if (run(corpus, dir, 1, &base) != 0)
		return 1;
	print_row("baseline", 1, &base);
	if (run(corpus, dir, threads, &par) != 0)
		return 1;
	print_row("parallel", threads, &par);
	printf("speedup parallel/baseline: %.2fx\n", base.seconds / par.seconds);
	if (!keep)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
