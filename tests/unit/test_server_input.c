/*
 * tests/unit/test_server_input.c — the server's checks of hostile input,
 * called directly (no HTTP): UTF-8 validation, request bodies that cJSON
 * alone would accept (invalid UTF-8, raw control characters, trailing
 * garbage, leading zeros) or pay for (deep nesting), unknown fields, ids in
 * paths, and error messages that quote client bytes staying valid UTF-8.
 * The soak (tests/soak/serve_soak.sh) sends the same over real HTTP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "server/internal.h"
#include "testutil.h"

static rdb_srv_config g_cfg;

/* A request with @p body (copied, NUL-ended as the HTTP layer makes it). */
static srv_req make_req(const char *body, size_t len)
{
	srv_req rq;

	memset(&rq, 0, sizeof rq);
	rdb_srv_config_init(&g_cfg);
	rq.cfg = &g_cfg;
	rq.body = malloc(len + 1);
	memcpy(rq.body, body, len);
	rq.body[len] = '\0';
	rq.body_len = len;
	rq.method = SRV_POST;
	return rq;
}

/* Parse @p body; returns the status left in the response (0 when parsed)
 * and copies the error message into @p msg. */
static int parse_status(const char *body, size_t len, char *msg, size_t cap)
{
	srv_req rq = make_req(body, len);
	srv_resp rs;
	cJSON *j;
	int st;

	memset(&rs, 0, sizeof rs);
	j = srv_parse_body(&rq, &rs);
	st = j ? 0 : rs.status;
	if (msg)
		snprintf(msg, cap, "%s", rs.body ? rs.body : "");
	if (j)
		ck_assert_int_eq(rs.status, 0);
	cJSON_Delete(j);
	free(rs.body);
	free(rq.body);
	return st;
}

#define PARSE(lit, m) parse_status((lit), sizeof(lit) - 1, (m), sizeof(m))

/* Valid UTF-8 passes whole; each kind of invalid sequence stops the valid
 * prefix exactly where it starts. */
