/* scimctl.c - look into the cache the NSS and PAM modules answer from:
 *
 *   scimctl [--cache PATH] [--json] [--max-age SECONDS] status
 *   scimctl [--cache PATH] [--json] user NAME|UID
 *   scimctl [--cache PATH] [--json] group NAME|GID
 *
 * It opens the file with the private read API (cache/file.c), not the
 * modules' process-wide handles, and checks the file's owner and mode the way
 * the modules do, so "ok" here means the modules would read it too.
 *
 * Internal functions return 0 or -errno; scimctl_exit_code() is the only
 * place that turns them into the exit codes documented in scimctl(8). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/sshkey.h"

enum {
	EXIT_OK = 0,
	EXIT_NOT_FOUND = 1,
	EXIT_USAGE = 2,
	EXIT_NO_CACHE = 3,
	EXIT_BAD_CACHE = 4,
	EXIT_STALE = 5,
};

#define MAX_AGE_MAX 2147483647L

struct ctl_opts {
	const char *cache;
	bool json;
	long max_age; /* 0: none */
};

static int scimctl_exit_code(int r)
{
	switch (r) {
	case 0:
		return EXIT_OK;
	case -ENOENT:
		return EXIT_NOT_FOUND;
	case -EINVAL:
		return EXIT_USAGE;
	case -ENODATA:
		return EXIT_NO_CACHE;
	case -ESTALE:
		return EXIT_STALE;
	default:
		return EXIT_BAD_CACHE;
	}
}

static const char *cache_error(int r)
{
	static char buf[128];
	if (r == -EPERM)
		return "the cache has an unsafe owner or mode (the modules refuse it)";
	return scim_cache_strerror(r, buf, sizeof(buf));
}

/* ---------------------------------------------------------------- output */

/* JSON strings: control characters escaped, valid UTF-8 passed through, any
 * other byte replaced, so the output always parses. */
static void json_strn(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	putchar('"');
	while (p < end) {
		unsigned char c = *p;
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0 && n <= (size_t)(end - p) && !(n == 2 && c < 0xc2);

		for (size_t i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (!ok) {
			fputs("\\ufffd", stdout);
			p++;
			continue;
		}
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			fwrite(p, 1, n, stdout);
		p += n;
	}
	putchar('"');
}

static void json_str(const char *s)
{
	json_strn(s, strlen(s));
}

static void format_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%" PRId64, t);
}

/* ---------------------------------------------------------------- cache */

/* The modules' rule (cache/reader.c): root's or ours, writable by nobody else. */
static int check_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR ? -ENODATA : -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

static int open_cache(const struct ctl_opts *o, struct scim_cache_file **f)
{
	int r = check_file(o->cache);
	if (r < 0)
		return r;
	return scim_cache_file_open(o->cache, f);
}

/* ---------------------------------------------------------------- status */

