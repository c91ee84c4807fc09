/*
 * tests/unit/test_engine_midwalk.c — files that vanish or become unreadable
 * after the walk listed them: when the first document of an ingest is
 * reported, the last files of the walk are removed, replaced by a
 * directory, by a dangling symlink, and (when not root, which reads
 * anything) made unreadable. Each such file is reported failed with a
 * reason (or was already stored whole when it was read before), every other
 * file is stored, the call succeeds, and the knowledge base passes check.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ragdb.h"
#include "testutil.h"

#define N_FILES 2000 /* more than one commit batch (512) plus the read-ahead queues (2 x 256) */
#define N_DAMAGED 8 /* the last files in walk order */

typedef struct run {
	char root[4096];
	int damaged_done;
	int failed_damaged, failed_other;
	char reason[512];
} run;

static void file_path(const run *r, int i, char *out, size_t cap)
{
	snprintf(out, cap, "%s/f%04d.txt", r->root, i);
}

static void damage(run *r)
{
	char p[4200];
	for (int k = 0; k < N_DAMAGED; k++) {
		int i = N_FILES - 1 - k;
		file_path(r, i, p, sizeof p);
		switch (k % 4) {
		case 0: unlink(p); break;
		case 1: unlink(p); mkdir(p, 0755); break;
		case 2: unlink(p); ck_assert_int_eq(symlink("/nonexistent/ragdb-test", p), 0); break;
		case 3: if (geteuid() != 0) chmod(p, 0); else unlink(p); break;
		}
	}
}

static void on_item(void *ctx, ragdb_ingest_action action, const char *id, const char *source,
                    const char *reason)
{
	run *r = ctx;
	(void)source;
	if (!r->damaged_done) {
		r->damaged_done = 1;
		damage(r);
	}
	if (action == RAGDB_FAILED) {
		int i = -1;
		if (sscanf(id, "f%d.txt", &i) == 1 && i >= N_FILES - N_DAMAGED) {
			r->failed_damaged++;
			if (reason)
				snprintf(r->reason, sizeof r->reason, "%s", reason);
		} else {
			r->failed_other++;
		}
	}
}

/* Files removed or made unreadable mid-ingest: reported failed, the rest stored. */
START_TEST(vanishing_files)
{
	char *dir = tu_tmpdir("midwalk");
	run r;
	memset(&r, 0, sizeof r);
	snprintf(r.root, sizeof r.root, "%s/docs", dir);
	char p[4200], text[256];
	for (int i = 0; i < N_FILES; i++) {
		file_path(&r, i, p, sizeof p);
		int n = snprintf(text, sizeof text,
		                 "File number %d talks about harbors, parcels and the marker m%04dx.\n", i, i);
		ck_assert_int_eq(tu_write_file(p, text, (size_t)n), 0);
	}
	snprintf(p, sizeof p, "%s/kb", dir);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(p, NULL, &db), RAGDB_OK);
	ragdb_ingest_options o = {.on_item = on_item, .ctx = &r, .threads = 2};
	ragdb_ingest_summary s;
	const char *paths[] = { r.root };
	ragdb_status st = ragdb_ingest_paths(db, paths, 1, &o, &s);
	ck_assert_msg(st == RAGDB_OK, "ingest: %s", ragdb_errmsg(db));
	ck_assert_int_eq(r.failed_other, 0);
	ck_assert_msg(r.failed_damaged >= 1, "no damaged file was reported failed (all read before?)");
	ck_assert_msg(r.reason[0], "a failed file without a reason");
	ck_assert_uint_eq(s.failed, (uint64_t)r.failed_damaged);
	ck_assert_uint_eq(s.added + s.failed, N_FILES);
	uint64_t problems = 1;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &problems), RAGDB_OK);
	ck_assert_uint_eq(problems, 0);
	/* Every undamaged file is stored; a damaged one only if read before. */
	for (int i = 0; i < N_FILES; i++) {
		char id[32];
		snprintf(id, sizeof id, "f%04d.txt", i);
		ragdb_doc_info *d = NULL;
		ragdb_status sst = ragdb_show(db, id, &d);
		if (i < N_FILES - N_DAMAGED)
			ck_assert_msg(sst == RAGDB_OK, "%s not stored", id);
		if (sst == RAGDB_OK) {
			ck_assert_ptr_nonnull(strstr(d->text, "talks about harbors"));
			ragdb_doc_info_free(d);
		}
	}
	fprintf(stderr, "midwalk: %d of %d damaged files reported failed (e.g. \"%s\"), %llu stored\n",
	        r.failed_damaged, N_DAMAGED, r.reason, (unsigned long long)s.added);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine_midwalk");
	TCase *tc = tcase_create("midwalk");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, vanishing_files);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
