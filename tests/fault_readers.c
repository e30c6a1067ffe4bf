/* fault_readers.c - 8 threads and 8 processes read the cache through the
 * reader library (cache/cache.h) while another process publishes it 500 times.
 *
 * Every generation G identifies itself in every answer, and its shape changes
 * with G so that a mix of two files cannot pass:
 *   users   r000.. (50 + G % 13 of them), uid 2000000 + i, gecos "gen G user i",
 *           home "/home/G/r00i", suspended when (i + G) % 5 == 0;
 *   groups  rg00.. (5 + G % 4 of them), gid 3000000 + j, members "mG.0" ..
 *           "mG.k" with k = (G + j) % 7.
 * A lookup's fields must all name one G and follow its rules; an enumeration
 * pass (one cursor) must see one G only, with exactly that generation's count.
 * The readers must see many generations (else nothing was tested), nothing
 * may crash, and each reader's descriptors after the last publish must be the
 * ones it had after its first lookup, none of them a replaced cache file
 * (checked past the reader's once-a-second stat of the path), and its last
 * answer must come from the last generation.
 *
 *   fault_readers [PUBLISHES]     (default 500; exit 0 pass, 1 fail) */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"

#define NTHREADS 8
#define NPROCS 8
#define NREADERS (NTHREADS + NPROCS)
#define UID0 2000000u
#define GID0 3000000u
#define MAX_USERS 63
#define MAX_GROUPS 9

struct stats {
	long lookups, notfound, user_passes, group_passes, errors;
	long gens_seen;              /* generation changes seen by this reader */
	long last_gen, stale_gen;    /* the last answer's; the answer right after the last publish */
	long stale_answers, max_lag; /* answers from a file replaced before the call began */
	long eagain;                 /* "try again": the file was replaced twice while being opened */
	int fds_before, fds_after, deleted_after;
	char first_error[200];
};

struct shared {
	atomic_int stop;
	atomic_int published; /* generation last published */
	struct stats st[NREADERS];
};

static struct shared *sh;
static char cache_path[300];

static unsigned nusers(unsigned g)
{
	return 50 + g % 13;
}

static unsigned ngroups(unsigned g)
{
	return 5 + g % 4;
}

static unsigned nmembers(unsigned g, unsigned j)
{
	return (g + j) % 7 + 1;
}

static int publish(unsigned g)
{
	struct scim_cache_header h = { .last_sync = time(NULL), .source = "fault-readers" };
	struct scim_cache_writer *w;
	char name[16], gecos[64], home[64], id[32], mem[8][24];
	const char *members[8];
	int r;

	r = scim_cache_writer_new(cache_path, nusers(g), ngroups(g), &w);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < nusers(g) && r == 0; i++) {
		struct scim_user u = { 0 };
		snprintf(name, sizeof(name), "r%03u", i);
		snprintf(gecos, sizeof(gecos), "gen %u user %u", g, i);
		snprintf(home, sizeof(home), "/home/%u/%s", g, name);
		snprintf(id, sizeof(id), "id-%u", i);
		u.name = name;
		u.uid = UID0 + i;
		u.gid = GID0;
		u.gecos = gecos;
		u.home = home;
		u.shell = "/bin/sh";
		u.suspended = (i + g) % 5 == 0;
		u.scim_id = id;
		u.has_ext = true;
		r = scim_cache_writer_add_user(w, &u);
	}
	for (unsigned j = 0; j < ngroups(g) && r == 0; j++) {
		struct scim_group gr = { 0 };
		snprintf(name, sizeof(name), "rg%02u", j);
		snprintf(id, sizeof(id), "gid-%u", j);
		for (unsigned k = 0; k < nmembers(g, j); k++) {
			snprintf(mem[k], sizeof(mem[k]), "m%u.%u", g, k);
			members[k] = mem[k];
		}
		gr.name = name;
		gr.gid = GID0 + j;
		gr.scim_id = id;
		gr.nmembers = nmembers(g, j);
		gr.members = members;
		r = scim_cache_writer_add_group(w, &gr);
	}
	if (r < 0) {
		scim_cache_writer_abort(w);
		return r;
	}
	return scim_cache_writer_commit(w, &h);
}

/* ---- checks: each returns the generation the answer belongs to, or -1 ---- */

struct answer {
	long gen;
	char why[160];
};

static void bad(struct answer *a, const char *why, const char *name)
{
	if (a->gen != -1)
		snprintf(a->why, sizeof(a->why), "%s: %s", name, why);
	a->gen = -1;
}

