/* scim-authorized-keys.c - sshd's AuthorizedKeysCommand for directory users:
 *
 *   scim-authorized-keys [--cache PATH] [--max-age SECONDS] USER
 *
 * Prints USER's SSH public keys from the cache, one authorized_keys line
 * each, and nothing else.  It prints nothing, and exits 0, when USER is a
 * local account (/etc/passwd, read directly), unknown, removed or suspended;
 * when the cache's last sync is older than --max-age (or ahead of the
 * clock); and when the cache is missing, corrupt, or has an unsafe owner or
 * mode.  sshd then falls back to its other key sources, which is all
 * "nothing" may mean here: never a key that should not be there.
 *
 * It reads the cache the way the NSS and PAM modules do (the process-wide
 * reader, with its owner and mode checks) and never touches the network.
 * Why it printed nothing goes to stderr, which sshd discards, for an admin
 * who runs it by hand.  Exit 2 is for a bad command line only. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"

#ifndef SCIM_PASSWD_FILE
#define SCIM_PASSWD_FILE "/etc/passwd"
#endif

#define MAX_AGE_MAX 2147483647L

struct found {
	bool suspended;
	int64_t last_sync;
};

static int header_cb(const struct scim_cache_header *h, void *ctx)
{
	((struct found *)ctx)->last_sync = h->last_sync;
	return 0;
}

static int user_cb(const struct scim_user *u, void *ctx)
{
	((struct found *)ctx)->suspended = u->suspended;
	return 0;
}

/* The lines, printed while the cache lock is held: stdout is a pipe to sshd,
 * and the keys are small. */
static int keys_cb(const struct scim_ssh_keys *k, void *ctx)
{
	const char *line;
	size_t pos = 0, len;

	(void)ctx;
	while (scim_rec_next_key(k, &pos, &line, &len) == 0)
		printf("%.*s\n", (int)len, line);
	return 0;
}

/* 1 when name is in SCIM_PASSWD_FILE, 0 when not, -errno when unreadable. */
static int local_user(const char *name)
{
	struct passwd *pw;
	FILE *f = fopen(SCIM_PASSWD_FILE, "re");
	int r = 0;

	if (!f)
		return -errno;
	while ((pw = fgetpwent(f)))
		if (strcmp(pw->pw_name, name) == 0) {
			r = 1;
			break;
		}
	fclose(f);
	return r;
}

static const char *why(int r)
{
	static char buf[128];
	if (r == -ENOENT)
		return "no such active directory user";
	return scim_cache_strerror(r, buf, sizeof(buf));
}

static void usage(FILE *out)
{
	fprintf(out, "usage: scim-authorized-keys [--cache PATH] [--max-age SECONDS] USER\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cache", required_argument, NULL, 'c' },
		{ "max-age", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cache = NULL, *user;
	struct found fnd = { 0 };
	long max_age = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (optarg[0] != '/') {
				fprintf(stderr, "scim-authorized-keys: --cache needs an absolute path\n");
				return 2;
			}
			cache = optarg;
			break;
		case 'm': {
			char *end;
			errno = 0;
			max_age = strtol(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || max_age < 1 || max_age > MAX_AGE_MAX) {
				fprintf(stderr, "scim-authorized-keys: --max-age wants seconds, 1 to %ld: %s\n",
					MAX_AGE_MAX, optarg);
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || !argv[optind][0]) {
		usage(stderr);
		return 2;
	}
	user = argv[optind];

	/* A local account is never a directory user, whatever the cache says. */
	r = local_user(user);
	if (r != 0) {
		fprintf(stderr, "scim-authorized-keys: %s: %s\n", user,
			r > 0 ? "a local account" : "cannot read " SCIM_PASSWD_FILE);
		return 0;
	}
	r = scim_cache_header(cache, header_cb, &fnd);
	if (r == 0 && max_age > 0) {
		long long age = (long long)time(NULL) - (long long)fnd.last_sync;
		/* A sync time ahead of the clock says nothing about freshness. */
		if (age > max_age || age < 0) {
			fprintf(stderr, "scim-authorized-keys: the cache was last synced %lld seconds ago, "
					"more than --max-age %ld\n",
				age, max_age);
			return 0;
		}
	}
	if (r == 0)
		r = scim_cache_user_by_name(cache, user, user_cb, &fnd);
	if (r == 0 && fnd.suspended) {
		fprintf(stderr, "scim-authorized-keys: %s is suspended in the directory\n", user);
		return 0;
	}
	if (r == 0)
		r = scim_cache_keys_by_name(cache, user, keys_cb, NULL);
	if (r < 0 && !(r == -ENOENT && fnd.last_sync))
		fprintf(stderr, "scim-authorized-keys: %s: %s\n", user, why(r));
	fflush(stdout);
	return 0;
}
