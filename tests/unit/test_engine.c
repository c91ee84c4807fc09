/*
 * tests/unit/test_engine.c — the public API end to end, in process: create,
 * open, ingest texts and files, search, batch search, query, show, delete,
 * stats, check, and the refusals (another embedder, another schema, a
 * read-only handle, a full map that must grow).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ragdb.h"
#include "index/store.h"
#include "testutil.h"

static const ragdb_document DOCS[] = {
	{.id = "keys", .title = "Rotating the signing keys", .text_len = (size_t)-1,
	 .text = "To rotate the API signing keys, generate a new key pair with keytool, publish the "
	         "public key, wait one hour for caches to expire, then retire the old key. "
	         "Never delete the old key before every service has reloaded."},
	{.id = "backup", .title = "Backups", .text_len = (size_t)-1,
	 .text = "Nightly backups are written to the object store at 02:00 UTC. To restore a "
	         "database from backup, stop the writer, download the snapshot and replay the log."},
	{.id = "lunch", .title = "Cafeteria", .text_len = (size_t)-1,
	 .text = "The cafeteria serves soup on Mondays and pasta on Fridays. Vegetarian dishes "
	         "are available every day."},
};
#define NDOCS (sizeof DOCS / sizeof DOCS[0])

static ragdb *fresh(char **dir)
{
	*dir = tu_tmpdir("engine");
	char path[4096];
	snprintf(path, sizeof path, "%s/kb", *dir);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_create(path, NULL, &db), RAGDB_OK);
	return db;
}

static ragdb *fresh_with_docs(char **dir)
{
	ragdb *db = fresh(dir);
	ragdb_ingest_summary s;
	ck_assert_msg(ragdb_ingest_text(db, DOCS, NDOCS, NULL, &s) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_eq(s.added, NDOCS);
	return db;
}

/* A search finds the document that answers it, at rank 1, with its range. */
START_TEST(search_finds_passage)
{
	char *dir;
	ragdb *db = fresh_with_docs(&dir);
	ragdb_results *r = NULL;
	ragdb_search_options o = {.k = 3};
	ck_assert_int_eq(ragdb_search(db, "how to restore a database from backup", &o, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 3);
	ck_assert_str_eq(r->hits[0].id, "backup");
	ck_assert_uint_eq(r->hits[0].rank, 1);
	ck_assert(r->hits[0].score >= r->hits[1].score);
	ck_assert(r->hits[0].end > r->hits[0].start);
	ck_assert_ptr_nonnull(strstr(r->hits[0].text, "restore"));
	ragdb_results_free(r);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* k larger than the number of chunks returns every chunk; an empty query is an error. */
START_TEST(search_k_and_empty)
{
	char *dir;
	ragdb *db = fresh_with_docs(&dir);
	ragdb_results *r = NULL;
	ragdb_search_options o = {.k = 50};
	ck_assert_int_eq(ragdb_search(db, "soup", &o, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, NDOCS);
	ck_assert_str_eq(r->hits[0].id, "lunch");
	ragdb_results_free(r);
	ck_assert_int_eq(ragdb_search(db, "", NULL, &r), RAGDB_EINVAL);
	ck_assert(strlen(ragdb_errmsg(db)) > 0);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* The batch path returns the same ids in the same order as single searches. */
START_TEST(batch_equals_single)
{
	char *dir;
	ragdb *db = fresh_with_docs(&dir);
	const char *qs[] = {"rotate signing keys", "pasta on fridays", "restore snapshot"};
	const char *ids[] = {"q1", "q2", "q3"};
	ragdb_results *rs = NULL;
	ragdb_search_options o = {.k = 3};
	ck_assert_int_eq(ragdb_search_batch(db, qs, ids, 3, &o, &rs), RAGDB_OK);
	for (int i = 0; i < 3; i++) {
		ragdb_results *r = NULL;
		ck_assert_int_eq(ragdb_search(db, qs[i], &o, &r), RAGDB_OK);
		ck_assert_str_eq(rs[i].query, ids[i]);
		ck_assert_uint_eq(rs[i].n, r->n);
		for (size_t j = 0; j < r->n; j++)
			ck_assert_uint_eq(rs[i].hits[j].chunk_id, r->hits[j].chunk_id);
		ragdb_results_free(r);
	}
	ragdb_results_free_array(rs, 3);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* The extractive answer says it is extractive, cites [1] and lists sources. */
START_TEST(query_extractive)
{
	char *dir;
	ragdb *db = fresh_with_docs(&dir);
	ragdb_answer *a = NULL;
	ck_assert_int_eq(ragdb_query(db, "How do I rotate the signing keys?", NULL, &a), RAGDB_OK);
	ck_assert(a->extractive);
	ck_assert_str_eq(a->model, "extractive");
	ck_assert_ptr_nonnull(strstr(a->answer, "Extractive answer"));
	ck_assert_ptr_nonnull(strstr(a->answer, "[1]"));
	ck_assert(a->n_sources >= 1);
	ck_assert_str_eq(a->sources[0].id, "keys");
	ck_assert_uint_eq(a->sources[0].n, 1);
	ragdb_answer_free(a);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Re-ingesting the same texts changes nothing and embeds nothing; a changed
 * text is replaced; delete removes it from search; check passes throughout. */
START_TEST(incremental_and_delete)
{
	char *dir;
	ragdb *db = fresh_with_docs(&dir);
	ragdb_ingest_summary s;
	ck_assert_int_eq(ragdb_ingest_text(db, DOCS, NDOCS, NULL, &s), RAGDB_OK);
	ck_assert_uint_eq(s.unchanged, NDOCS);
	ck_assert_uint_eq(s.embeddings, 0);
	ragdb_document changed = DOCS[2];
	changed.text = "The cafeteria now serves ramen on Wednesdays.";
	ck_assert_int_eq(ragdb_ingest_text(db, &changed, 1, NULL, &s), RAGDB_OK);
	ck_assert_uint_eq(s.replaced, 1);
	ragdb_doc_info *info = NULL;
	ck_assert_int_eq(ragdb_show(db, "lunch", &info), RAGDB_OK);
	ck_assert_ptr_nonnull(strstr(info->text, "ramen"));
	ragdb_doc_info_free(info);

	ck_assert_int_eq(ragdb_delete(db, "backup"), RAGDB_OK);
	ck_assert_int_eq(ragdb_delete(db, "backup"), RAGDB_ENOTFOUND);
	ragdb_results *r = NULL;
	ragdb_search_options o = {.k = 10};
	ck_assert_int_eq(ragdb_search(db, "restore database from backup", &o, &r), RAGDB_OK);
	for (size_t i = 0; i < r->n; i++)
		ck_assert_str_ne(r->hits[i].id, "backup");
	ragdb_results_free(r);
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	ck_assert_uint_eq(st.documents, NDOCS - 1);
	ck_assert(st.vectors_dead > 0);
	uint64_t problems = 99, freed = 0;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &problems), RAGDB_OK);
	ck_assert_uint_eq(problems, 0);
	ck_assert_int_eq(ragdb_compact(db, &freed), RAGDB_OK);
	ck_assert(freed > 0);
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	ck_assert_uint_eq(st.vectors_dead, 0);
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &problems), RAGDB_OK);
	ck_assert_uint_eq(problems, 0);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Bad ingest_text input is refused whole: nothing of the batch is stored. */
START_TEST(ingest_text_refusals)
{
	char *dir;
	ragdb *db = fresh(&dir);
	ragdb_document bad[2] = {DOCS[0], DOCS[0]};
	ck_assert_int_eq(ragdb_ingest_text(db, bad, 2, NULL, NULL), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "twice"));
	ragdb_document nometa = DOCS[1];
	nometa.metadata_json = "[1,2]";
	ck_assert_int_eq(ragdb_ingest_text(db, &nometa, 1, NULL, NULL), RAGDB_EINVAL);
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	ck_assert_uint_eq(st.documents, 0);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Opening a knowledge base built by another embedder model names both. */
START_TEST(embedder_mismatch)
{
	char *dir = tu_tmpdir("engine");
	char path[4096];
	snprintf(path, sizeof path, "%s/kb", dir);
	rdb_meta m = {0};
	m.schema = RDB_SCHEMA_VERSION;
	snprintf(m.embedder, sizeof m.embedder, "local");
	snprintf(m.model, sizeof m.model, "hash-v0");
	m.dim = 384;
	m.chunk_tokens = 256;
	m.chunk_overlap = 32;
	rdb_store *s = NULL;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_store_open(path, RDB_STORE_CREATE, &m, &s, &e), RAGDB_OK);
	rdb_store_close(s);
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_open(path, 0, &db), RAGDB_EEMBEDDER);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "hash-v0"));
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "hash-v1"));
	ragdb_results *r = NULL;
	ck_assert_int_eq(ragdb_search(db, "x", NULL, &r), RAGDB_EINVAL);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* No knowledge base: ENOTFOUND with the init hint; create twice: EEXIST. */