static int cmd_status(const struct ctl_opts *o)
{
	struct scim_cache_file *f = NULL;
	struct scim_cache_header h;
	enum scim_cache_age verdict;
	char when[64];
	long long age;
	time_t now;
	bool stale;
	int r;

	r = open_cache(o, &f);
	if (r < 0) {
		if (o->json) {
			fputs("{\"cache\":", stdout);
			json_str(o->cache);
			printf(",\"state\":\"%s\",\"error\":", r == -ENODATA ? "missing" : "unreadable");
			json_str(cache_error(r));
			puts("}");
		} else {
			printf("cache:       %s\nstate:       %s (%s)\n", o->cache,
			       r == -ENODATA ? "missing" : "unreadable", cache_error(r));
		}
		goto out;
	}
	scim_cache_file_header(f, &h);
	now = time(NULL);
	age = (long long)now - (long long)h.last_sync;
	verdict = scim_cache_age_check(h.last_sync, now, o->max_age);
	stale = verdict != SCIM_CACHE_AGE_OK;
	if (verdict == SCIM_CACHE_AGE_FUTURE)
		fprintf(stderr,
			"scimctl: %s: the last sync is %lld seconds ahead of this host's clock (more than %d): "
			"counted as stale\n",
			o->cache, -age, SCIM_CACHE_FUTURE_MAX);
	format_time(h.last_sync, when, sizeof(when));
	if (o->json) {
		fputs("{\"cache\":", stdout);
		json_str(o->cache);
		printf(",\"state\":\"%s\",\"format_version\":%" PRIu32 ",\"generation\":%" PRIu64
		       ",\"last_sync\":%" PRId64 ",\"last_sync_utc\":\"%s\",\"age_seconds\":%lld,\"source\":",
		       stale ? "stale" : "ok", h.format_version, h.generation, h.last_sync, when, age);
		json_str(h.source ? h.source : "");
		printf(",\"users\":%" PRIu32 ",\"groups\":%" PRIu32 ",\"suspended\":%" PRIu32, h.nusers, h.ngroups,
		       h.nsuspended);
		if (o->max_age > 0)
			printf(",\"max_age\":%ld", o->max_age);
		puts("}");
	} else {
		printf("cache:       %s\n", o->cache);
		printf("generation:  %" PRIu64 "\n", h.generation);
		printf("last sync:   %s (%lld seconds ago)\n", when, age);
		printf("source:      %s\n", h.source ? h.source : "");
		printf("users:       %" PRIu32 " (%" PRIu32 " suspended)\n", h.nusers, h.nsuspended);
		printf("groups:      %" PRIu32 "\n", h.ngroups);
		if (verdict == SCIM_CACHE_AGE_FUTURE)
			printf("state:       stale (last sync in the future)\n");
		else if (stale)
			printf("state:       stale (older than --max-age %ld)\n", o->max_age);
		else
			printf("state:       ok\n");
	}
	r = stale ? -ESTALE : 0;
out:
	scim_cache_file_close(f);
	return r;
}

/* ---------------------------------------------------------------- users */

/* Parses NAME|NUMBER: a number when it is all digits and fits a uid_t. */
static bool parse_id(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX - 1)
		return false;
	*out = (uint32_t)v;
	return true;
}

struct ctl_user {
	char *name, *gecos, *home, *shell, *scim_id;
	uint32_t uid, gid, ngids;
	uint32_t *gids;
	char **gid_names; /* filled by a pass over the groups */
	bool suspended;
	/* SSH public keys: type and fingerprint of each, never the key */
	uint32_t nkeys;
	char key_type[SCIM_SSH_KEYS_MAX][48];
	char key_fp[SCIM_SSH_KEYS_MAX][56];
};

static void ctl_user_free(struct ctl_user *u)
{
	for (uint32_t i = 0; u->gid_names && i <= u->ngids; i++)
		free(u->gid_names[i]);
	free(u->gid_names);
	free(u->gids);
	free(u->name);
	free(u->gecos);
	free(u->home);
	free(u->shell);
	free(u->scim_id);
}

static int copy_keys_cb(const struct scim_ssh_keys *k, void *ctx)
{
	struct ctl_user *u = ctx;
	const char *line;
	size_t pos = 0, len;

	while (u->nkeys < SCIM_SSH_KEYS_MAX && scim_rec_next_key(k, &pos, &line, &len) == 0) {
		char *t = u->key_type[u->nkeys], *fp = u->key_fp[u->nkeys];
		if (scim_sshkey_fingerprint(line, len, t, sizeof(u->key_type[0]), fp, sizeof(u->key_fp[0])) < 0) {
			snprintf(t, sizeof(u->key_type[0]), "unreadable");
			snprintf(fp, sizeof(u->key_fp[0]), "-");
		}
		u->nkeys++;
	}
	return 0;
}

/* Callbacks see strings valid only until they return: copy what we print. */
static int copy_user_cb(const struct scim_user *su, void *ctx)
{
	struct ctl_user *u = ctx;

	u->name = strdup(su->name);
	u->gecos = strdup(su->gecos);
	u->home = strdup(su->home);
	u->shell = strdup(su->shell);
	u->scim_id = strdup(su->has_ext && su->scim_id ? su->scim_id : "");
	u->uid = su->uid;
	u->gid = su->gid;
	u->suspended = su->suspended;
	u->ngids = su->has_ext ? su->ngids : 0;
	u->gids = calloc(u->ngids + 1, sizeof(*u->gids));
	u->gid_names = calloc(u->ngids + 1, sizeof(*u->gid_names));
	if (!u->name || !u->gecos || !u->home || !u->shell || !u->scim_id || !u->gids || !u->gid_names)
		return -ENOMEM;
	for (uint32_t i = 0; i < u->ngids; i++)
		u->gids[i] = scim_rec_gid(su, i);
	return 1;
}

