/*
 * tests/unit/test_engine_enomem.c — out of memory, injected: this binary
 * replaces malloc, calloc, realloc, posix_memalign, aligned_alloc, strdup
 * and strndup with versions that fail the Nth call after being armed, and
 * runs ragdb_ingest_text and ragdb_search for N = 1, 2, ... until a run
 * completes without reaching N. Each failing run must return an error with
 * a message (no crash), leave the knowledge base passing ragdb_check and
 * holding each document whole or not at all; the suite runs in one process
 * (no fork) so LeakSanitizer, in the ASan build, sees every run's leaks.
 *
 * Under ASan the replacements forward to ASan's allocator (the next
 * definition after this executable), so ASan still tracks every block.
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
#define MAX_N 20000

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

static ragdb *fresh(char **dir)
{
	*dir = tu_tmpdir("enomem");
	char path[4096];
	snprintf(path, sizeof path, "%s/kb", *dir);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(path, NULL, &db), RAGDB_OK);
	return db;
}

static void check_clean(ragdb *db, long n)
{
	uint64_t problems = 99;
	ragdb_status st = ragdb_check(db, NULL, NULL, &problems);
	ck_assert_msg(st == RAGDB_OK && problems == 0, "N=%ld: check: status %d, %llu problems: %s",
	              n, (int)st, (unsigned long long)problems, ragdb_errmsg(db));
}

/* Document @p id is absent, or present with its whole text; returns 1 when present. */
static int whole_or_absent(ragdb *db, const char *id, const char *text, long n)
{
	ragdb_doc_info *d = NULL;
	ragdb_status st = ragdb_show(db, id, &d);
	if (st == RAGDB_ENOTFOUND)
		return 0;
	ck_assert_msg(st == RAGDB_OK, "N=%ld: show %s: %s", n, id, ragdb_errmsg(db));
	ck_assert_msg(d->text && strcmp(d->text, text) == 0, "N=%ld: %s stored partly", n, id);
	ck_assert_msg(d->n_chunks > 0, "N=%ld: %s has no chunks", n, id);
	ragdb_doc_info_free(d);
	return 1;
}

/* ragdb_ingest_text with the Nth allocation failing, for every N it makes:
 * an error with a message each time, then check passes and the documents of
 * the call are all there (the call succeeded) or none is (it failed). */
START_TEST(ingest_text_enomem)
{
	char *dir;
	ragdb *db = fresh(&dir);
	long n, failures = 0, enomem = 0;
	for (n = 1; n <= MAX_N; n++) {
		char ids[NT][32];
		ragdb_document docs[NT];
		memset(docs, 0, sizeof docs);
		for (size_t i = 0; i < NT; i++) {
			snprintf(ids[i], sizeof ids[i], "n%ld-doc%zu", n, i);
			docs[i].id = ids[i];
			docs[i].text = TEXTS[i];
			docs[i].text_len = (size_t)-1;
			docs[i].format = i == 1 ? RAGDB_FORMAT_MARKDOWN : RAGDB_FORMAT_AUTO;
		}
		arm(n);
		ragdb_status st = ragdb_ingest_text(db, docs, NT, NULL, NULL);
		disarm();
		long hit = atomic_load(&n_failed);
		if (st != RAGDB_OK) {
			ck_assert_msg(hit, "N=%ld: failed (%s) with no allocation failing", n, ragdb_errmsg(db));
			ck_assert_msg(ragdb_errmsg(db)[0], "N=%ld: status %d with no message", n, (int)st);
			failures++;
			enomem += st == RAGDB_ENOMEM;
		}
		check_clean(db, n);
		int present = 0;
		for (size_t i = 0; i < NT; i++)
			present += whole_or_absent(db, ids[i], TEXTS[i], n);
		ck_assert_msg(present == (st == RAGDB_OK ? (int)NT : 0),
		              "N=%ld: status %d but %d of %zu documents stored", n, (int)st, present, NT);
		if (!hit)
			break; /* the call made fewer than N allocations: every one was tried */
	}
	ck_assert_msg(n > 1 && n <= MAX_N, "ingest: N=%ld", n);
	fprintf(stderr, "ingest_text: %ld allocations failed one at a time: %ld errors (%ld RAGDB_ENOMEM), "
	        "%ld recovered\n", n - 1, failures, enomem, n - 1 - failures);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ragdb_search (hybrid and vector) with the Nth allocation failing: an
 * error with a message or the full answer, never a crash or a leak. */
START_TEST(search_enomem)
{
	char *dir;
	ragdb *db = fresh(&dir);
	ragdb_document docs[NT];
	memset(docs, 0, sizeof docs);
	for (size_t i = 0; i < NT; i++) {
		static char ids[NT][16];
		snprintf(ids[i], sizeof ids[i], "doc%zu", i);
		docs[i].id = ids[i];
		docs[i].text = TEXTS[i];
		docs[i].text_len = (size_t)-1;
	}
	ck_assert_int_eq(ragdb_ingest_text(db, docs, NT, NULL, NULL), RAGDB_OK);
	for (int mode = 0; mode < 2; mode++) {
		ragdb_search_options o = {.k = 3, .mode = mode ? RAGDB_MODE_VECTOR : RAGDB_MODE_DEFAULT};
		long n, failures = 0;
		for (n = 1; n <= MAX_N; n++) {
			ragdb_results *r = NULL;
			arm(n);
			ragdb_status st = ragdb_search(db, "restore a database from backup", &o, &r);
			disarm();
			long hit = atomic_load(&n_failed);
			if (st == RAGDB_OK) {
				ck_assert_msg(r && r->n == 3, "N=%ld: %zu hits", n, r ? r->n : 0);
				ck_assert_str_eq(r->hits[0].id, "doc1");
				ragdb_results_free(r);
			} else {
				ck_assert_msg(hit && ragdb_errmsg(db)[0], "N=%ld: status %d, message '%s'", n,
				              (int)st, ragdb_errmsg(db));
				failures++;
			}
			if (!hit)
				break;
		}
		ck_assert_msg(n > 1 && n <= MAX_N, "search: N=%ld", n);
		fprintf(stderr, "search (%s): %ld allocations failed one at a time: %ld errors, %ld recovered\n",
		        mode ? "vector" : "hybrid", n - 1, failures, n - 1 - failures);
	}
	check_clean(db, 0);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine_enomem");
	TCase *tc = tcase_create("enomem");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, ingest_text_enomem);
	tcase_add_test(tc, search_enomem);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	/* One process: LeakSanitizer checks at exit, after every run. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
