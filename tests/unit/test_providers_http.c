/*
 * tests/unit/test_providers_http.c — the provider plumbing that needs no
 * server: the SSE and line parsers (split at every byte boundary), the
 * Retry-After parser, the quoting of provider error bodies, and the
 * configuration (precedence flag > environment > file > default, keys
 * expanded only at use, malformed files named).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/providers/config.h"
#include "engine/providers/http.h"
#include "testutil.h"

static void write_str(const char *path, const char *s)
{
	ck_assert_int_eq(tu_write_file(path, s, strlen(s)), 0);
}

typedef struct collect {
	char buf[8192];
	size_t len;
	int n;
} collect;

static int on_ev(void *ctx, const char *event, const char *data, size_t len)
{
	collect *c = ctx;
	c->len += (size_t)snprintf(c->buf + c->len, sizeof c->buf - c->len, "<%s|%.*s>", event,
	                           (int)len, data);
	c->n++;
	return 0;
}

static int on_ln(void *ctx, const char *line, size_t len)
{
	collect *c = ctx;
	c->len += (size_t)snprintf(c->buf + c->len, sizeof c->buf - c->len, "[%.*s]", (int)len, line);
	c->n++;
	return 0;
}

/* An SSE stream with \n, \r\n and \r line ends, a comment, multi-line
 * data, a field without a space, an event without data (dropped) and an
 * incomplete last event (never dispatched): the same events for every way
 * of cutting it in two, and for one byte at a time. */
START_TEST(sse_every_split)
{
	static const char s[] =
		": keep-alive\n"
		"event: message_start\r\n"
		"data: {\"a\":1}\r\n\r\n"
		"event: ping\rdata:{}\r\r"
		"data: line one\n"
		"data: line two\n\n"
		"event: empty\n\n"
		"data: \xE2\x82\xAC euro\n\n"
		"data: [DONE]\n\n"
		"event: cut\ndata: never";
	const char *want = "<message_start|{\"a\":1}><ping|{}><message|line one\nline two>"
	                   "<message|\xE2\x82\xAC euro><message|[DONE]>";
	size_t n = sizeof s - 1;
	for (size_t cut = 0; cut <= n + 1; cut++) {
		collect c = {0};
		rdb_sse p;
		rdb_sse_init(&p, on_ev, &c);
		if (cut <= n) {
			ck_assert_int_eq(rdb_sse_feed(&p, s, cut), 0);
			ck_assert_int_eq(rdb_sse_feed(&p, s + cut, n - cut), 0);
		} else {
			for (size_t i = 0; i < n; i++)
				ck_assert_int_eq(rdb_sse_feed(&p, s + i, 1), 0);
		}
		ck_assert_msg(strcmp(c.buf, want) == 0, "cut at %zu: got %s", cut, c.buf);
		rdb_sse_free(&p);
	}
}
END_TEST

/* NDJSON lines: \n and \r\n ends, blank lines kept as empty, the last line
 * without a newline delivered at finish; every split gives the same. */
START_TEST(lines_every_split)
{
	static const char s[] = "{\"a\":1}\n{\"b\":2}\r\n\n{\"done\":true}";
	const char *want = "[{\"a\":1}][{\"b\":2}][][{\"done\":true}]";
	size_t n = sizeof s - 1;
	for (size_t cut = 0; cut <= n; cut++) {
		collect c = {0};
		rdb_lines l;
		rdb_lines_init(&l, 0, on_ln, &c);
		ck_assert_int_eq(rdb_lines_feed(&l, s, cut), 0);
		ck_assert_int_eq(rdb_lines_feed(&l, s + cut, n - cut), 0);
		ck_assert_int_eq(rdb_lines_finish(&l), 0);
		ck_assert_msg(strcmp(c.buf, want) == 0, "cut at %zu: got %s", cut, c.buf);
		rdb_lines_free(&l);
	}
}
END_TEST

/* A line longer than the cap fails instead of growing without bound. */
START_TEST(lines_capped)
{
	collect c = {0};
	rdb_lines l;
	rdb_lines_init(&l, 16, on_ln, &c);
	ck_assert_int_eq(rdb_lines_feed(&l, "0123456789", 10), 0);
	ck_assert_int_eq(rdb_lines_feed(&l, "0123456789", 10), -1);
	rdb_lines_free(&l);
}
END_TEST

/* Retry-After: delta seconds (fractions too), an HTTP date, garbage. */
START_TEST(retry_after)
{
	ck_assert_int_eq(rdb_http_retry_after_ms("2", 0), 2000);
	ck_assert_int_eq(rdb_http_retry_after_ms(" 0.5", 0), 500);
	ck_assert_int_eq(rdb_http_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470), 10000);
	ck_assert_int_eq(rdb_http_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0);
	ck_assert_int_eq(rdb_http_retry_after_ms("soon", 0), -1);
	ck_assert_int_eq(rdb_http_retry_after_ms("", 0), -1);
	ck_assert_int_eq(rdb_http_retry_after_ms("5x", 0), -1);
}
END_TEST