struct uid_search {
	uint32_t uid;
	char *name;
};

static int uid_search_cb(const struct scim_user *su, void *ctx)
{
	struct uid_search *s = ctx;

	if (su->uid != s->uid)
		return 0;
	s->name = strdup(su->name);
	return s->name ? 1 : -ENOMEM;
}

/* Names the primary group (slot ngids) and the supplementary groups. */
static int name_groups_cb(const struct scim_group *g, void *ctx)
{
	struct ctl_user *u = ctx;

	for (uint32_t i = 0; i <= u->ngids; i++) {
		uint32_t gid = i < u->ngids ? u->gids[i] : u->gid;
		if (gid == g->gid && !u->gid_names[i]) {
			u->gid_names[i] = strdup(g->name);
			if (!u->gid_names[i])
				return -ENOMEM;
		}
	}
	return 0;
}

static void print_user(const struct ctl_opts *o, const struct ctl_user *u)
{
	const char *pgroup = u->gid_names[u->ngids];

	if (o->json) {
		fputs("{\"name\":", stdout);
		json_str(u->name);
		printf(",\"uid\":%" PRIu32 ",\"gid\":%" PRIu32 ",\"group\":", u->uid, u->gid);
		if (pgroup)
			json_str(pgroup);
		else
			fputs("null", stdout);
		fputs(",\"gecos\":", stdout);
		json_str(u->gecos);
		fputs(",\"home\":", stdout);
		json_str(u->home);
		fputs(",\"shell\":", stdout);
		json_str(u->shell);
		printf(",\"state\":\"%s\",\"scim_id\":", u->suspended ? "suspended" : "active");
		json_str(u->scim_id);
		fputs(",\"groups\":[", stdout);
		for (uint32_t i = 0; i < u->ngids; i++) {
			printf("%s{\"gid\":%" PRIu32 ",\"name\":", i ? "," : "", u->gids[i]);
			if (u->gid_names[i])
				json_str(u->gid_names[i]);
			else
				fputs("null", stdout);
			putchar('}');
		}
		fputs("],\"ssh_keys\":[", stdout);
		for (uint32_t i = 0; i < u->nkeys; i++) {
			printf("%s{\"type\":", i ? "," : "");
			json_str(u->key_type[i]);
			fputs(",\"fingerprint\":", stdout);
			json_str(u->key_fp[i]);
			putchar('}');
		}
		puts("]}");
		return;
	}
	printf("name:        %s\n", u->name);
	printf("uid:         %" PRIu32 "\n", u->uid);
	printf("gid:         %" PRIu32 "%s%s%s\n", u->gid, pgroup ? " (" : "", pgroup ? pgroup : "", pgroup ? ")" : "");
	printf("gecos:       %s\n", u->gecos);
	printf("home:        %s\n", u->home);
	printf("shell:       %s\n", u->shell);
	printf("state:       %s\n", u->suspended ? "suspended" : "active");
	printf("scim id:     %s\n", u->scim_id);
	printf("groups:     ");
	for (uint32_t i = 0; i < u->ngids; i++)
		printf("%s %" PRIu32 "%s%s%s", i ? "," : "", u->gids[i], u->gid_names[i] ? " (" : "",
		       u->gid_names[i] ? u->gid_names[i] : "", u->gid_names[i] ? ")" : "");
	putchar('\n');
	if (!u->nkeys)
		printf("ssh keys:    none\n");
	for (uint32_t i = 0; i < u->nkeys; i++)
		printf("%s%s %s\n", i ? "             " : "ssh keys:    ", u->key_type[i], u->key_fp[i]);
}

/* A user the directory removed lately (kept for pam_scim's denials). */
struct ctl_removed {
	char *name, *scim_id;
	uint32_t uid;
	int64_t since;
	bool by_uid, found;
};

