/* tests/unit/test_ingest_jsonl.c — JSONL / JSON-array records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "testutil.h"

/* Collects records as "line|id|title|text|meta\n" and bad lines. */
typedef struct col {
	char out[8192];
	char bad[4096];
	int n, nbad, stop_after;
} col;

static int on_rec(void *ctx, const rdb_record *r)
{
	col *c = ctx;
	ck_assert_uint_eq(strlen(r->text), r->text_len);
	snprintf(c->out + strlen(c->out), sizeof c->out - strlen(c->out), "%zu|%s|%s|%s|%s\n",
	         r->line, r->id, r->title ? r->title : "-", r->text, r->meta_json ? r->meta_json : "-");
	c->n++;
	return c->stop_after && c->n >= c->stop_after;
}

static void on_bad(void *ctx, size_t line, const char *msg)
{
	col *c = ctx;
	snprintf(c->bad + strlen(c->bad), sizeof c->bad - strlen(c->bad), "%zu: %s\n", line, msg);
	c->nbad++;
}

static ragdb_status run(const char *data, const rdb_jsonl_fields *f, int skip, col *c, rdb_err *e)
{
	memset(c, 0, sizeof *c);
	rdb_err_clear(e);
	return rdb_jsonl_each(data, strlen(data), f, skip, on_rec, on_bad, c, e);
}

