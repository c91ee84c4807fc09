/*
 * benchmarks/bench_ingest.c — ingest throughput of the local-embedder path.
 *
 *   bench_ingest [--corpus FILE] [--copies N] [--threads N] [--db DIR] [--keep]
 *
 * Ingests a JSONL corpus (default ../shared/data/manpages/corpus.jsonl,
 * BEIR layout: _id, title, text), or N copies of it (ids suffixed #0, #1...:
 * the knowledge base at N times the size, where the writer's share grows),
 * into a fresh knowledge base through the
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

#include <cjson/cJSON.h>

#include "ragdb.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

/* Write @p copies copies of the JSONL corpus to @p out, ids suffixed #c. */
static int write_copies(const char *corpus, int copies, const char *out)
{
	FILE *f = fopen(out, "w");
	if (!f)
		return -1;
	int rc = 0;
	for (int c = 0; c < copies && rc == 0; c++) {
		FILE *in = fopen(corpus, "r");
		if (!in) {
			rc = -1;
			break;
		}
		char *line = NULL;
		size_t cap = 0;
		while (rc == 0 && getline(&line, &cap, in) > 0) {
			cJSON *o = cJSON_Parse(line);
			cJSON *id = o ? cJSON_GetObjectItem(o, "_id") : NULL;
			if (!cJSON_IsString(id)) {
				cJSON_Delete(o);
				continue; /* blank line, or no id: the ingest would skip it too */
			}
			char nid[1024];
			snprintf(nid, sizeof nid, "%s#%d", id->valuestring, c);
			cJSON_ReplaceItemInObject(o, "_id", cJSON_CreateString(nid));
			char *js = cJSON_PrintUnformatted(o);
			if (!js || fprintf(f, "%s\n", js) < 0)
				rc = -1;
			cJSON_free(js);
			cJSON_Delete(o);
		}
		free(line);
		fclose(in);
	}
	if (fclose(f) != 0)
		rc = -1;
	return rc;
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
	int threads = 0, keep = 0, copies = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--corpus") && i + 1 < argc)
			corpus = argv[++i];
		else if (!strcmp(argv[i], "--copies") && i + 1 < argc)
			copies = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--db") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else {
			fprintf(stderr, "usage: bench_ingest [--corpus FILE] [--copies N] [--threads N] "
			                "[--db DIR] [--keep]\n");
			return 2;
		}
	}
	if (copies < 1) {
		fprintf(stderr, "bench_ingest: --copies must be 1 or more\n");
		return 2;
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
	char copies_path[] = "/tmp/bench_ingest-copies-XXXXXX";
	const char *input = corpus;
	if (copies > 1) {
		int fd = mkstemp(copies_path);
		if (fd < 0 || (close(fd), write_copies(corpus, copies, copies_path)) != 0) {
			fprintf(stderr, "bench_ingest: cannot write %d copies of %s to %s\n", copies, corpus,
			        copies_path);
			if (fd >= 0)
				remove(copies_path);
			return 1;
		}
		input = copies_path;
	}
	printf("bench_ingest: %s x %d, local embedder, %ld cores\n", corpus, copies, cores);
	ragdb_ingest_summary base, par;
	int rc = 1;
	if (run(input, dir, 1, &base) != 0)
		goto out;
	print_row("baseline", 1, &base);
	if (run(input, dir, threads, &par) != 0)
		goto out;
	print_row("parallel", threads, &par);
	printf("speedup parallel/baseline: %.2fx\n", base.seconds / par.seconds);
	rc = 0;
out:
	if (copies > 1)
		remove(copies_path);
	if (!keep)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
