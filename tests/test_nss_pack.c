/* test_nss_pack.c - the buffer packer and the status mapping.
 *
 * The sweep gives the packer every buffer size from 0 to the size needed, at
 * every misalignment of the buffer's start, and checks that a short buffer is
 * -ERANGE, a big enough one is a correct answer, and that no byte at or past
 * buflen is ever written (a guard area of canary bytes follows the buffer). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache/cache.h"
#include "nss_scim/buf.h"
#include "nss_scim/pack.h"
#include "nss_scim/status.h"

#define GUARD 64
#define CANARY 0x5A

static void check_guard(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != CANARY)
			fail_msg("byte %zu past buflen was written", i);
}

static unsigned char *decode_fixture_user(struct scim_user *u, size_t *len)
{
	static const uint32_t gids[] = { 1, 2 };
	struct scim_user in = { .name = "mona.octocat", .uid = 1879048201, .gid = 1879048201,
				.gecos = "Mona Lisa Octocat", .home = "/home/mona.octocat", .shell = "/bin/zsh",
				.has_ext = true, .scim_id = "id", .ngids = 2, .gids = gids };
	*len = 0;
	(void)scim_rec_encode_user(&in, true, NULL, len);
	unsigned char *rec = malloc(*len);
	assert_int_equal(scim_rec_encode_user(&in, true, rec, len), 0);
	assert_int_equal(scim_rec_decode_user(rec, *len, u), 0);
	return rec;
}

static void passwd_sweep(void **state)
{
	struct scim_user u;
	size_t rlen;
	unsigned char *rec = decode_fixture_user(&u, &rlen);
	size_t need = scim_need_passwd(&u);

	for (size_t misalign = 0; misalign < 8; misalign++) {
		for (size_t buflen = 0; buflen <= need + 2; buflen++) {
			unsigned char *mem = malloc(misalign + buflen + GUARD);
			memset(mem, CANARY, misalign + buflen + GUARD);
			char *buf = (char *)mem + misalign;
			struct passwd pw;
			int r = scim_pack_passwd(&u, &pw, buf, buflen);
			check_guard((unsigned char *)buf + buflen, GUARD);
			if (buflen < need) {
				assert_int_equal(r, -ERANGE);
			} else {
				assert_int_equal(r, 0);
				assert_string_equal(pw.pw_name, "mona.octocat");
				assert_string_equal(pw.pw_passwd, "*");
				assert_string_equal(pw.pw_gecos, "Mona Lisa Octocat");
				assert_string_equal(pw.pw_dir, "/home/mona.octocat");
				assert_string_equal(pw.pw_shell, "/bin/zsh");
				assert_int_equal(pw.pw_uid, 1879048201);
				assert_int_equal(pw.pw_gid, 1879048201);
				/* every string lives inside the caller's buffer */
				const char *s[] = { pw.pw_name, pw.pw_passwd, pw.pw_gecos, pw.pw_dir, pw.pw_shell };
				for (int i = 0; i < 5; i++)
					assert_true(s[i] >= buf && s[i] + strlen(s[i]) < buf + buflen);
			}
			free(mem);
		}
	}
	free(rec);
}