START_TEST(open_missing_and_exists)
{
	char *dir = tu_tmpdir("engine");
	ragdb *db = NULL;
	ck_assert_int_eq(ragdb_open(dir, 0, &db), RAGDB_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "init"));
	ragdb_close(db);
	ck_assert_int_eq(ragdb_create(dir, NULL, &db), RAGDB_OK);
	ragdb_close(db);
	ck_assert_int_eq(ragdb_create(dir, NULL, &db), RAGDB_EEXIST);
	ragdb_close(db);
	ck_assert_int_eq(ragdb_open(dir, RAGDB_RDONLY, &db), RAGDB_OK);
	ck_assert_int_eq(ragdb_ingest_text(db, DOCS, 1, NULL, NULL), RAGDB_EREADONLY);
	ck_assert_int_eq(ragdb_delete(db, "keys"), RAGDB_EREADONLY);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A map far too small for the ingest grows on MDB_MAP_FULL and every
 * document ends up stored, consistent. */
START_TEST(map_full_grows)
{
	setenv("RAGDB_MAP_SIZE", "262144", 1);
	char *dir;
	ragdb *db = fresh(&dir);
	unsetenv("RAGDB_MAP_SIZE");
	enum { N = 300 };
	ragdb_document docs[N];
	char ids[N][16];
	char *text = malloc(8000);
	for (int i = 0; i < 7999; i++)
		text[i] = "abcdefgh ijklmnop qrstuvw xyz. "[i % 31];
	text[7999] = 0;
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof ids[i], "d%d", i);
		docs[i] = (ragdb_document){.id = ids[i], .text = text, .text_len = (size_t)-1};
	}
	ragdb_ingest_summary s;
	ck_assert_msg(ragdb_ingest_text(db, docs, N, NULL, &s) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_eq(s.added, N);
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	ck_assert_uint_eq(st.documents, N);
	ck_assert(st.map_bytes > 262144);
	uint64_t problems = 1;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &problems), RAGDB_OK);
	ck_assert_uint_eq(problems, 0);
	free(text);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

