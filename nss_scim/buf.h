/* buf.h - the one checked packer for glibc's caller-supplied buffers.
 *
 * glibc's reentrant calls want every string of an answer inside the caller's
 * buffer.  Callers size the answer first with the scim_need_* helpers and fail
 * early with ERANGE; the packer still checks every allocation, so a wrong size
 * computation gives ERANGE instead of a write past buflen. */
#ifndef SCIM_BUF_H
#define SCIM_BUF_H

#include <stddef.h>
#include <stdint.h>

struct scim_buf {
	char *base;
	size_t len;
	size_t used;
};

static inline void scim_buf_init(struct scim_buf *b, char *base, size_t len)
{
	b->base = base;
	b->len = len;
	b->used = 0;
}

/* Padding that brings base+offset to align (a power of two).  The caller's
 * buffer has no alignment guarantee. */
static inline size_t scim_buf_pad(const char *base, size_t offset, size_t align)
{
	return (size_t)(-((uintptr_t)base + offset)) & (align - 1);
}

/* size bytes aligned to align, or NULL when they do not fit. */
void *scim_buf_alloc(struct scim_buf *b, size_t size, size_t align);
/* A NUL-terminated copy of s[0..n), or NULL when it does not fit. */
char *scim_buf_strndup(struct scim_buf *b, const char *s, size_t n);
char *scim_buf_strdup(struct scim_buf *b, const char *s);

#endif