static int copy_removed_cb(const struct scim_removed *d, void *ctx)
{
	struct ctl_removed *c = ctx;

	/* By uid, the newest entry: a renamed user's old name and their own
	 * removal later share the uid. */
	if (c->by_uid && (d->uid != c->uid || (c->found && d->since < c->since)))
		return 0;
	free(c->name);
	free(c->scim_id);
	c->name = strdup(d->name);
	c->scim_id = strdup(d->scim_id);
	if (!c->name || !c->scim_id)
		return -ENOMEM;
	c->uid = d->uid;
	c->since = d->since;
	c->found = true;
	return 0;
}

static void print_removed(const struct ctl_opts *o, const struct ctl_removed *d)
{
	char when[64];

	format_time(d->since, when, sizeof(when));
	if (o->json) {
		fputs("{\"name\":", stdout);
		json_str(d->name);
		printf(",\"uid\":%" PRIu32 ",\"state\":\"removed\",\"removed_since\":%" PRId64
		       ",\"removed_since_utc\":\"%s\",\"scim_id\":",
		       d->uid, d->since, when);
		json_str(d->scim_id);
		puts("}");
		return;
	}
	printf("name:        %s\n", d->name);
	printf("uid:         %" PRIu32 "\n", d->uid);
	printf("state:       removed (since %s)\n", when);
	printf("scim id:     %s\n", d->scim_id);
}

/* Not a user: is key a user the directory removed lately?  -ENOENT if not. */
static int find_removed(const struct ctl_opts *o, struct scim_cache_file *f, const char *key, bool by_uid,
			uint32_t uid, struct ctl_removed *d)
{
	struct scim_cache_header h;
	int r;

	d->by_uid = by_uid;
	d->uid = uid;
	/* Removed users are keyed by name only; a uid takes a scan. */
	if (by_uid)
		r = scim_cache_file_scan_all(o->cache, &h, NULL, NULL, copy_removed_cb, d);
	else
		r = scim_cache_file_removed_by_name(f, key, copy_removed_cb, d);
	if (r < 0)
		return r;
	return d->found ? 0 : -ENOENT;
}

static int cmd_user(const struct ctl_opts *o, const char *key)
{
	struct scim_cache_file *f = NULL;
	struct ctl_user u = { 0 };
	struct uid_search s = { 0 };
	struct ctl_removed d = { 0 };
	const char *name = key;
	bool by_uid;
	int r;

	r = open_cache(o, &f);
	if (r < 0)
		goto out;
	/* The file keys users by name; a uid is found by a walk. */
	by_uid = parse_id(key, &s.uid);
	if (by_uid) {
		r = scim_cache_file_foreach_user(f, uid_search_cb, &s);
		if (r < 0)
			goto out;
		if (r == 0) {
			r = -ENOENT;
			goto removed;
		}
		name = s.name;
	}
	r = scim_cache_file_user_by_name(f, name, copy_user_cb, &u);
	if (r == -ENOENT && !by_uid)
		goto removed;
	if (r < 0)
		goto out;
	r = scim_cache_file_foreach_group(f, name_groups_cb, &u);
	if (r < 0)
		goto out;
	r = scim_cache_file_keys_by_name(f, name, copy_keys_cb, &u);
	if (r < 0 && r != -ENOENT)
		goto out;
	print_user(o, &u);
	r = 0;
	goto out;
removed:
	/* Still "no such user" (exit 1): NSS does not know them either. */
	r = find_removed(o, f, key, by_uid, s.uid, &d);
	if (r == 0) {
		print_removed(o, &d);
		r = -ENOENT;
		goto done;
	}
out:
	if (r == -ENOENT)
		fprintf(stderr, "scimctl: no user %s in %s\n", key, o->cache);
done:
	ctl_user_free(&u);
	free(s.name);
	free(d.name);
	free(d.scim_id);
	scim_cache_file_close(f);
	return r;
}

/* ---------------------------------------------------------------- groups */

struct group_search {
	const struct ctl_opts *o;
	const char *name; /* or, when NULL, gid */
	uint32_t gid;
};

