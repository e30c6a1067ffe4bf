/* test_http.c - unit tests of the network helpers: token file checks,
 * Retry-After, backoff, error details, strict JSON, listing URLs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "refreshd/fetch.h"
#include "refreshd/http.h"

static char tmpdir[] = "/tmp/test_http.XXXXXX";

static char *write_file(const char *name, const char *text, mode_t mode)
{
	char *p;
	FILE *f;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	unlink(p);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

static void test_token_ok(void **state)
{
	char *p = write_file("tok", "ghp_abc123\n", 0600), *tok = NULL;

	assert_int_equal(scim_token_read(p, geteuid(), &tok), 0);
	assert_string_equal(tok, "ghp_abc123");
	scim_token_free(tok);
	free(p);
}

static void test_token_refused(void **state)
{
	char *tok = NULL, *p;

	/* group- or world-readable, or writable */
	p = write_file("tok_g", "secret\n", 0640);
	assert_int_equal(scim_token_read(p, geteuid(), &tok), -EPERM);
	free(p);
	p = write_file("tok_o", "secret\n", 0604);
	assert_int_equal(scim_token_read(p, geteuid(), &tok), -EPERM);
	free(p);
	p = write_file("tok_w", "secret\n", 0602);
	assert_int_equal(scim_token_read(p, geteuid(), &tok), -EPERM);
	free(p);
	/* owned by someone other than the daemon */
	p = write_file("tok_u", "secret\n", 0600);
	assert_int_equal(scim_token_read(p, geteuid() + 1, &tok), -EPERM);
	/* a symlink to a good file is refused too (O_NOFOLLOW) */
	char *l;
	assert_true(asprintf(&l, "%s/tok_link", tmpdir) > 0);
	unlink(l);
	assert_int_equal(symlink(p, l), 0);
	assert_true(scim_token_read(l, geteuid(), &tok) < 0);
	free(l);
	free(p);
	/* empty, or holding a space or a second line (header injection) */
	p = write_file("tok_e", "\n", 0600);
	assert_int_equal(scim_token_read(p, geteuid(), &tok), -EINVAL);
	free(p);
	p = write_file("tok_s", "abc def\n", 0600);
	assert_int_equal(scim_token_read(p, geteuid(), &tok), -EINVAL);
	free(p);
	p = write_file("tok_n", "abc\nX-Evil: 1\n", 0600);
	assert_int_equal(scim_token_read(p, geteuid(), &tok), -EINVAL);
	free(p);
	/* a directory, a missing file */
	assert_int_equal(scim_token_read(tmpdir, geteuid(), &tok) < 0, 1);
	assert_int_equal(scim_token_read("/nonexistent/token", geteuid(), &tok), -ENOENT);
	assert_null(tok);
}

static void test_retry_after(void **state)
{
	long s = -1;
	time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */

	assert_int_equal(scim_parse_retry_after("120", now, &s), 0);
	assert_int_equal(s, 120);
	assert_int_equal(scim_parse_retry_after(" 5\r\n", now, &s), 0);
	assert_int_equal(s, 5);
	assert_int_equal(scim_parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now, &s), 0);
	assert_int_equal(s, 30);
	/* a date in the past means now */
	assert_int_equal(scim_parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now, &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(scim_parse_retry_after("12x", now, &s), -EINVAL);
	assert_int_equal(scim_parse_retry_after("soon", now, &s), -EINVAL);
	/* absurd values are capped (a year), never negative */
	assert_int_equal(scim_parse_retry_after("99999999999999", now, &s), 0);
	assert_true(s > 0 && s <= 86400L * 365);
}

static void test_rate_limit_wait(void **state)
{
	time_t now = 1700000000;

	assert_int_equal(scim_rate_limit_wait(429, "7", "", "", "", now), 7);
	assert_int_equal(scim_rate_limit_wait(429, "", "", "", "", now), 60);
	assert_int_equal(scim_rate_limit_wait(403, "", "0", "1700000100", "API rate limit exceeded", now), 101);
	/* a reset in the past: come back at once (1 s) */
	assert_int_equal(scim_rate_limit_wait(403, "", "0", "1600000000", "", now), 1);
	assert_int_equal(scim_rate_limit_wait(403, "", "0", "", "", now), 60);
	assert_int_equal(scim_rate_limit_wait(403, "", "", "", "You have exceeded a secondary rate limit", now), 60);
	assert_int_equal(scim_rate_limit_wait(403, "30", "", "", "", now), 30);
	/* a plain 403 or 401 is an authentication failure, not a rate limit */
	assert_int_equal(scim_rate_limit_wait(403, "", "", "", "Forbidden", now), -1);
	assert_int_equal(scim_rate_limit_wait(403, "", "4999", "1700000100", "", now), -1);
	assert_int_equal(scim_rate_limit_wait(401, "30", "0", "", "rate limit", now), -1);
	assert_int_equal(scim_rate_limit_wait(503, "30", "", "", "", now), -1);
}

static void test_backoff(void **state)
{
	/* base 1 s: attempt 0 is 0.5..1 s, doubling, capped at 30 s */
	assert_int_equal(scim_backoff_ms(0, 1000, 30000, 0), 500);
	assert_int_equal(scim_backoff_ms(0, 1000, 30000, UINT32_MAX), 1000);
	assert_int_equal(scim_backoff_ms(1, 1000, 30000, UINT32_MAX), 2000);
	assert_int_equal(scim_backoff_ms(3, 1000, 30000, 0), 4000);
	for (unsigned a = 5; a < 80; a++) {
		uint64_t ms = scim_backoff_ms(a, 1000, 30000, (uint32_t)rand());
		assert_true(ms >= 15000 && ms <= 30000);
	}
}