static int check_user(const struct scim_user *u, void *ctx)
{
	struct answer *a = ctx;
	char name[40], home[80];
	unsigned g = 0, i = 0, g2 = 0;

	snprintf(name, sizeof(name), "%.*s", (int)u->name_len, u->name);
	if (sscanf(u->gecos, "gen %u user %u", &g, &i) != 2 || u->uid != UID0 + i) {
		bad(a, "gecos does not name the generation and the user", name);
		return 0;
	}
	snprintf(home, sizeof(home), "%.*s", (int)u->home_len, u->home);
	if (sscanf(home, "/home/%u/", &g2) != 1 || g2 != g || i >= nusers(g) || u->suspended != ((i + g) % 5 == 0)) {
		bad(a, "fields from two generations", name);
		return 0;
	}
	if (a->gen == 0)
		a->gen = g;
	else if (a->gen > 0 && a->gen != (long)g)
		bad(a, "a second generation in one answer", name);
	return 0;
}

static int check_group(const struct scim_group *gr, void *ctx)
{
	struct answer *a = ctx;
	const char *m;
	size_t pos = 0, mlen;
	unsigned j = gr->gid - GID0, g = 0, k = 0, n = 0;
	char name[40], buf[32];

	snprintf(name, sizeof(name), "%s", gr->name);
	if (j >= MAX_GROUPS) {
		bad(a, "gid out of range", name);
		return 0;
	}
	while (scim_rec_next_member(gr, &pos, &m, &mlen) == 0) {
		unsigned mg, mk;
		snprintf(buf, sizeof(buf), "%.*s", (int)mlen, m);
		if (sscanf(buf, "m%u.%u", &mg, &mk) != 2 || (n > 0 && mg != g) || mk != k) {
			bad(a, "members from two generations", name);
			return 0;
		}
		g = mg;
		k++;
		n++;
	}
	if (n == 0 || n != gr->nmembers || n != nmembers(g, j) || j >= ngroups(g)) {
		bad(a, "member count does not fit the generation", name);
		return 0;
	}
	if (a->gen == 0)
		a->gen = g;
	else if (a->gen > 0 && a->gen != (long)g)
		bad(a, "a second generation in one pass", name);
	return 0;
}

static int count_fds(int *deleted)
{
	char link[512], path[300];
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	*deleted = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t len;
		if (e->d_name[0] == '.')
			continue;
		n++;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len > 0) {
			link[len] = 0;
			if (strstr(link, "(deleted)"))
				(*deleted)++;
		}
	}
	closedir(d);
	return n - 1; /* the directory's own */
}

static void fail_once(struct stats *st, const char *what, const struct answer *a)
{
	/* TRYAGAIN is an answer NSS callers are told to expect, not a mix of
	 * two files: counted and reported. */
	if (!strcmp(what, strerror(EAGAIN))) {
		st->eagain++;
		return;
	}
	if (st->errors++ == 0)
		snprintf(st->first_error, sizeof(st->first_error), "%s: %s", what, a->why);
}

static void seen(struct stats *st, long gen, long *last_gen)
{
	if (gen != *last_gen)
		st->gens_seen++;
	*last_gen = gen;
	st->last_gen = gen;
}

/* One step of a reader: a lookup of each kind and, every 8th step, a whole
 * pass over the users or the groups. */