/* Plain JSONL with ids, titles, metadata, blank lines; numeric ids. */
START_TEST(test_jsonl_good)
{
	const char *d = "{\"id\":\"a\",\"text\":\"alpha\",\"title\":\"A\",\"lang\":\"en\",\"n\":2}\n"
	                "\n"
	                "   \n"
	                "{\"id\":7,\"text\":\"seven\",\"tags\":[\"x\",\"y\"]}\n"
	                "{\"id\":-3,\"text\":\"neg\"}\n"
	                "{\"id\":1.5,\"text\":\"frac\",\"title\":null}";
	col c;
	rdb_err e;
	ck_assert_int_eq(run(d, NULL, 0, &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "1|a|A|alpha|{\"lang\":\"en\",\"n\":2}\n"
	                        "4|7|-|seven|{\"tags\":[\"x\",\"y\"]}\n"
	                        "5|-3|-|neg|-\n"
	                        "6|1.5|-|frac|-\n");
}
END_TEST

/* BEIR-style corpus lines: "_id", "title", "text", extra metadata. */
START_TEST(test_jsonl_beir)
{
	const char *d = "{\"_id\": \"doc1\", \"title\": \"T1\", \"text\": \"body one\", \"metadata\": {}}\n"
	                "{\"_id\": \"doc2\", \"title\": \"\", \"text\": \"body two\"}\n";
	col c;
	rdb_err e;
	ck_assert_int_eq(run(d, NULL, 0, &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "1|doc1|T1|body one|{\"metadata\":{}}\n2|doc2||body two|-\n");
}
END_TEST

/* Custom field names; with an id field named, "_id" is not a fallback and
 * the default-named fields become metadata. */
START_TEST(test_jsonl_fields)
{
	const char *d = "{\"key\":\"k1\",\"body\":\"b\",\"name\":\"N\",\"id\":\"other\",\"text\":\"t\"}\n";
	rdb_jsonl_fields f = { "key", "body", "name" };
	col c;
	rdb_err e;
	ck_assert_int_eq(run(d, &f, 0, &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "1|k1|N|b|{\"id\":\"other\",\"text\":\"t\"}\n");
	ck_assert_int_eq(run("{\"_id\":\"x\",\"body\":\"b\"}", &f, 0, &c, &e), RAGDB_EBADINPUT);
	ck_assert_str_eq(e.msg, "line 1: no \"key\" field (use --id-field to name it)");
}
END_TEST

typedef struct bad_case {
	const char *data;
	const char *msg;
} bad_case;

static const bad_case k_bad[] = {
	{ "{\"id\":\"a\",\"text\":\"x\"}\nnot json\n", "line 2: not valid JSON (expected an object per line)" },
	{ "{\"id\":\"a\",\"text\":\"x\"} trailing\n", "line 1: not valid JSON (expected an object per line)" },
	{ "{\"id\":\"a\",\"text\":\"b\"}\n\n[1]x\n", "line 3: not valid JSON (expected an object per line)" },
	{ "\"str\"\n", "line 1: expected a JSON object, found a string" },
	{ "{\"text\":\"x\"}\n", "line 1: no \"id\" or \"_id\" field (use --id-field to name it)" },
	{ "{\"id\":\"a\"}\n", "line 1: no \"text\" field (use --text-field to name it)" },
	{ "{\"id\":\"a\",\"text\":5}\n", "line 1: \"text\" must be a string, found a number" },
	{ "{\"id\":true,\"text\":\"x\"}\n", "line 1: \"id\" must be a string or a number, found a boolean" },
	{ "{\"id\":\"\",\"text\":\"x\"}\n", "line 1: \"id\" is empty; every record needs an id" },
	{ "{\"id\":\"x\",\"text\":\"a\"}\n{\"id\":\"y\",\"text\":\"b\"}\n{\"id\":\"x\",\"text\":\"c\"}\n",
	  "line 3: duplicate id \"x\" (first seen on line 1)" },
	{ "{\"id\":2,\"text\":\"a\"}\n{\"id\":\"2\",\"text\":\"b\"}\n",
	  "line 2: duplicate id \"2\" (first seen on line 1)" },
};

/* Each bad record: RAGDB_EBADINPUT and the message naming its line. */
START_TEST(test_jsonl_bad_table)
{
	for (size_t i = 0; i < sizeof k_bad / sizeof *k_bad; i++) {
		col c;
		rdb_err e;
		ck_assert_int_eq(run(k_bad[i].data, NULL, 0, &c, &e), RAGDB_EBADINPUT);
		ck_assert_msg(strcmp(e.msg, k_bad[i].msg) == 0, "case %zu: \"%s\"", i, e.msg);
	}
}
END_TEST

/* skip_bad: bad lines go to on_bad and the good ones still come. */
START_TEST(test_jsonl_skip_bad)
{
	const char *d = "{\"id\":\"a\",\"text\":\"1\"}\n"
	                "oops\n"
	                "{\"id\":\"a\",\"text\":\"dup\"}\n"
	                "{\"id\":\"b\"}\n"
	                "{\"id\":\"c\",\"text\":\"3\"}\n";
	col c;
	rdb_err e;
	ck_assert_int_eq(run(d, NULL, 1, &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "1|a|-|1|-\n5|c|-|3|-\n");
	ck_assert_str_eq(c.bad, "2: not valid JSON (expected an object per line)\n"
	                        "3: duplicate id \"a\" (first seen on line 1)\n"
	                        "4: no \"text\" field (use --text-field to name it)\n");
}
END_TEST

/* CRLF line ends and a UTF-8 BOM; a last line without '\n'. */
START_TEST(test_jsonl_crlf_bom)
{
	const char *d = "\xEF\xBB\xBF{\"id\":\"a\",\"text\":\"x\\ny\"}\r\n\r\n{\"id\":\"b\",\"text\":\"z\"}";
	col c;
	rdb_err e;
	ck_assert_int_eq(run(d, NULL, 0, &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "1|a|-|x\ny|-\n3|b|-|z|-\n");
}
END_TEST

/* A JSON array of objects, elements spanning lines; strings holding
 * brackets and commas; errors name the element's line. */
START_TEST(test_jsonl_array)
{
	const char *d = "\n[\n"
	                "  {\"id\": \"a\", \"text\": \"x, [y] {z}\"},\n"
	                "  {\"id\": \"b\",\n"
	                "   \"text\": \"q \\\" ]\", \"extra\": [1, {\"k\": 2}]}\n"
	                "]\n";
	col c;
	rdb_err e;
	ck_assert_int_eq(run(d, NULL, 0, &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "3|a|-|x, [y] {z}|-\n4|b|-|q \" ]|{\"extra\":[1,{\"k\":2}]}\n");
	ck_assert_int_eq(run("[{\"id\":\"a\",\"text\":\"x\"},\n 5,\n {\"id\":\"b\",\"text\":\"y\"}]", NULL, 1,
	                     &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "1|a|-|x|-\n3|b|-|y|-\n");
	ck_assert_str_eq(c.bad, "2: expected a JSON object, found a number\n");
	ck_assert_int_eq(run("[{\"id\":\"a\",\"text\":\"x\"}", NULL, 0, &c, &e), RAGDB_EBADINPUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "not closed"));
	ck_assert_int_eq(run("[]", NULL, 0, &c, &e), RAGDB_OK);
	ck_assert_int_eq(c.n, 0);
	ck_assert_int_eq(run("[{\"id\":\"a\",\"text\":\"x\"}] junk", NULL, 0, &c, &e), RAGDB_EBADINPUT);
}
END_TEST

/* Pretty-printed objects spanning lines (a .json file holding one record). */
START_TEST(test_jsonl_multiline_object)
{
	const char *d = "{\n  \"id\": \"one\",\n  \"text\": \"t1\"\n}\n{\n  \"id\": \"two\",\n  \"text\": \"t2\"\n}\n";
	col c;
	rdb_err e;
	ck_assert_int_eq(run(d, NULL, 0, &c, &e), RAGDB_OK);
	ck_assert_str_eq(c.out, "1|one|-|t1|-\n5|two|-|t2|-\n");
}
END_TEST

/* The callback stops the parse with RAGDB_EINTR; empty input is fine. */
START_TEST(test_jsonl_stop_empty)
{
	col c;
	rdb_err e;
	memset(&c, 0, sizeof c);
	c.stop_after = 1;
	const char *d = "{\"id\":\"a\",\"text\":\"1\"}\n{\"id\":\"b\",\"text\":\"2\"}\n";
	ck_assert_int_eq(rdb_jsonl_each(d, strlen(d), NULL, 0, on_rec, on_bad, &c, &e), RAGDB_EINTR);
	ck_assert_int_eq(c.n, 1);
	ck_assert_int_eq(run("", NULL, 0, &c, &e), RAGDB_OK);
	ck_assert_int_eq(run("\n \n", NULL, 0, &c, &e), RAGDB_OK);
	ck_assert_int_eq(c.n, 0);
}
END_TEST

static int count_rec(void *ctx, const rdb_record *r)
{
	(*(size_t *)ctx)++;
	(void)r;
	return 0;
}

/* Many records: the id set grows and every id is distinct. */
START_TEST(test_jsonl_many)
{
	size_t n = 50000, cap = n * 40 + 1, len = 0;
	char *d = malloc(cap);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(d + len, cap - len, "{\"id\":\"doc-%zu\",\"text\":\"t\"}\n", i);
	size_t got = 0;
	rdb_err e;
	ck_assert_int_eq(rdb_jsonl_each(d, len, NULL, 0, count_rec, NULL, &got, &e), RAGDB_OK);
	ck_assert_uint_eq(got, n);
	free(d);
}
END_TEST

static int ignore_rec(void *ctx, const rdb_record *r)
{
	(void)ctx;
	ck_assert_ptr_nonnull(r->id);
	ck_assert_ptr_nonnull(r->text);
	return 0;
}

/* Garbage made of JSON pieces: never crashes, and with skip_bad always
 * finishes (OK) or reports a bad array/multi-line object (EBADINPUT). */
START_TEST(test_jsonl_garbage)
{
	static const char *const pieces[] = { "{", "}", "[", "]", "\"id\"", "\"text\"", ":", ",", "\"x\"",
	                                      "1", "\n", "\r\n", " ", "\\", "\"", "null", "\xEF\xBB\xBF" };
	unsigned seed = 9;
	char buf[2048];
	for (int round = 0; round < 3000; round++) {
		size_t len = 0;
		int k = (int)(rand_r(&seed) % 60);
		for (int i = 0; i < k; i++) {
			const char *p = pieces[rand_r(&seed) % (sizeof pieces / sizeof *pieces)];
			size_t pl = strlen(p);
			memcpy(buf + len, p, pl);
			len += pl;
		}
		rdb_err e;
		int st = rdb_jsonl_each(buf, len, NULL, (int)(round & 1), ignore_rec, NULL, NULL, &e);
		ck_assert(st == RAGDB_OK || st == RAGDB_EBADINPUT);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ingest_jsonl");
	TCase *tc = tcase_create("jsonl");
	tcase_add_test(tc, test_jsonl_good);
	tcase_add_test(tc, test_jsonl_beir);
	tcase_add_test(tc, test_jsonl_fields);
	tcase_add_test(tc, test_jsonl_bad_table);
	tcase_add_test(tc, test_jsonl_skip_bad);
	tcase_add_test(tc, test_jsonl_crlf_bom);
	tcase_add_test(tc, test_jsonl_array);
	tcase_add_test(tc, test_jsonl_multiline_object);
	tcase_add_test(tc, test_jsonl_stop_empty);
	tcase_add_test(tc, test_jsonl_many);
	tcase_add_test(tc, test_jsonl_garbage);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