static int print_group_cb(const struct scim_group *g, void *ctx)
{
	struct group_search *s = ctx;
	const char *m;
	size_t pos = 0, mlen;
	bool first = true;
	int r;

	if (s->name ? strcmp(g->name, s->name) != 0 : g->gid != s->gid)
		return 0;
	if (s->o->json) {
		fputs("{\"name\":", stdout);
		json_str(g->name);
		printf(",\"gid\":%" PRIu32 ",\"scim_id\":", g->gid);
		json_str(g->scim_id ? g->scim_id : "");
		fputs(",\"members\":[", stdout);
	} else {
		printf("name:        %s\ngid:         %" PRIu32 "\nscim id:     %s\nmembers:    ", g->name, g->gid,
		       g->scim_id ? g->scim_id : "");
	}
	while ((r = scim_rec_next_member(g, &pos, &m, &mlen)) == 0) {
		/* Member names are length-prefixed, not NUL-terminated. */
		if (s->o->json) {
			if (!first)
				putchar(',');
			json_strn(m, mlen);
		} else {
			printf("%s %.*s", first ? "" : ",", (int)mlen, m);
		}
		first = false;
	}
	fputs(s->o->json ? "]}\n" : "\n", stdout);
	return r == -ENOENT ? 1 : r;
}

static int cmd_group(const struct ctl_opts *o, const char *key)
{
	struct scim_cache_file *f = NULL;
	struct group_search s = { o, key, 0 };
	int r;

	r = open_cache(o, &f);
	if (r < 0)
		goto out;
	if (parse_id(key, &s.gid))
		s.name = NULL;
	r = scim_cache_file_foreach_group(f, print_group_cb, &s);
	if (r == 0)
		r = -ENOENT;
	else if (r == 1)
		r = 0;
out:
	if (r == -ENOENT)
		fprintf(stderr, "scimctl: no group %s in %s\n", key, o->cache);
	scim_cache_file_close(f);
	return r;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *out)
{
	fprintf(out, "usage: scimctl [--cache PATH] [--json] [--max-age SECONDS] status\n"
		     "       scimctl [--cache PATH] [--json] user NAME|UID\n"
		     "       scimctl [--cache PATH] [--json] group NAME|GID\n"
		     "default cache: %s\n",
		scim_cache_default_path());
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cache", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "max-age", required_argument, NULL, 'm' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },     { NULL, 0, NULL, 0 },
	};
	struct ctl_opts o = { .cache = NULL };
	const char *cmd;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.cache = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'm': {
			char *end;
			errno = 0;
			long v = optarg[0] >= '0' && optarg[0] <= '9' ? strtol(optarg, &end, 10) : -1;
			if (v < 1 || errno || *end || v > MAX_AGE_MAX) {
				fprintf(stderr, "scimctl: --max-age wants seconds, 1 to %ld: %s\n", MAX_AGE_MAX, optarg);
				return scimctl_exit_code(-EINVAL);
			}
			o.max_age = v;
			break;
		}
		case 'h':
			usage(stdout);
			return scimctl_exit_code(0);
		case 'V':
			puts(PACKAGE_STRING);
			return scimctl_exit_code(0);
		default:
			usage(stderr);
			return scimctl_exit_code(-EINVAL);
		}
	}
	if (!o.cache)
		o.cache = scim_cache_default_path();
	if (optind >= argc) {
		usage(stderr);
		return scimctl_exit_code(-EINVAL);
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "status") == 0 && optind == argc) {
		r = cmd_status(&o);
	} else if (strcmp(cmd, "user") == 0 && optind + 1 == argc) {
		r = cmd_user(&o, argv[optind]);
	} else if (strcmp(cmd, "group") == 0 && optind + 1 == argc) {
		r = cmd_group(&o, argv[optind]);
	} else {
		usage(stderr);
		r = -EINVAL;
	}
	/* status reports cache errors on stdout, in its own format. */
	if (r < 0 && r != -ENOENT && r != -ESTALE && r != -EINVAL && strcmp(cmd, "status") != 0)
		fprintf(stderr, "scimctl: %s: %s\n", o.cache, cache_error(r));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "scimctl: write error\n");
		r = -EIO;
	}
	return scimctl_exit_code(r);
}
