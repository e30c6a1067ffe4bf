/* buf.c - see buf.h. */
#include <string.h>

#include "nss_scim/buf.h"

void *scim_buf_alloc(struct scim_buf *b, size_t size, size_t align)
{
	size_t pad = scim_buf_pad(b->base, b->used, align);
	if (b->used > b->len || pad > b->len - b->used || size > b->len - b->used - pad)
		return NULL;
	void *p = b->base + b->used + pad;
	b->used += pad + size;
	return p;
}

char *scim_buf_strndup(struct scim_buf *b, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *p = scim_buf_alloc(b, n + 1, 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

char *scim_buf_strdup(struct scim_buf *b, const char *s)
{
	return scim_buf_strndup(b, s, strlen(s));
}