static void read_once(struct stats *st, unsigned *seed, long *last_gen)
{
	unsigned i = (unsigned)rand_r(seed) % MAX_USERS, j = (unsigned)rand_r(seed) % MAX_GROUPS;
	char name[16];
	struct answer a = { 0 };
	int r;

	long before = atomic_load(&sh->published);
	snprintf(name, sizeof(name), "r%03u", i);
	r = (i & 1) ? scim_cache_user_by_name(NULL, name, check_user, &a)
		    : scim_cache_passwd_by_uid(NULL, UID0 + i, check_user, &a);
	if (r == -ENOENT && i >= 50)
		st->notfound++;
	else if (r < 0 || a.gen <= 0)
		fail_once(st, r < 0 ? strerror(-r) : "user lookup", &a);
	else {
		seen(st, a.gen, last_gen);
		if (a.gen < before) {
			st->stale_answers++;
			if (before - a.gen > st->max_lag)
				st->max_lag = before - a.gen;
		}
	}
	st->lookups++;

	memset(&a, 0, sizeof(a));
	snprintf(name, sizeof(name), "rg%02u", j);
	r = (j & 1) ? scim_cache_group_by_name(NULL, name, check_group, &a)
		    : scim_cache_group_by_gid(NULL, GID0 + j, check_group, &a);
	if (r == -ENOENT && j >= 5)
		st->notfound++;
	else if (r < 0 || a.gen <= 0)
		fail_once(st, r < 0 ? strerror(-r) : "group lookup", &a);
	else
		seen(st, a.gen, last_gen);
	st->lookups++;

	if (rand_r(seed) % 8 == 0) {
		struct scim_cursor cur = { 0 };
		bool users = rand_r(seed) & 1;
		long n = 0;
		memset(&a, 0, sizeof(a));
		r = scim_cache_cursor_open(NULL, &cur);
		while (r == 0) {
			r = users ? scim_cache_user_next(&cur, check_user, &a)
				  : scim_cache_group_next(&cur, check_group, &a);
			if (r == 0)
				n++;
		}
		scim_cache_cursor_close(&cur);
		if (r != -ENOENT || a.gen <= 0) {
			fail_once(st, r != -ENOENT ? strerror(-r) : users ? "user pass" : "group pass", &a);
		} else if (n != (long)(users ? nusers((unsigned)a.gen) : ngroups((unsigned)a.gen))) {
			snprintf(a.why, sizeof(a.why), "%ld entries, generation %ld has %u", n, a.gen,
				 users ? nusers((unsigned)a.gen) : ngroups((unsigned)a.gen));
			fail_once(st, users ? "incomplete user pass" : "incomplete group pass", &a);
		} else {
			seen(st, a.gen, last_gen);
		}
		if (users)
			st->user_passes++;
		else
			st->group_passes++;
	}
}

static void reader_loop(int slot)
{
	struct stats *st = &sh->st[slot];
	unsigned seed = (unsigned)slot * 7919u + 1;
	long last_gen = 0;
	int deleted;

	/* The descriptors a reader holds once it has the cache open. */
	read_once(st, &seed, &last_gen);
	if (slot >= NTHREADS)
		st->fds_before = count_fds(&deleted);
	while (!atomic_load(&sh->stop))
		read_once(st, &seed, &last_gen);
	/* Right after the last publish (measured, see main); then, past the
	 * reader's once-a-second stat() of the path, no replaced file may
	 * still be open. */
	{
		/* r001 is in every generation, so this answer is never a
		 * not-found that leaves an older generation as the last seen. */
		struct answer a = { 0 };
		st->stale_gen = scim_cache_user_by_name(NULL, "r001", check_user, &a) == 0 ? a.gen : -1;
	}
	usleep(1100 * 1000);
	read_once(st, &seed, &last_gen);
	{
		struct answer a = { 0 };
		if (scim_cache_user_by_name(NULL, "r001", check_user, &a) == 0)
			st->last_gen = a.gen;
	}
	if (slot >= NTHREADS)
		st->fds_after = count_fds(&st->deleted_after);
	else
		st->fds_after = -1;
	if (st->last_gen != atomic_load(&sh->published)) {
		struct answer a = { 0 };
		snprintf(a.why, sizeof(a.why), "generation %ld, %d was published", st->last_gen,
			 atomic_load(&sh->published));
		fail_once(st, "an answer after the last publish", &a);
	}
}

