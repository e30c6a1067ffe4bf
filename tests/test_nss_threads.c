/* test_nss_threads.c - lookups and an enumeration in several threads while
 * the cache is republished hundreds of times.
 *
 * Generation K of the cache gives every user the gecos "gen K" and the home
 * "/home/K/NAME", and every group the member list "mK": an answer whose
 * fields disagree was stitched from two files.  A getpwent pass must come
 * from one generation, and must be complete. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/nss_testlib.h"

#define NUSERS 60
#define REPUBLISHES 300
#define READERS 3

static struct nss_module m;
static const char *cache;
static volatile int done;
static long lookups, passes, mismatches;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static char *description(int gen)
{
	size_t cap = 200 * NUSERS + 256, len = 0;
	char *d = malloc(cap);
	for (int i = 0; i < NUSERS; i++)
		len += (size_t)snprintf(d + len, cap - len,
					"user:u%02d:%d:%d:gen %d:/home/%d/u%02d:/bin/sh:active:id-%d:1879050000\n", i,
					1879049000 + i, 1879049000 + i, gen, gen, i, i);
	snprintf(d + len, cap - len, "group:g:1879050000:gid:m%d\n", gen);
	return d;
}

/* "gen K" and "/home/K/..." must name the same K. */
static int consistent(const struct passwd *pw)
{
	int g1 = -1, g2 = -2;
	sscanf(pw->pw_gecos, "gen %d", &g1);
	sscanf(pw->pw_dir, "/home/%d/", &g2);
	return g1 == g2;
}

static void *reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	char buf[512], name[16];
	long n = 0, bad = 0;
	while (!done) {
		struct passwd pw;
		struct group gr;
		int err = 0, i = (int)(rand_r(&seed) % NUSERS);
		snprintf(name, sizeof(name), "u%02d", i);
		enum nss_status s = (i & 1) ? m.getpwnam_r(name, &pw, buf, sizeof(buf), &err)
					    : m.getpwuid_r(1879049000 + i, &pw, buf, sizeof(buf), &err);
		if (s != NSS_STATUS_SUCCESS || strcmp(pw.pw_name, name) != 0 || !consistent(&pw))
			bad++;
		if (m.getgrgid_r(1879050000, &gr, buf, sizeof(buf), &err) != NSS_STATUS_SUCCESS ||
		    gr.gr_mem[0] == NULL || gr.gr_mem[1] != NULL || gr.gr_mem[0][0] != 'm')
			bad++;
		long start = 0, size = 4;
		gid_t *groups = malloc(4 * sizeof(gid_t));
		if (m.initgroups_dyn(name, 0, &start, &size, &groups, 0, &err) != NSS_STATUS_SUCCESS || start != 1 ||
		    groups[0] != 1879050000)
			bad++;
		free(groups);
		n++;
	}
	pthread_mutex_lock(&count_lock);
	lookups += n;
	mismatches += bad;
	pthread_mutex_unlock(&count_lock);
	return NULL;
}

static void *enumerator(void *arg)
{
	char buf[512];
	long n = 0, bad = 0;
	while (!done) {
		struct passwd pw;
		int err = 0, count = 0, gen = -1;
		if (m.setpwent(0) != NSS_STATUS_SUCCESS) {
			bad++;
			continue;
		}
		while (m.getpwent_r(&pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS) {
			int g = -1;
			sscanf(pw.pw_gecos, "gen %d", &g);
			if (!consistent(&pw) || (gen >= 0 && g != gen))
				bad++;
			gen = g;
			count++;
		}
		m.endpwent();
		if (count != NUSERS)
			bad++;
		n++;
	}
	pthread_mutex_lock(&count_lock);
	passes += n;
	mismatches += bad;
	pthread_mutex_unlock(&count_lock);
	return NULL;
}

static void republish_under_load(void **state)
{
	pthread_t r[READERS], e;
	char *d = description(0);
	assert_int_equal(nss_test_publish(cache, d), 0);
	free(d);

	/* warm up the module's handle so the descriptor count below is steady */
	struct passwd pw;
	char buf[512];
	int err;
	assert_int_equal(m.getpwnam_r("u00", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	int fds_before = nss_test_count_fds();

	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&r[i], NULL, reader, (void *)(uintptr_t)(i + 1)), 0);
	assert_int_equal(pthread_create(&e, NULL, enumerator, NULL), 0);

	for (int gen = 1; gen <= REPUBLISHES; gen++) {
		d = description(gen);
		assert_int_equal(nss_test_publish(cache, d), 0);
		free(d);
	}
	done = 1;
	for (int i = 0; i < READERS; i++)
		pthread_join(r[i], NULL);
	pthread_join(e, NULL);

	print_message("%ld lookups, %ld getpwent passes, %d republishes, %ld mismatches\n", lookups, passes,
		      REPUBLISHES, mismatches);
	assert_int_equal(mismatches, 0);
	assert_true(lookups > 0);
	assert_true(passes > 0);

	/* the last generation is what a lookup sees now */
	assert_int_equal(m.getpwnam_r("u07", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	char want[32];
	snprintf(want, sizeof(want), "gen %d", REPUBLISHES);
	assert_string_equal(pw.pw_gecos, want);
	assert_int_equal(nss_test_count_fds(), fds_before);
}

int main(void)
{
	cache = nss_test_setup(&m);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(republish_under_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