START_TEST(utf8_prefix)
{
	ck_assert_uint_eq(srv_utf8_valid_prefix("plain", 5), 5);
	ck_assert_uint_eq(srv_utf8_valid_prefix("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14), 14);
	ck_assert_uint_eq(srv_utf8_valid_prefix("ab\xff", 3), 2);          /* never a lead byte */
	ck_assert_uint_eq(srv_utf8_valid_prefix("a\xc0\xaf", 3), 1);       /* overlong '/' */
	ck_assert_uint_eq(srv_utf8_valid_prefix("a\xe0\x80\xaf", 4), 1);   /* overlong, 3 bytes */
	ck_assert_uint_eq(srv_utf8_valid_prefix("a\xed\xa0\x80", 4), 1);   /* a UTF-16 surrogate */
	ck_assert_uint_eq(srv_utf8_valid_prefix("a\xf4\x90\x80\x80", 5), 1); /* past U+10FFFF */
	ck_assert_uint_eq(srv_utf8_valid_prefix("a\xe2\x82", 3), 1);       /* cut short */
	ck_assert_uint_eq(srv_utf8_valid_prefix("a\x80", 2), 1);           /* stray continuation */
	ck_assert_uint_eq(srv_utf8_valid_prefix("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF itself */
}
END_TEST

/* Bodies cJSON would take but JSON forbids are 400s that say why; valid
 * bodies that look close to them parse. */
START_TEST(body_checks)
{
	char m[2048];

	ck_assert_int_eq(PARSE("{\"query\": \"caf\xc3\xa9\", \"k\": 10, \"x\": [0.5, -0, 1e05, \"01\"]}", m), 0);
	ck_assert_int_eq(PARSE("  {\"a\": \"tab\\tand\\u0001escaped\"}\n", m), 0);
	/* Exponents may start with zeros, signed or not (Python writes 8.3e-05). */
	ck_assert_int_eq(PARSE("{\"vector\": [-8.3e-05, 1E+07, 2e-0, 0.0e-00, -0.5E-010]}", m), 0);

	ck_assert_int_eq(PARSE("{\"query\": \"x\xff\"}", m), 400);
	ck_assert_msg(strstr(m, "not valid UTF-8"), "%s", m);
	ck_assert_int_eq(PARSE("{\"query\": \"x\xed\xa0\x80\"}", m), 400);
	ck_assert_int_eq(PARSE("{\"query\": \"a\x01z\"}", m), 400);
	ck_assert_msg(strstr(m, "control character"), "%s", m);
	ck_assert_int_eq(PARSE("{\"query\": \"a\0b\"}", m), 400);
	ck_assert_int_eq(PARSE("{\"query\": \"x\"}}", m), 400);
	ck_assert_msg(strstr(m, "not valid JSON"), "%s", m);
	ck_assert_int_eq(PARSE("{\"query\": \"x\"} {}", m), 400);
	ck_assert_int_eq(PARSE("{\"k\": 01}", m), 400);
	ck_assert_msg(strstr(m, "leading zero"), "%s", m);
	ck_assert_int_eq(PARSE("[-00]", m), 400);
	ck_assert_int_eq(PARSE("[1, -01e-05]", m), 400);
	ck_assert_int_eq(PARSE("[1,\n 007]", m), 400);
	ck_assert_int_eq(PARSE("", m), 400);
	ck_assert_msg(strstr(m, "empty"), "%s", m);
	ck_assert_int_eq(PARSE("{\"query\": \"\\ud800\"}", m), 400);
}
END_TEST

/* Nesting past max_json_depth is refused before cJSON recurses into it,
 * however deep (10,000 and 1,000,000 levels) and whether closed or not. */
START_TEST(body_depth)
{
	size_t n = 1000000;
	char *b = malloc(2 * n + 2), m[512];

	memset(b, '[', n);
	memset(b + n, ']', n);
	ck_assert_int_eq(parse_status(b, 2 * n, m, sizeof m), 400);
	ck_assert_msg(strstr(m, "nested deeper than 64"), "%s", m);
	ck_assert_int_eq(parse_status(b + n - 10000, 10000, m, sizeof m), 400);
	ck_assert_int_eq(parse_status(b + n - 64, 128, m, sizeof m), 0);
	ck_assert_int_eq(parse_status(b + n - 65, 130, m, sizeof m), 400);
	free(b);
}
END_TEST

/* Unknown fields are named in the 400; known ones pass. */
START_TEST(unknown_fields)
{
	static const char *const known[] = { "query", "k", NULL };
	cJSON *ok = cJSON_Parse("{\"query\": \"x\", \"k\": 3}");
	cJSON *bad = cJSON_Parse("{\"query\": \"x\", \"topk\": 3}");
	srv_resp rs;

	memset(&rs, 0, sizeof rs);
	ck_assert_int_eq(srv_check_fields(ok, known, "a search request", &rs), 0);
	ck_assert_int_eq(rs.status, 0);
	ck_assert_int_eq(srv_check_fields(bad, known, "a search request", &rs), -1);
	ck_assert_int_eq(rs.status, 400);
	ck_assert_msg(strstr(rs.body, "\\\"topk\\\"") && strstr(rs.body, "query, k"), "%s", rs.body);
	free(rs.body);
	cJSON_Delete(ok);
	cJSON_Delete(bad);
}
END_TEST

/* An error message quoting invalid bytes is still valid UTF-8 JSON. */
START_TEST(error_scrubbed)
{
	srv_resp rs;
	cJSON *j;

	memset(&rs, 0, sizeof rs);
	srv_error(&rs, 404, "not_found", "no document with id \"%s\"", "a\xff\xfe\xc3");
	ck_assert_int_eq(rs.status, 404);
	ck_assert_uint_eq(srv_utf8_valid_prefix(rs.body, rs.len), rs.len);
	j = cJSON_Parse(rs.body);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")->valuestring,
	                 "no document with id \"a???\"");
	cJSON_Delete(j);
	free(rs.body);
}
END_TEST

/* Ids in /v1/documents/ID are checked before the knowledge base is asked
 * (no handle here: a check that let one through would crash). */
START_TEST(path_ids)
{
	static const char *const bad[] = { "\xff\xfe", "a\x01" "b", "x\xc0\xaf" };
	char long_id[2000];
	srv_req rq = make_req("", 0);
	srv_resp rs;

	memset(long_id, 'a', sizeof long_id - 1);
	long_id[sizeof long_id - 1] = '\0';
	for (int method = 0; method < 2; method++) {
		rq.method = method ? SRV_DELETE : SRV_GET;
		for (size_t i = 0; i <= sizeof bad / sizeof bad[0]; i++) {
			rq.rest = i < sizeof bad / sizeof bad[0] ? bad[i] : long_id;
			memset(&rs, 0, sizeof rs);
			srv_h_document(&rq, &rs);
			ck_assert_msg(rs.status == 400, "id %zu: status %d", i, rs.status);
			ck_assert_uint_eq(srv_utf8_valid_prefix(rs.body, rs.len), rs.len);
			free(rs.body);
		}
	}
	free(rq.body);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("server_input");
	TCase *tc = tcase_create("input");

	tcase_add_test(tc, utf8_prefix);
	tcase_add_test(tc, body_checks);
	tcase_add_test(tc, body_depth);
	tcase_add_test(tc, unknown_fields);
	tcase_add_test(tc, error_scrubbed);
	tcase_add_test(tc, path_ids);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