static void *thread_main(void *arg)
{
	reader_loop((int)(intptr_t)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	int publishes = argc > 1 ? atoi(argv[1]) : 500, fails = 0, deleted, status;
	pid_t procs[NPROCS], publisher;
	pthread_t threads[NTHREADS];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[200];
	struct timespec t0, t1;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(dir, sizeof(dir), "%s/scim-readers.XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cache_path, sizeof(cache_path), "%s/cache.tdb", dir);
	setenv("NSS_SCIM_CACHE", cache_path, 1);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	r = publish(1);
	if (r < 0) {
		fprintf(stderr, "first publish: %s\n", strerror(-r));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);

	/* Processes first: no fork from a threaded process. */
	for (int p = 0; p < NPROCS; p++) {
		procs[p] = fork();
		if (procs[p] == 0) {
			reader_loop(NTHREADS + p);
			_exit(0);
		}
	}
	publisher = fork();
	if (publisher == 0) {
		for (int g = 2; g <= publishes + 1; g++) {
			r = publish((unsigned)g);
			if (r < 0) {
				fprintf(stderr, "publish %d: %s\n", g, strerror(-r));
				_exit(1);
			}
			atomic_store(&sh->published, g);
		}
		_exit(0);
	}
	/* The threads' process: its descriptors after a first lookup. */
	{
		struct stats warm = { 0 };
		unsigned seed = 1;
		long lg = 0;
		read_once(&warm, &seed, &lg);
	}
	int fds_main_before = count_fds(&deleted);
	for (int t = 0; t < NTHREADS; t++)
		pthread_create(&threads[t], NULL, thread_main, (void *)(intptr_t)t);

	if (waitpid(publisher, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL: the publisher failed\n");
		fails++;
	}
	atomic_store(&sh->stop, 1);
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(threads[t], NULL);
	for (int p = 0; p < NPROCS; p++) {
		if (waitpid(procs[p], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "FAIL: reader process %d %s %d\n", p,
				WIFSIGNALED(status) ? "died of signal" : "exited",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			fails++;
		}
	}
	int fds_main_after = count_fds(&deleted);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	long lookups = 0, passes = 0, notfound = 0, min_gens = -1, stale = 0, stale_lookups = 0, max_lag = 0,
	     eagain = 0;
	for (int s = 0; s < NREADERS; s++) {
		struct stats *st = &sh->st[s];
		lookups += st->lookups;
		notfound += st->notfound;
		passes += st->user_passes + st->group_passes;
		if (min_gens < 0 || st->gens_seen < min_gens)
			min_gens = st->gens_seen;
		stale += st->stale_gen != atomic_load(&sh->published);
		stale_lookups += st->stale_answers;
		eagain += st->eagain;
		if (st->max_lag > max_lag)
			max_lag = st->max_lag;
		if (getenv("FAULT_VERBOSE"))
			printf("reader %2d: %ld lookups, %ld passes, %ld generation changes, %ld stale user lookups "
			       "(up to %ld generations behind)\n",
			       s, st->lookups, st->user_passes + st->group_passes, st->gens_seen, st->stale_answers,
			       st->max_lag);
		if (st->errors) {
			fprintf(stderr, "FAIL: reader %d (%s): %ld wrong answers; first: %s\n", s,
				s < NTHREADS ? "thread" : "process", st->errors, st->first_error);
			fails++;
		}
		if (s >= NTHREADS && (st->fds_after != st->fds_before || st->deleted_after)) {
			fprintf(stderr,
				"FAIL: reader process %d: %d descriptors after its first lookup, %d at the end (%d of "
				"them deleted files)\n",
				s - NTHREADS, st->fds_before, st->fds_after, st->deleted_after);
			fails++;
		}
	}
	/* cache.h promises that a lookup sees a new file on the very next call:
	 * no lookup that began after a publish had finished may answer from an
	 * older file, and no reader may still be on the replaced file right after
	 * the last publish (before its once-a-second stat()). */
	printf("%ld user lookups answered from a file replaced before they began (up to %ld generations behind); "
	       "right after the last publish, %ld of %d readers still answered from the file it replaced; %ld calls "
	       "answered EAGAIN (try again)\n",
	       stale_lookups, max_lag, stale, NREADERS, eagain);
	if (stale_lookups || stale) {
		fprintf(stderr, "FAIL: answers from a replaced file after its publish had finished\n");
		fails++;
	}
	if (fds_main_after != fds_main_before || deleted) {
		fprintf(stderr, "FAIL: the threads' process: %d descriptors before, %d after (%d deleted files)\n",
			fds_main_before, fds_main_after, deleted);
		fails++;
	}
	/* Each reader must have watched the cache change under it many times. */
	if (min_gens < publishes / 100) {
		fprintf(stderr, "FAIL: a reader saw only %ld generations change in its passes over %d publishes\n",
			min_gens, publishes);
		fails++;
	}
	printf("%d publishes in %.1f s; %d threads and %d processes: %ld lookups (%ld not found, of users or groups "
	       "absent from some generations), %ld enumeration passes; every reader saw at least %ld generation "
	       "changes; descriptors %d -> %d (threads' process), processes unchanged\n",
	       publishes, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, NTHREADS, NPROCS,
	       lookups, notfound, passes, min_gens, fds_main_before, fds_main_after);
	unlink(cache_path);
	{
		char p[320];
		snprintf(p, sizeof(p), "%s.lock", cache_path);
		unlink(p);
	}
	rmdir(dir);
	printf("%s\n", fails ? "FAIL" : "PASS");
	return fails ? 1 : 0;
}
