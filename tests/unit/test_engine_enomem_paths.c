/*
 * tests/unit/test_engine_enomem_paths.c — out of memory, injected, over the
 * paths test_engine_enomem.c does not cover: ragdb_ingest_paths (a directory
 * with a Markdown, an HTML and a CSV file, read and chunked by the pipeline's
 * worker threads) and ragdb_query (the extractive answerer, with sources).
 * The same hook as test_engine_enomem.c: malloc, calloc, realloc,
 * posix_memalign, aligned_alloc, strdup and strndup fail the Nth call after
 * being armed, counted process-wide (atomics), so an allocation on a worker
 * thread counts as much as one on the caller's. For N = 1, 2, ... until a
 * run no longer reaches N, each run must end in an error with a message or
 * in success, never a crash; afterwards ragdb_check passes, every stored
 * document equals the one an undisturbed ingest stores (all its chunks, its
 * whole text), a failed file is reported failed (never silently missing),
 * and the same call without faults succeeds. One process (no fork), so
 * LeakSanitizer, in the ASan build, sees every run's leaks.
 */
#include <check.h>
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragdb.h"
#include "testutil.h"

#include "enomem_hook.h"

/* ------------------------------------------------------------ the tests */

/* Upper bound on N: far above what one call allocates (the loop stops at
 * the first run that never reaches N). */
#define MAX_N 60000

static const char MD[] =
	"# Backups\n\nNightly backups are written to the object store at 02:00 UTC.\n\n## Restore\n\n"
	"To restore a database from backup, stop the writer, download the snapshot and replay the "
	"log. Check the restored copy before you switch traffic to it.\n";
static const char HTML[] =
	"<!doctype html><html><head><title>Signing keys</title></head><body><h1>Keys</h1>"
	"<p>To rotate the API signing keys, generate a new key pair, publish the public key, "
	"wait one hour for caches to expire, then retire the old key.</p>"
	"<ul><li>Old keys stay valid for a day.</li><li>Never mail a private key.</li></ul>"
	"</body></html>\n";
static const char CSV[] =
	"id,title,text\n"
	"menu-mon,Monday,The cafeteria serves soup on Mondays.\n"
	"menu-fri,Friday,\"Pasta on Fridays, with a vegetarian dish every day.\"\n";

/* What an undisturbed ingest stores: id, text, chunk count. */
#define MAX_DOCS 8
struct ref {
	size_t n;
	char *id[MAX_DOCS];
	char *text[MAX_DOCS];
	uint32_t chunks[MAX_DOCS];
};

struct idlist {
	size_t n;
	char *id[MAX_DOCS * 2];
};

static int collect_id(void *ctx, const ragdb_doc_info *d)
{
	struct idlist *l = ctx;
	if (l->n < MAX_DOCS * 2)
		l->id[l->n++] = strdup(d->id);
	return 0;
}

static void idlist_free(struct idlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->id[i]);
	l->n = 0;
}

static void check_clean(ragdb *db, long n)
{
	uint64_t problems = 99;
	ragdb_status st = ragdb_check(db, NULL, NULL, &problems);
	ck_assert_msg(st == RAGDB_OK && problems == 0, "N=%ld: check: status %d, %llu problems: %s",
	              n, (int)st, (unsigned long long)problems, ragdb_errmsg(db));
}

/* Every stored document is one of @p ref, whole (same text, same chunks);
 * returns how many are stored. */
static size_t stored_whole(ragdb *db, const struct ref *ref, long n)
{
	struct idlist l = {0};
	ck_assert_msg(ragdb_list(db, collect_id, &l) == RAGDB_OK, "N=%ld: list: %s", n, ragdb_errmsg(db));
	for (size_t i = 0; i < l.n; i++) {
		size_t k;
		for (k = 0; k < ref->n && strcmp(ref->id[k], l.id[i]) != 0; k++)
			;
		ck_assert_msg(k < ref->n, "N=%ld: unexpected document %s stored", n, l.id[i]);
		ragdb_doc_info *d = NULL;
		ck_assert_msg(ragdb_show(db, l.id[i], &d) == RAGDB_OK, "N=%ld: show %s: %s", n, l.id[i],
		              ragdb_errmsg(db));
		ck_assert_msg(d->text && strcmp(d->text, ref->text[k]) == 0, "N=%ld: %s stored partly", n,
		              l.id[i]);
		ck_assert_msg(d->n_chunks == ref->chunks[k], "N=%ld: %s has %u chunks, expected %u", n,
		              l.id[i], d->n_chunks, ref->chunks[k]);
		ragdb_doc_info_free(d);
	}
	size_t got = l.n;
	idlist_free(&l);
	return got;
}

