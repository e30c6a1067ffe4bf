/* libnss_bfloor.c - NSS module "bfloor": a plain in-memory passwd table,
 * the yardstick for what a real passwd lookup costs on the machine at hand.
 *
 * bnull (libnss_bnull.c) answers without looking anything up, so it shows
 * glibc's own cost.  bfloor looks the user up, with none of a real module's
 * duties: at its first call it reads a passwd file (the path in
 * $BFLOOR_PASSWD) into memory, one 64-byte cache line per user, found
 * through 4-byte open-addressing slots (the layout of libnss_scim's indexes,
 * without the file, the lock, the snapshot check or any validation, and with
 * its own copy of their hashes, so the yardstick stays put when the module
 * changes).  A hit then costs the caller's name (getpwnam), one slot, one cache line and the
 * copy into the caller's buffer.
 *
 * At 100k users those few memory accesses are cache and TLB misses, and on
 * a VM a TLB miss alone costs about 100 ns, a twentieth of glibc's whole
 * dispatch.  So where bfloor/bnull is above a target, a module that keeps
 * its data in a file per user the usual way cannot meet it on that machine
 * either (only data packed tighter than a cache line a user could); and
 * libnss_scim/bfloor is what the module's own design costs on top.
 * Benchmark code only: never installed.  Only getpwnam_r and getpwuid_r
 * answer; everything else is "unavailable". */
#include <errno.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT enum nss_status _nss_bfloor_getpwnam_r(const char *, struct passwd *, char *, size_t, int *);
EXPORT enum nss_status _nss_bfloor_getpwuid_r(uid_t, struct passwd *, char *, size_t, int *);

#define INLINE_TEXT 52

/* One user, one cache line: the four strings back to back (no NULs). */
struct cell {
	uint32_t uid, gid;
	uint8_t len[4]; /* name, gecos, home, shell */
	char text[INLINE_TEXT];
} __attribute__((aligned(64)));

static struct cell *cells;
static char **long_text; /* entries whose strings do not fit a cell, else NULL */
static uint32_t *by_name, *by_uid, nslots;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uint32_t name_hash(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, v;
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&v, p, 8);
		h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	if (n) {
		v = 0;
		memcpy(&v, p, n);
		h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	h *= 0x94d049bb133111ebull;
	return (uint32_t)(h ^ h >> 32);
}

static uint32_t uid_hash(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ h >> 16;
}

/* A slot: 8 bits of the hash, then the cell number + 1 (0 is empty). */
static void place(uint32_t *table, uint32_t h, uint32_t cell)
{
	uint32_t j = (uint32_t)((uint64_t)h * nslots >> 32);
	while (table[j])
		j = j + 1 == nslots ? 0 : j + 1;
	table[j] = (h & 0xff) << 24 | (cell + 1);
}

static const char *cell_text(uint32_t i)
{
	return long_text && long_text[i] ? long_text[i] : cells[i].text;
}

static void load(void)
{
	const char *path = getenv("BFLOOR_PASSWD");
	FILE *f = path ? fopen(path, "re") : NULL;
	char line[4096];
	uint32_t n = 0, cap = 0;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		cap++;
	rewind(f);
	/* aligned: a cell must be one cache line, not two halves */
	cells = aligned_alloc(64, ((size_t)cap + 1) * sizeof(*cells));
	long_text = calloc((size_t)cap + 1, sizeof(*long_text));
	if (!cells || !long_text)
		goto out;
	while (n < cap && fgets(line, sizeof(line), f)) {
		char *field[7], *p = line;
		int k;
		for (k = 0; k < 7 && p; k++) {
			field[k] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = 0;
		}
		if (k < 7 || n >= 0xffffff)
			continue;
		field[6][strcspn(field[6], "\n")] = 0;
		struct cell *c = &cells[n];
		const char *s[4] = { field[0], field[4], field[5], field[6] };
		size_t total = 0;
		memset(c, 0, sizeof(*c));
		c->uid = (uint32_t)strtoul(field[2], NULL, 10);
		c->gid = (uint32_t)strtoul(field[3], NULL, 10);
		for (int i = 0; i < 4; i++)
			total += c->len[i] = (uint8_t)(strlen(s[i]) > 255 ? 255 : strlen(s[i]));
		char *t = total <= INLINE_TEXT ? c->text : malloc(total);
		long_text[n] = t == c->text ? NULL : t;
		for (int i = 0; i < 4; i++) {
			memcpy(t, s[i], c->len[i]);
			t += c->len[i];
		}
		n++;
	}
	nslots = n * 4 / 3 + 8;
	by_name = calloc(nslots, sizeof(*by_name));
	by_uid = calloc(nslots, sizeof(*by_uid));
	if (!by_name || !by_uid) {
		free(by_name);
		free(by_uid);
		by_name = by_uid = NULL;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		place(by_name, name_hash(cell_text(i), cells[i].len[0]), i);
		place(by_uid, uid_hash(cells[i].uid), i);
	}
out:
	fclose(f);
}

static enum nss_status fill(uint32_t i, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	const struct cell *c = &cells[i];
	const char *t = cell_text(i);
	char **field[4] = { &pw->pw_name, &pw->pw_gecos, &pw->pw_dir, &pw->pw_shell };
	size_t need = (size_t)c->len[0] + c->len[1] + c->len[2] + c->len[3] + 4 + 2;

	if (need > buflen) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	for (int k = 0; k < 4; k++) {
		*field[k] = buf;
		memcpy(buf, t, c->len[k]);
		buf[c->len[k]] = 0;
		buf += c->len[k] + 1;
		t += c->len[k];
	}
	pw->pw_passwd = memcpy(buf, "*", 2);
	pw->pw_uid = c->uid;
	pw->pw_gid = c->gid;
	return NSS_STATUS_SUCCESS;
}

/* Walks the probe run for h; match decides on a cell.  -1: not there. */
static int64_t find(const uint32_t *table, uint32_t h, int (*match)(uint32_t, const void *), const void *key)
{
	uint32_t j = (uint32_t)((uint64_t)h * nslots >> 32);
	for (uint32_t step = 0; step < nslots; step++) {
		uint32_t v = table[j];
		if (!v)
			break;
		if (v >> 24 == (h & 0xff) && match((v & 0xffffff) - 1, key))
			return (v & 0xffffff) - 1;
		j = j + 1 == nslots ? 0 : j + 1;
	}
	return -1;
}

struct name_key {
	const char *name;
	size_t len;
};

static int same_name(uint32_t i, const void *key)
{
	const struct name_key *k = key;
	return cells[i].len[0] == k->len && !memcmp(cell_text(i), k->name, k->len);
}

static int same_uid(uint32_t i, const void *key)
{
	return cells[i].uid == *(const uint32_t *)key;
}

enum nss_status _nss_bfloor_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	pthread_once(&once, load);
	if (!by_name)
		return NSS_STATUS_UNAVAIL;
	struct name_key key = { name, strlen(name) };
	int64_t i = find(by_name, name_hash(name, key.len), same_name, &key);
	return i < 0 ? NSS_STATUS_NOTFOUND : fill((uint32_t)i, pw, buf, buflen, errnop);
}

enum nss_status _nss_bfloor_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	uint32_t key = uid;
	pthread_once(&once, load);
	if (!by_uid)
		return NSS_STATUS_UNAVAIL;
	int64_t i = find(by_uid, uid_hash(key), same_uid, &key);
	return i < 0 ? NSS_STATUS_NOTFOUND : fill((uint32_t)i, pw, buf, buflen, errnop);
}