static void test_error_detail(void **state)
{
	char d[128], t[32];
	const char *scim = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],\"status\":\"401\","
			   "\"scimType\":\"invalidCursor\",\"Detail\":\"Bad\\ncredentials\"}";

	scim_error_detail(scim, strlen(scim), d, sizeof(d), t, sizeof(t));
	/* case-insensitive attribute, control characters flattened */
	assert_string_equal(d, "Bad credentials");
	assert_string_equal(t, "invalidCursor");
	const char *gh = "{\"message\":\"Requires authentication\"}";
	scim_error_detail(gh, strlen(gh), d, sizeof(d), t, sizeof(t));
	assert_string_equal(d, "Requires authentication");
	scim_error_detail("<html>Bad gateway</html>", 24, d, sizeof(d), NULL, 0);
	assert_string_equal(d, "<html>Bad gateway</html>");
	scim_error_detail(NULL, 0, d, sizeof(d), t, sizeof(t));
	assert_string_equal(d, "(no detail)");
	assert_string_equal(t, "");
	/* truncated to the buffer, still terminated */
	const char *longer = "{\"detail\":\"0123456789\"}";
	scim_error_detail(longer, strlen(longer), d, 5, NULL, 0);
	assert_string_equal(d, "0123");
}

static void test_json_parse(void **state)
{
	json_object *o = NULL;
	const char *ok = " {\"Resources\":[{\"id\":\"a\"}],\"totalResults\":1} \n";

	assert_int_equal(scim_json_parse(ok, strlen(ok), &o), 0);
	assert_non_null(scim_json_get(o, "resources"));
	assert_non_null(scim_json_get(o, "TOTALRESULTS"));
	assert_null(scim_json_get(o, "nextCursor"));
	json_object_put(o);
	/* truncated, junk after the document, invalid UTF-8, empty, trailing comma */
	assert_int_equal(scim_json_parse("{\"a\":[1,2", 9, &o), -EBADMSG);
	assert_int_equal(scim_json_parse("{\"a\":1} x", 9, &o), -EBADMSG);
	assert_int_equal(scim_json_parse("{\"a\":\"\xff\"}", 9, &o), -EBADMSG);
	assert_int_equal(scim_json_parse("", 0, &o), -EBADMSG);
	assert_int_equal(scim_json_parse("{\"a\":1,}", 8, &o), -EBADMSG);
}

static void test_listing_url(void **state)
{
	char *u;

	u = scim_listing_url("https://h/scim/v2/", "Users", 101, NULL, 100);
	assert_string_equal(u, "https://h/scim/v2/Users?startIndex=101&count=100");
	free(u);
	u = scim_listing_url("https://h/scim/v2", "Groups", 1, "", 50);
	assert_string_equal(u, "https://h/scim/v2/Groups?cursor=&count=50");
	free(u);
	u = scim_listing_url("https://h/x", "Users", 1, "a+b/c=&d", 7);
	assert_string_equal(u, "https://h/x/Users?cursor=a%2Bb%2Fc%3D%26d&count=7");
	free(u);
}

static void test_resource_url(void **state)
{
	char *u;

	u = scim_resource_url("https://h/scim/v2/", "Users", "2819c223-7f76-453a-919d-413861904646");
	assert_string_equal(u, "https://h/scim/v2/Users/2819c223-7f76-453a-919d-413861904646");
	free(u);
	/* An id is a path segment: nothing in it may add a segment or a query. */
	u = scim_resource_url("https://h/x", "Groups", "../a b?c#d/e");
	assert_string_equal(u, "https://h/x/Groups/..%2Fa%20b%3Fc%23d%2Fe");
	free(u);
}

static void test_sleep_stops(void **state)
{
	volatile sig_atomic_t stop = 1;

	assert_int_equal(scim_sleep_ms(60000, &stop), -ECANCELED);
	assert_int_equal(scim_sleep_ms(1, NULL), 0);
}

static void test_http_new_refuses(void **state)
{
	char *p = write_file("tok_h", "t0k\n", 0600);
	const char *bad_auth[] = { "Authorization: Bearer other" };
	const char *bad_line[] = { "NoColonHere" };
	const char *good[] = { "X-GitHub-Api-Version: 2022-11-28" };
	struct scim_http_opts o = { .token_file = p, .timeout = 5, .max_response_bytes = 4096 };
	struct scim_http *h = NULL;

	o.headers = bad_auth;
	o.nheaders = 1;
	assert_int_equal(scim_http_new(&o, &h), -EINVAL);
	o.headers = bad_line;
	assert_int_equal(scim_http_new(&o, &h), -EINVAL);
	o.headers = good;
	assert_int_equal(scim_http_new(&o, &h), 0);
	/* plain http is never used: the token would cross the network in clear */
	json_object *doc = NULL;
	assert_int_equal(scim_http_get_json(h, "http://127.0.0.1:9/scim/v2/Users", &doc), -EPROTO);
	assert_null(doc);
	scim_http_free(h);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_ok),      cmocka_unit_test(test_token_refused),
		cmocka_unit_test(test_retry_after),   cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_rate_limit_wait),
		cmocka_unit_test(test_error_detail),  cmocka_unit_test(test_json_parse),
		cmocka_unit_test(test_listing_url),   cmocka_unit_test(test_sleep_stops),
		cmocka_unit_test(test_resource_url),
		cmocka_unit_test(test_http_new_refuses),
	};
	int r;

	if (!mkdtemp(tmpdir))
		return 99;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	(void)!system(cmd);
	return r;
}