struct reader_arg {
	const char *path;
	int searches, failures;
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;
	ragdb *db = NULL;
	if (ragdb_open(a->path, RAGDB_RDONLY, &db) != RAGDB_OK) {
		a->failures++;
		ragdb_close(db);
		return NULL;
	}
	for (int i = 0; i < 50; i++) {
		ragdb_results *r = NULL;
		if (ragdb_search(db, "signing keys rotation", NULL, &r) != RAGDB_OK)
			a->failures++;
		else
			a->searches++;
		ragdb_results_free(r);
	}
	ragdb_close(db);
	return NULL;
}

/* Searches from another handle run while a writer ingests, and never fail. */
START_TEST(readers_during_writes)
{
	char *dir;
	ragdb *db = fresh_with_docs(&dir);
	char path[4096];
	snprintf(path, sizeof path, "%s/kb", dir);
	struct reader_arg a = {path, 0, 0};
	pthread_t th;
	pthread_create(&th, NULL, reader_thread, &a);
	for (int i = 0; i < 30; i++) {
		char id[32], text[128];
		snprintf(id, sizeof id, "w%d", i);
		snprintf(text, sizeof text, "Write number %d about key rotation and backups.", i);
		ragdb_document d = {.id = id, .text = text, .text_len = (size_t)-1};
		ck_assert_int_eq(ragdb_ingest_text(db, &d, 1, NULL, NULL), RAGDB_OK);
	}
	pthread_join(th, NULL);
	ck_assert_int_eq(a.failures, 0);
	ck_assert_int_eq(a.searches, 50);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Files: a directory walk stores each file under its relative path; a
 * second ingest is a no-op; a nonexistent path is ENOTFOUND and loses nothing. */
START_TEST(ingest_files)
{
	char *dir;
	ragdb *db = fresh(&dir);
	char p1[4096], p2[4096], root[4096], missing[4096];
	snprintf(root, sizeof root, "%s/docs", dir);
	snprintf(p1, sizeof p1, "%s/docs/a.md", dir);
	snprintf(p2, sizeof p2, "%s/docs/sub/b.txt", dir);
	snprintf(missing, sizeof missing, "%s/nope", dir);
	const char *md = "# Alpha\n\nThe alpha service answers on port 8443.\n";
	const char *txt = "Beta notes: the beta queue drains every night.\n";
	ck_assert_int_eq(tu_write_file(p1, md, strlen(md)), 0);
	ck_assert_int_eq(tu_write_file(p2, txt, strlen(txt)), 0);
	const char *paths[] = {root};
	ragdb_ingest_summary s;
	ck_assert_msg(ragdb_ingest_paths(db, paths, 1, NULL, &s) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_eq(s.added, 2);
	ragdb_doc_info *info = NULL;
	ck_assert_int_eq(ragdb_show(db, "sub/b.txt", &info), RAGDB_OK);
	ragdb_doc_info_free(info);
	ck_assert_int_eq(ragdb_show(db, "a.md", &info), RAGDB_OK);
	ck_assert_str_eq(info->title, "Alpha");
	ragdb_doc_info_free(info);
	ck_assert_int_eq(ragdb_ingest_paths(db, paths, 1, NULL, &s), RAGDB_OK);
	ck_assert_uint_eq(s.unchanged, 2);
	ck_assert_uint_eq(s.embeddings, 0);
	const char *bad[] = {root, missing};
	ck_assert_int_eq(ragdb_ingest_paths(db, bad, 2, NULL, &s), RAGDB_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "nope"));
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	ck_assert_uint_eq(st.documents, 2);
	uint64_t n = 0;
	ck_assert_int_eq(ragdb_delete_source(db, root, &n), RAGDB_OK);
	ck_assert_uint_eq(n, 2);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

static void count_delta(void *ctx, const char *text, size_t len)
{
	size_t *total = ctx;
	*total += len;
	ck_assert_uint_eq(strlen(text), len);
}

/* What is not built yet is refused with RAGDB_EUNSUPPORTED, never ignored;
 * a language model without its key is refused before any request;
 * on_delta receives the whole extractive answer; ragdb_embed gives the
 * search vectors. */
START_TEST(unbuilt_refused_and_embed)
{
	char *dir;
	ragdb *db = fresh_with_docs(&dir);
	ragdb_results *r = NULL;
	/* BM25 and filters are built (test_engine_search.c covers them); a bad
	 * filter is refused with EINVAL naming it. */
	ragdb_search_options so = {.mode = RAGDB_MODE_BM25};
	ck_assert_int_eq(ragdb_search(db, "keys", &so, &r), RAGDB_OK);
	ragdb_results_free(r);
	const char *f[] = {"lang=>en"};
	ragdb_search_options fo = {.filters = f, .n_filters = 1};
	ck_assert_int_eq(ragdb_search(db, "keys", &fo, &r), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "lang=>en"));
	ragdb_answer *a = NULL;
	/* Language models are built (tests/e2e/test_providers_*.sh run them
	 * against fake servers): without a key the hosted API is not called,
	 * and an unknown provider is named. */
	unsetenv("OPENAI_API_KEY");
	unsetenv("OPENAI_BASE_URL");
	ragdb_query_options qo = {.model = "openai:gpt-4o"};
	ck_assert_int_eq(ragdb_query(db, "keys?", &qo, &a), RAGDB_EPERM);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "OPENAI_API_KEY"));
	ragdb_query_options qx = {.model = "nosuch:model-x"};
	ck_assert_int_eq(ragdb_query(db, "keys?", &qx, &a), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "nosuch:model-x"));
	size_t total = 0;
	ragdb_query_options so2 = {.on_delta = count_delta, .ctx = &total};
	ck_assert_int_eq(ragdb_query(db, "How do I rotate the keys?", &so2, &a), RAGDB_OK);
	ck_assert_uint_eq(total, strlen(a->answer));
	ragdb_answer_free(a);
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	float *v = malloc(sizeof(float) * st.dim * 2);
	const char *texts[] = {"rotate the signing keys", ""};
	ck_assert_int_eq(ragdb_embed(db, texts, 2, 1, v), RAGDB_OK);
	double norm = 0, zero = 0;
	for (uint32_t i = 0; i < st.dim; i++) {
		norm += (double)v[i] * v[i];
		zero += (double)v[st.dim + i] * v[st.dim + i];
	}
	ck_assert(norm > 0.999 && norm < 1.001);
	ck_assert(zero == 0);
	free(v);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("api");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, search_finds_passage);
	tcase_add_test(tc, search_k_and_empty);
	tcase_add_test(tc, batch_equals_single);
	tcase_add_test(tc, query_extractive);
	tcase_add_test(tc, incremental_and_delete);
	tcase_add_test(tc, ingest_text_refusals);
	tcase_add_test(tc, embedder_mismatch);
	tcase_add_test(tc, open_missing_and_exists);
	tcase_add_test(tc, map_full_grows);
	tcase_add_test(tc, readers_during_writes);
	tcase_add_test(tc, ingest_files);
	tcase_add_test(tc, unbuilt_refused_and_embed);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
