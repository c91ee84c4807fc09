/* tests/unit/test_engine_readers.c — rich formats through the public API:
 * ragdb_ingest_text converts HTML and PDF documents given as bytes (title
 * from the document unless given), a document that fails to convert fails
 * the whole call with RAGDB_EBADINPUT naming it and stores nothing; CSV
 * given as a document is plain text; ragdb_show rebuilds a document whose
 * table was split (chunks with the header repeated). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ragdb.h"
#include "ingest/ingest.h"
#include "testutil.h"

static ragdb *fresh(char **dir, uint32_t tokens)
{
	*dir = tu_tmpdir("engine_readers");
	char path[4096];
	snprintf(path, sizeof path, "%s/kb", *dir);
	ragdb *db = NULL;
	ragdb_create_options o = { .chunk_tokens = tokens, .chunk_overlap = tokens ? 8 : 0 };
	ck_assert_int_eq(ragdb_create(path, &o, &db), RAGDB_OK);
	return db;
}

static char *pdf_bytes(size_t *len)
{
	const char *dir = getenv("RAGDB_TEST_DATA");
	char path[1024];
	snprintf(path, sizeof path, "%s/readers/sample.pdf", dir ? dir : "tests/fixtures");
	char *data = NULL;
	rdb_err e;
	ck_assert_msg(rdb_read_file(path, &data, len, &e) == RAGDB_OK, "%s", e.msg);
	return data;
}

static uint64_t count_docs(ragdb *db)
{
	ragdb_stats st;
	ck_assert_int_eq(ragdb_get_stats(db, &st), RAGDB_OK);
	return st.documents;
}

/* HTML and PDF bytes given as documents are converted; their titles come
 * from the documents; a search hit in the PDF names its page. */
START_TEST(ingest_text_converts)
{
	char *dir;
	ragdb *db = fresh(&dir, 0);
	size_t plen;
	char *pdf = pdf_bytes(&plen);
	const char *html = "<html><head><title>Docks</title></head><body><h1>Cranes</h1>"
	                   "<p>The gantry cranes unload ships at night.</p><script>no()</script></body></html>";
	ragdb_document docs[] = {
		{ .id = "page", .text = html, .text_len = (size_t)-1, .format = RAGDB_FORMAT_HTML },
		{ .id = "notes", .text = pdf, .text_len = plen, .format = RAGDB_FORMAT_PDF },
		{ .id = "rows", .text = "id,text\n1,hello\n", .text_len = (size_t)-1, .format = RAGDB_FORMAT_CSV },
	};
	ragdb_ingest_summary s;
	ck_assert_msg(ragdb_ingest_text(db, docs, 3, NULL, &s) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_eq(s.added, 3);
	ragdb_doc_info *d = NULL;
	ck_assert_int_eq(ragdb_show(db, "page", &d), RAGDB_OK);
	ck_assert_str_eq(d->title, "Docks");
	ck_assert_ptr_null(strstr(d->text, "no()"));
	ck_assert_ptr_nonnull(strstr(d->text, "# Cranes"));
	ragdb_doc_info_free(d);
	ck_assert_int_eq(ragdb_show(db, "notes", &d), RAGDB_OK);
	ck_assert_str_eq(d->title, "Energy Notes");
	ragdb_doc_info_free(d);
	ck_assert_int_eq(ragdb_show(db, "rows", &d), RAGDB_OK);
	ck_assert_ptr_nonnull(strstr(d->text, "id,text"));
	ragdb_doc_info_free(d);
	ragdb_results *r = NULL;
	ragdb_search_options so = { .k = 1, .mode = RAGDB_MODE_VECTOR };
	ck_assert_int_eq(ragdb_search(db, "wind turbines", &so, &r), RAGDB_OK);
	ck_assert_uint_eq(r->n, 1);
	ck_assert_str_eq(r->hits[0].id, "notes");
	ck_assert_str_eq(r->hits[0].heading, "Page 2");
	ragdb_results_free(r);
	free(pdf);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* One document that cannot be converted fails the call, names itself, and
 * nothing of the call is stored. */
START_TEST(ingest_text_bad_document)
{
	char *dir;
	ragdb *db = fresh(&dir, 0);
	ragdb_document docs[] = {
		{ .id = "good", .text = "<p>fine</p>", .text_len = (size_t)-1, .format = RAGDB_FORMAT_HTML },
		{ .id = "broken", .text = "%PDF-1.4 nonsense", .text_len = (size_t)-1, .format = RAGDB_FORMAT_PDF },
	};
	ragdb_ingest_summary s;
	ck_assert_int_eq(ragdb_ingest_text(db, docs, 2, NULL, &s), RAGDB_EBADINPUT);
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "broken"));
	ck_assert_ptr_nonnull(strstr(ragdb_errmsg(db), "PDF"));
	ck_assert_uint_eq(count_docs(db), 0);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A Markdown table split over chunks: show gives back the document's
 * words, every chunk is searchable, check finds no problem. */
START_TEST(split_table_roundtrip)
{
	char *dir;
	ragdb *db = fresh(&dir, 48);
	char doc[8192];
	size_t o = (size_t)snprintf(doc, sizeof doc, "# Stock\n\n| Item | Count |\n|---|---|\n");
	for (int i = 0; i < 50; i++)
		o += (size_t)snprintf(doc + o, sizeof doc - o, "| bolt %d | %d |\n", i, i * 3);
	ragdb_document d0 = { .id = "stock", .text = doc, .text_len = o, .format = RAGDB_FORMAT_MARKDOWN };
	ragdb_ingest_summary s;
	ck_assert_msg(ragdb_ingest_text(db, &d0, 1, NULL, &s) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_ge(s.chunks, 3);
	ragdb_doc_info *d = NULL;
	ck_assert_msg(ragdb_show(db, "stock", &d) == RAGDB_OK, "%s", ragdb_errmsg(db));
	ck_assert_uint_eq(strlen(d->text), o);
	/* same bytes except that single newlines between chunks may be spaces */
	for (size_t i = 0; i < o; i++)
		ck_assert(d->text[i] == doc[i] || (doc[i] == '\n' && d->text[i] == ' '));
	ragdb_doc_info_free(d);
	ragdb_results *r = NULL;
	ragdb_search_options so = { .k = 1, .mode = RAGDB_MODE_VECTOR };
	ck_assert_int_eq(ragdb_search(db, "bolt 42 126", &so, &r), RAGDB_OK);
	ck_assert(strncmp(r->hits[0].text, "| Item | Count |\n|---|---|\n", 27) == 0);
	ck_assert_uint_gt(r->hits[0].text_len, r->hits[0].end - r->hits[0].start);
	ragdb_results_free(r);
	uint64_t problems = 1;
	ck_assert_int_eq(ragdb_check(db, NULL, NULL, &problems), RAGDB_OK);
	ck_assert_uint_eq(problems, 0);
	ragdb_close(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine_readers");
	TCase *tc = tcase_create("readers");
	tcase_add_test(tc, ingest_text_converts);
	tcase_add_test(tc, ingest_text_bad_document);
	tcase_add_test(tc, split_table_roundtrip);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
