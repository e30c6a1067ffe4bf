/* fleet_file.c - whole-file reads and atomic writes for the relay's
 * publish_dir and a host's state_dir, and a host's polling slot. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refreshd/fleet.h"
#include "refreshd/table.h"

int scim_fleet_write_file(const char *dir, const char *name, const void *buf, size_t len, mode_t mode, int64_t mtime)
{
	char *tmp = NULL, *dst = NULL;
	const char *p = buf;
	int fd = -1, dfd = -1, r = 0;

	/* The temp name starts with '.': nginx serves it (nothing points to
	 * it), the relay's clean-up knows it, and a glob of *.zst skips it. */
	if (asprintf(&tmp, "%s/.%s.%ld.tmp", dir, name, (long)getpid()) < 0 || asprintf(&dst, "%s/%s", dir, name) < 0) {
		tmp = dst = NULL;
		r = -ENOMEM;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	if (mtime > 0) {
		/* nginx's ETag is mtime and size: the relay sets mtime to the
		 * manifest's issue second, which it never repeats. */
		struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
		if (futimens(fd, ts) < 0) {
			r = -errno;
			goto out;
		}
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) < 0) {
		r = -errno;
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(dst);
	return r;
}

int scim_fleet_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd, r = 0;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		r = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	while (n < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -EIO;
			goto out;
		}
		n += (size_t)k;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

unsigned scim_fleet_splay(unsigned interval)
{
	char buf[64] = "";
	int fd = open("/etc/machine-id", O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;
	uint32_t rnd = 0;

	if (interval == 0)
		return 0;
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n <= 0) {
		/* No machine-id: a random slot is still a spread. */
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
			rnd = (uint32_t)getpid() * 2654435761u;
		return rnd % interval;
	}
	buf[n] = 0;
	/* FNV-1a: stable across runs and versions, so a host keeps its slot. */
	return (unsigned)(scim_fnv1a(buf, strlen(buf), SCIM_FNV_SEED) % interval);
}
