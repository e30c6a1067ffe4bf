/* replay.c - main() for the fuzz targets in an ordinary build: feeds every
 * file named on the command line (directories recursed, in name order) to
 * LLVMFuzzerTestOneInput once, as libFuzzer does when given files.
 *
 * Without arguments it replays the target's corpus, $top_srcdir/fuzz/corpus/
 * NAME for the program fuzz_NAME: that is the test "make check" runs, so an
 * input that once crashed a target keeps being tried.  An empty corpus is a
 * failure, not a pass. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz.h"

static unsigned long replayed;

static int replay_file(const char *path)
{
	struct stat st;
	unsigned char *data = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	/* Exactly the file's size, so a sanitizer sees a read past the input. */
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data) {
		r = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	LLVMFuzzerTestOneInput(data, got);
	replayed++;
out:
	if (r < 0)
		fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
	if (fd >= 0)
		close(fd);
	free(data);
	return r;
}

static int replay_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		char sub[PATH_MAX];
		if (names[i]->d_name[0] != '.' && r == 0) {
			if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name) >= sizeof(sub))
				r = -ENAMETOOLONG;
			else
				r = replay_path(sub);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	char corpus[PATH_MAX];
	const char *base = strrchr(argv[0], '/'), *top = getenv("top_srcdir");
	int r = 0;

	base = base ? base + 1 : argv[0];
	if (!strncmp(base, "lt-", 3)) /* run through a libtool wrapper */
		base += 3;
	if (!strncmp(base, "fuzz_", 5))
		base += 5;
	if (argc < 2) {
		snprintf(corpus, sizeof(corpus), "%s/fuzz/corpus/%s", top ? top : ".", base);
		r = replay_path(corpus);
	}
	for (int i = 1; i < argc && r == 0; i++)
		r = replay_path(argv[i]);
	if (r == 0 && replayed == 0) {
		fprintf(stderr, "replay: %s: no inputs\n", argc < 2 ? corpus : "arguments");
		return 1;
	}
	printf("fuzz_%s: %lu inputs replayed without a failure\n", base, replayed);
	return r < 0 ? 1 : 0;
}