/* The provider's own message is found in each provider's error shape. */
START_TEST(error_text)
{
	char out[64];
	const char *a = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
	rdb_http_error_text(a, strlen(a), out, sizeof out);
	ck_assert_str_eq(out, "Overloaded");
	const char *o = "{\"error\":\"model 'x' not found\"}";
	rdb_http_error_text(o, strlen(o), out, sizeof out);
	ck_assert_str_eq(out, "model 'x' not found");
	const char *t = "upstream\nfailure";
	rdb_http_error_text(t, strlen(t), out, sizeof out);
	ck_assert_str_eq(out, "upstream failure");
	char small[6];
	rdb_http_error_text("\xE2\x82\xAC\xE2\x82\xAC", 6, small, sizeof small);
	ck_assert_str_eq(small, "\xE2\x82\xAC"); /* never half a character */
}
END_TEST

/* flag > environment > file > default for endpoints; the key stays a
 * reference until rdb_model_key expands it. */
START_TEST(config_precedence)
{
	char *dir = tu_tmpdir("cfg");
	char path[512];
	snprintf(path, sizeof path, "%s/ragdb.json", dir);
	write_str(path, "{\"timeout\": 5, \"models\": {\"m\": {\"provider\": \"openai\", \"model\": \"gpt-x\","
	                    " \"endpoint\": \"http://file:1/v1/\", \"api_key\": \"${TEST_KEY_VAR}\","
	                    " \"price_input\": 2.5, \"max_tokens\": 77}}}");
	rdb_config *c = NULL;
	rdb_err e = {0};
	ck_assert_int_eq(rdb_config_load(path, 1, &c, &e), RAGDB_OK);
	rdb_model_cfg m;
	unsetenv("OPENAI_BASE_URL");
	unsetenv("RAGDB_HTTP_TIMEOUT_MS");
	ck_assert_int_eq(rdb_config_resolve(c, "m", NULL, &m, &e), RAGDB_OK);
	ck_assert_str_eq(m.endpoint, "http://file:1/v1");
	ck_assert_str_eq(m.model, "gpt-x");
	ck_assert_uint_eq(m.max_tokens, 77);
	ck_assert(m.price_input == 2.5);
	ck_assert_int_eq(m.http.timeout_ms, 5000);
	ck_assert_str_eq(m.api_key, "${TEST_KEY_VAR}");
	char *key = NULL;
	setenv("TEST_KEY_VAR", "k-123", 1);
	ck_assert_int_eq(rdb_model_key(&m, &key, &e), RAGDB_OK);
	ck_assert_str_eq(key, "k-123");
	rdb_key_free(key);
	rdb_model_cfg_clear(&m);
	setenv("OPENAI_BASE_URL", "http://env:2/v1", 1);
	ck_assert_int_eq(rdb_config_resolve(c, "m", NULL, &m, &e), RAGDB_OK);
	ck_assert_str_eq(m.endpoint, "http://env:2/v1");
	rdb_model_cfg_clear(&m);
	ck_assert_int_eq(rdb_config_resolve(c, "m", "http://flag:3/v1", &m, &e), RAGDB_OK);
	ck_assert_str_eq(m.endpoint, "http://flag:3/v1");
	rdb_model_cfg_clear(&m);
	unsetenv("OPENAI_BASE_URL");
	/* provider:model picks up the entry for the same model, and defaults. */
	ck_assert_int_eq(rdb_config_resolve(c, "openai:gpt-x", NULL, &m, &e), RAGDB_OK);
	ck_assert(m.price_input == 2.5);
	rdb_model_cfg_clear(&m);
	ck_assert_int_eq(rdb_config_resolve(NULL, "openai:other", NULL, &m, &e), RAGDB_OK);
	ck_assert_str_eq(m.endpoint, "https://api.openai.com/v1");
	ck_assert_str_eq(m.api_key, "${OPENAI_API_KEY}");
	rdb_model_cfg_clear(&m);
	setenv("OLLAMA_HOST", "0.0.0.0:11434", 1);
	ck_assert_int_eq(rdb_config_resolve(NULL, "ollama:llama3.2", NULL, &m, &e), RAGDB_OK);
	ck_assert_str_eq(m.endpoint, "http://0.0.0.0:11434");
	rdb_model_cfg_clear(&m);
	unsetenv("OLLAMA_HOST");
	ck_assert_int_eq(rdb_config_resolve(c, "bogus", NULL, &m, &e), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "bogus"));
	rdb_config_free(c);

	/* Malformed files name the file and the line; bad fields the field. */
	write_str(path, "{\n\"models\": {\n");
	ck_assert_int_eq(rdb_config_load(path, 1, &c, &e), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "ragdb.json: malformed JSON near line"));
	write_str(path, "{\"models\": {\"m\": {\"provider\": \"openai\", \"model\": \"x\", \"temperature\": \"hot\"}}}");
	ck_assert_int_eq(rdb_config_load(path, 1, &c, &e), RAGDB_OK);
	ck_assert_int_eq(rdb_config_resolve(c, "m", NULL, &m, &e), RAGDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "\"temperature\""));
	rdb_config_free(c);
	/* A missing optional file is no configuration; a required one fails. */
	snprintf(path, sizeof path, "%s/none.json", dir);
	ck_assert_int_eq(rdb_config_load(path, 0, &c, &e), RAGDB_OK);
	rdb_config_free(c);
	ck_assert_int_eq(rdb_config_load(path, 1, &c, &e), RAGDB_ENOTFOUND);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("providers_http");
	TCase *tc = tcase_create("http");
	tcase_add_test(tc, sse_every_split);
	tcase_add_test(tc, lines_every_split);
	tcase_add_test(tc, lines_capped);
	tcase_add_test(tc, retry_after);
	tcase_add_test(tc, error_text);
	tcase_add_test(tc, config_precedence);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
