/* nss_testlib.c - see nss_testlib.h. */
#include <dirent.h>
#include <dlfcn.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/nss_testlib.h"

extern char **environ;

static void *sym(void *h, const char *name)
{
	void *p = dlsym(h, name);
	if (!p) {
		fprintf(stderr, "nss_testlib: %s missing from libnss_scim.so.2\n", name);
		exit(1);
	}
	return p;
}

const char *nss_test_setup(struct nss_module *m)
{
	static char path[4096];
	char tmpl[] = "/tmp/nss-scim-test.XXXXXX", lib[4096];
	const char *libdir = getenv("SCIM_LIBDIR");

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/cache.tdb", tmpl);
	setenv("NSS_SCIM_CACHE", path, 1);
	snprintf(lib, sizeof(lib), "%s/libnss_scim.so.2", libdir ? libdir : ".libs");
	m->handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!m->handle) {
		fprintf(stderr, "nss_testlib: dlopen: %s\n", dlerror());
		exit(1);
	}
	m->getpwnam_r = sym(m->handle, "_nss_scim_getpwnam_r");
	m->getpwuid_r = sym(m->handle, "_nss_scim_getpwuid_r");
	m->setpwent = sym(m->handle, "_nss_scim_setpwent");
	m->getpwent_r = sym(m->handle, "_nss_scim_getpwent_r");
	m->endpwent = sym(m->handle, "_nss_scim_endpwent");
	m->getgrnam_r = sym(m->handle, "_nss_scim_getgrnam_r");
	m->getgrgid_r = sym(m->handle, "_nss_scim_getgrgid_r");
	m->setgrent = sym(m->handle, "_nss_scim_setgrent");
	m->getgrent_r = sym(m->handle, "_nss_scim_getgrent_r");
	m->endgrent = sym(m->handle, "_nss_scim_endgrent");
	m->initgroups_dyn = sym(m->handle, "_nss_scim_initgroups_dyn");
	return path;
}

static int run_mkcache(char *const argv[], const char *stdin_path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, stdin_path, 0, 0);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void tool_path(char *tool, size_t len)
{
	const char *builddir = getenv("top_builddir");
	snprintf(tool, len, "%s/tests/scim-mkcache", builddir ? builddir : ".");
}

int nss_test_publish_raw(const char *path, const void *data, size_t len, unsigned mode, int uid)
{
	char tool[4096], data_path[4096], mode_s[16], uid_s[16];
	FILE *f;

	tool_path(tool, sizeof(tool));
	snprintf(data_path, sizeof(data_path), "%s.raw", path);
	f = fopen(data_path, "w");
	if (!f || fwrite(data, 1, len, f) != len)
		return -1;
	fclose(f);
	snprintf(mode_s, sizeof(mode_s), "%o", mode);
	snprintf(uid_s, sizeof(uid_s), "%d", uid);
	char *with_uid[] = { tool, (char *)"--raw", mode_s, uid_s, (char *)path, NULL };
	char *without[] = { tool, (char *)"--raw", mode_s, (char *)path, NULL };
	return run_mkcache(uid >= 0 ? with_uid : without, data_path);
}

int nss_test_publish(const char *path, const char *description)
{
	char tool[4096], desc_path[4096];
	FILE *f;

	tool_path(tool, sizeof(tool));
	snprintf(desc_path, sizeof(desc_path), "%s.desc", path);
	f = fopen(desc_path, "w");
	if (!f)
		return -1;
	fputs(description, f);
	fclose(f);
	char *argv[] = { tool, (char *)path, NULL };
	return run_mkcache(argv, desc_path);
}

int nss_test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}
