/* pack.c - copies one decoded cache record into the caller's buffer.
 * Sizes are computed first so a short buffer fails before anything is
 * written; the packer (buf.c) checks every step again. */
#include <errno.h>
#include <string.h>

#include "nss_scim/buf.h"
#include "nss_scim/pack.h"

/* The lengths come from the decoder (cache.h): no strlen on the hot path. */
size_t scim_need_passwd(const struct scim_user *u)
{
	return (size_t)u->name_len + 1 + sizeof(SCIM_NO_PASSWORD) + u->gecos_len + 1 + u->home_len + 1 +
	       u->shell_len + 1;
}

int scim_pack_passwd(const struct scim_user *u, struct passwd *pw, char *buf, size_t buflen)
{
	struct scim_buf b;

	if (scim_need_passwd(u) > buflen)
		return -ERANGE;
	scim_buf_init(&b, buf, buflen);
	pw->pw_name = scim_buf_strndup(&b, u->name, u->name_len);
	pw->pw_passwd = scim_buf_strndup(&b, SCIM_NO_PASSWORD, sizeof(SCIM_NO_PASSWORD) - 1);
	pw->pw_gecos = scim_buf_strndup(&b, u->gecos, u->gecos_len);
	pw->pw_dir = scim_buf_strndup(&b, u->home, u->home_len);
	pw->pw_shell = scim_buf_strndup(&b, u->shell, u->shell_len);
	if (!pw->pw_name || !pw->pw_passwd || !pw->pw_gecos || !pw->pw_dir || !pw->pw_shell)
		return -ERANGE;
	pw->pw_uid = u->uid;
	pw->pw_gid = u->gid;
	return 0;
}

size_t scim_need_group(const struct scim_group *g, const char *buf)
{
	size_t ptrs = ((size_t)g->nmembers + 1) * sizeof(char *);
	return scim_buf_pad(buf, 0, _Alignof(char *)) + ptrs + strlen(g->name) + 1 + sizeof(SCIM_NO_PASSWORD) +
	       g->member_bytes;
}

int scim_pack_group(const struct scim_group *g, struct group *gr, char *buf, size_t buflen)
{
	struct scim_buf b;
	size_t pos = 0, nlen;
	const char *name;
	char **mem;
	int r;

	if (scim_need_group(g, buf) > buflen)
		return -ERANGE;
	scim_buf_init(&b, buf, buflen);
	/* The pointer array goes first, where the alignment is known. */
	mem = scim_buf_alloc(&b, ((size_t)g->nmembers + 1) * sizeof(char *), _Alignof(char *));
	gr->gr_name = scim_buf_strdup(&b, g->name);
	gr->gr_passwd = scim_buf_strdup(&b, SCIM_NO_PASSWORD);
	if (!mem || !gr->gr_name || !gr->gr_passwd)
		return -ERANGE;
	for (uint32_t i = 0; i < g->nmembers; i++) {
		r = scim_rec_next_member(g, &pos, &name, &nlen);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		mem[i] = scim_buf_strndup(&b, name, nlen);
		if (!mem[i])
			return -ERANGE;
	}
	mem[g->nmembers] = NULL;
	gr->gr_mem = mem;
	gr->gr_gid = g->gid;
	return 0;
}