static char *make_corpus(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/docs/backups.md", dir);
	ck_assert_int_eq(tu_write_file(path, MD, strlen(MD)), 0);
	snprintf(path, sizeof path, "%s/docs/keys.html", dir);
	ck_assert_int_eq(tu_write_file(path, HTML, strlen(HTML)), 0);
	snprintf(path, sizeof path, "%s/docs/menu.csv", dir);
	ck_assert_int_eq(tu_write_file(path, CSV, strlen(CSV)), 0);
	snprintf(path, sizeof path, "%s/docs", dir);
	return strdup(path);
}

static ragdb *make_kb(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(path, NULL, &db), RAGDB_OK);
	return db;
}

/* ragdb_ingest_paths over a directory (two worker threads) with the Nth
 * allocation failing, for every N it makes: an error with a message or
 * success; check passes; each stored document is whole; with success every
 * document is stored or counted failed; the retry without faults stores
 * them all, equal to an undisturbed ingest. */
START_TEST(ingest_paths_enomem)
{
	char *dir = tu_tmpdir("enomem-paths");
	char *docs = make_corpus(dir);
	const char *paths[] = {docs};
	ragdb_ingest_options o = {.threads = 2};

	/* The reference: an undisturbed ingest. */
	struct ref ref = {0};
	ragdb *db = make_kb(dir, "ref");
	ragdb_ingest_summary sum;
	ck_assert_int_eq(ragdb_ingest_paths(db, paths, 1, &o, &sum), RAGDB_OK);
	ck_assert_int_eq((int)sum.failed, 0);
	struct idlist l = {0};
	ck_assert_int_eq(ragdb_list(db, collect_id, &l), RAGDB_OK);
	ck_assert_msg(l.n >= 4 && l.n <= MAX_DOCS, "%zu documents in the reference", l.n);
	for (size_t i = 0; i < l.n; i++) {
		ragdb_doc_info *d = NULL;
		ck_assert_int_eq(ragdb_show(db, l.id[i], &d), RAGDB_OK);
		ref.id[i] = strdup(d->id);
		ref.text[i] = strdup(d->text);
		ref.chunks[i] = d->n_chunks;
		ragdb_doc_info_free(d);
	}
	ref.n = l.n;
	idlist_free(&l);
	ragdb_close(db);

	db = make_kb(dir, "kb");
	long n, failures = 0, enomem = 0, file_failures = 0;
	for (n = 1; n <= MAX_N; n++) {
		memset(&sum, 0, sizeof sum);
		arm(n);
		ragdb_status st = ragdb_ingest_paths(db, paths, 1, &o, &sum);
		disarm();
		long hit = atomic_load(&n_failed);
		if (st != RAGDB_OK) {
			ck_assert_msg(hit, "N=%ld: failed (%s) with no allocation failing", n, ragdb_errmsg(db));
			ck_assert_msg(ragdb_errmsg(db)[0], "N=%ld: status %d with no message", n, (int)st);
			failures++;
			enomem += st == RAGDB_ENOMEM;
		}
		check_clean(db, n);
		size_t present = stored_whole(db, &ref, n);
		if (st == RAGDB_OK) {
			/* Never silently missing: each document stored or reported failed
			 * (a failed file may stand for several CSV rows). */
			ck_assert_msg(present == ref.n || sum.failed > 0,
			              "N=%ld: success, %zu of %zu stored, none reported failed", n, present,
			              ref.n);
			ck_assert_msg(present == ref.n || hit, "N=%ld: documents missing without a fault", n);
			file_failures += sum.failed > 0;
		}
		/* The retry without faults stores everything. */
		ragdb_status st2 = ragdb_ingest_paths(db, paths, 1, &o, &sum);
		ck_assert_msg(st2 == RAGDB_OK && sum.failed == 0, "N=%ld: retry: status %d, %llu failed: %s",
		              n, (int)st2, (unsigned long long)sum.failed, ragdb_errmsg(db));
		ck_assert_msg(stored_whole(db, &ref, n) == ref.n, "N=%ld: retry stored too few", n);
		check_clean(db, n);
		uint64_t gone = 0;
		ck_assert_msg(ragdb_delete_source(db, docs, &gone) == RAGDB_OK && gone == ref.n,
		              "N=%ld: delete_source: %llu: %s", n, (unsigned long long)gone, ragdb_errmsg(db));
		if (!hit)
			break;
	}
	ck_assert_msg(n > 1 && n <= MAX_N, "ingest_paths: N=%ld", n);
	fprintf(stderr, "ingest_paths: %ld allocations failed one at a time: %ld errors (%ld RAGDB_ENOMEM), "
	        "%ld successes with a file reported failed, %ld recovered\n", n - 1, failures, enomem,
	        file_failures, n - 1 - failures - file_failures);
	ragdb_close(db);
	for (size_t i = 0; i < ref.n; i++) {
		free(ref.id[i]);
		free(ref.text[i]);
	}
	free(docs);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

static const char *TEXTS[] = {
	"To rotate the API signing keys, generate a new key pair with keytool, publish the public "
	"key, wait one hour for caches to expire, then retire the old key.",
	"# Backups\n\nNightly backups are written to the object store at 02:00 UTC.\n\n## Restore\n\n"
	"To restore a database from backup, stop the writer, download the snapshot and replay the "
	"log. Check the restored copy before you switch traffic to it.",
	"The cafeteria serves soup on Mondays and pasta on Fridays. Vegetarian dishes are available "
	"every day.",
};
#define NT (sizeof TEXTS / sizeof TEXTS[0])

/* ragdb_query (extractive, with sources) with the Nth allocation failing:
 * an error with a message, or the same answer and sources as without
 * faults; check passes afterwards. */
START_TEST(query_enomem)
{
	char *dir = tu_tmpdir("enomem-query");
	ragdb *db = make_kb(dir, "kb");
	ragdb_document d[NT];
	memset(d, 0, sizeof d);
	static char ids[NT][16];
	for (size_t i = 0; i < NT; i++) {
		snprintf(ids[i], sizeof ids[i], "doc%zu", i);
		d[i].id = ids[i];
		d[i].text = TEXTS[i];
		d[i].text_len = (size_t)-1;
		d[i].format = i == 1 ? RAGDB_FORMAT_MARKDOWN : RAGDB_FORMAT_AUTO;
	}
	ck_assert_int_eq(ragdb_ingest_text(db, d, NT, NULL, NULL), RAGDB_OK);
	const char *q = "How do I restore a database from backup?";
	ragdb_query_options o = {.k = 3, .model = "extractive"};
	ragdb_answer *want = NULL;
	ck_assert_int_eq(ragdb_query(db, q, &o, &want), RAGDB_OK);
	ck_assert_msg(want->extractive && want->n_sources > 0, "reference answer");
	long n, failures = 0;
	for (n = 1; n <= MAX_N; n++) {
		ragdb_answer *a = NULL;
		arm(n);
		ragdb_status st = ragdb_query(db, q, &o, &a);
		disarm();
		long hit = atomic_load(&n_failed);
		if (st == RAGDB_OK) {
			ck_assert_msg(a && a->answer && strcmp(a->answer, want->answer) == 0,
			              "N=%ld: a different answer: %s", n, a && a->answer ? a->answer : "(none)");
			ck_assert_msg(a->n_sources == want->n_sources, "N=%ld: %zu sources, expected %zu", n,
			              a->n_sources, want->n_sources);
			for (size_t i = 0; i < a->n_sources; i++)
				ck_assert_str_eq(a->sources[i].id, want->sources[i].id);
			ragdb_answer_free(a);
		} else {
			ck_assert_msg(hit && ragdb_errmsg(db)[0], "N=%ld: status %d, message '%s'", n, (int)st,
			              ragdb_errmsg(db));
			ck_assert_msg(a == NULL, "N=%ld: an answer written on failure", n);
			failures++;
		}
		if (!hit)
			break;
	}
	ck_assert_msg(n > 1 && n <= MAX_N, "query: N=%ld", n);
	fprintf(stderr, "query (extractive): %ld allocations failed one at a time: %ld errors, "
	        "%ld recovered\n", n - 1, failures, n - 1 - failures);
	check_clean(db, 0);
	ragdb_answer *again = NULL;
	ck_assert_int_eq(ragdb_query(db, q, &o, &again), RAGDB_OK);
	ck_assert_str_eq(again->answer, want->answer);
	ragdb_answer_free(again);
	ragdb_answer_free(want);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine_enomem_paths");
	TCase *tc = tcase_create("enomem_paths");
	tcase_set_timeout(tc, 1200);
	tcase_add_test(tc, ingest_paths_enomem);
	tcase_add_test(tc, query_enomem);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	/* One process: LeakSanitizer checks at exit, after every run. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