static void group_sweep_members(uint32_t nmembers)
{
	char **names = calloc(nmembers + 1, sizeof(*names));
	for (uint32_t i = 0; i < nmembers; i++) {
		names[i] = malloc(16);
		snprintf(names[i], 16, "user%u", i);
	}
	struct scim_group in = { .name = "engineering", .gid = 1879048400, .scim_id = "g",
				 .nmembers = nmembers, .members = (const char *const *)names };
	size_t len = 0;
	(void)scim_rec_encode_group(&in, NULL, &len);
	unsigned char *rec = malloc(len);
	assert_int_equal(scim_rec_encode_group(&in, rec, &len), 0);
	struct scim_group g;
	assert_int_equal(scim_rec_decode_group(rec, len, &g), 0);

	for (size_t misalign = 0; misalign < 8; misalign++) {
		unsigned char probe[16];
		size_t need = scim_need_group(&g, (char *)probe + misalign);
		/* need depends on alignment only through the padding */
		for (size_t buflen = 0; buflen <= need + 2; buflen++) {
			unsigned char *mem = aligned_alloc(16, (misalign + buflen + GUARD + 15) / 16 * 16);
			memset(mem, CANARY, misalign + buflen + GUARD);
			char *buf = (char *)mem + misalign;
			size_t need_here = scim_need_group(&g, buf);
			struct group gr;
			int r = scim_pack_group(&g, &gr, buf, buflen);
			check_guard((unsigned char *)buf + buflen, GUARD);
			if (buflen < need_here) {
				assert_int_equal(r, -ERANGE);
			} else {
				assert_int_equal(r, 0);
				assert_string_equal(gr.gr_name, "engineering");
				assert_int_equal(gr.gr_gid, 1879048400);
				assert_int_equal((uintptr_t)gr.gr_mem % _Alignof(char *), 0);
				assert_true((char *)gr.gr_mem >= buf);
				uint32_t n = 0;
				for (char **m = gr.gr_mem; *m; m++, n++) {
					assert_string_equal(*m, names[n]);
					assert_true(*m >= buf && *m + strlen(*m) < buf + buflen);
				}
				assert_int_equal(n, nmembers);
			}
			free(mem);
		}
	}
	for (uint32_t i = 0; i < nmembers; i++)
		free(names[i]);
	free(names);
	free(rec);
}

static void group_sweep(void **state)
{
	group_sweep_members(0);
	group_sweep_members(1);
	group_sweep_members(7);
	group_sweep_members(40);
}

static void packer_bounds(void **state)
{
	char mem[32];
	struct scim_buf b;
	scim_buf_init(&b, mem + 1, 16);
	/* aligned allocation pads from an odd start */
	void *p = scim_buf_alloc(&b, 8, 8);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 8, 0);
	assert_null(scim_buf_alloc(&b, 16, 1)); /* does not fit any more */
	assert_null(scim_buf_strndup(&b, "toolongforthis", 14));
	scim_buf_init(&b, mem, 3);
	assert_null(scim_buf_strdup(&b, "abc")); /* needs 4 with the NUL */
	assert_non_null(scim_buf_strdup(&b, "ab"));
	assert_int_equal(b.used, 3);
}

static void status_mapping(void **state)
{
	int e = 12345;
	assert_int_equal(scim_to_nss(0, &e), NSS_STATUS_SUCCESS);
	assert_int_equal(e, 12345);
	assert_int_equal(scim_to_nss(-ENOENT, &e), NSS_STATUS_NOTFOUND);
	assert_int_equal(e, 12345);
	assert_int_equal(scim_to_nss(-ERANGE, &e), NSS_STATUS_TRYAGAIN);
	assert_int_equal(e, ERANGE);
	assert_int_equal(scim_to_nss(-EAGAIN, &e), NSS_STATUS_TRYAGAIN);
	assert_int_equal(e, EAGAIN);
	assert_int_equal(scim_to_nss(-EBUSY, &e), NSS_STATUS_TRYAGAIN);
	assert_int_equal(e, EAGAIN);
	assert_int_equal(scim_to_nss(-ENOMEM, &e), NSS_STATUS_TRYAGAIN);
	assert_int_equal(e, ENOMEM);
	assert_int_equal(scim_to_nss(-ENODATA, &e), NSS_STATUS_UNAVAIL);
	assert_int_equal(e, ENOENT);
	assert_int_equal(scim_to_nss(-EBADMSG, &e), NSS_STATUS_UNAVAIL);
	assert_int_equal(e, EBADMSG);
	assert_int_equal(scim_to_nss(-EPERM, &e), NSS_STATUS_UNAVAIL);
	assert_int_equal(e, EPERM);
	assert_int_equal(scim_to_nss(-EIO, &e), NSS_STATUS_UNAVAIL);
	assert_int_equal(e, EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(passwd_sweep),
		cmocka_unit_test(group_sweep),
		cmocka_unit_test(packer_bounds),
		cmocka_unit_test(status_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
