/* lookup.c - see lookup.h. */
#include <errno.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/lookup.h"

struct parse_ctx {
	scim_data_fn fn;
	void *ctx;
	int result;
};

static int trampoline(TDB_DATA key, TDB_DATA data, void *priv)
{
	struct parse_ctx *p = priv;
	p->result = p->fn(data.dptr, data.dsize, p->ctx);
	return 0;
}

int scim_tdb_parse(struct tdb_context *tdb, const void *key, size_t klen, scim_data_fn fn, void *ctx)
{
	TDB_DATA k = { (unsigned char *)key, klen };
	struct parse_ctx p = { fn, ctx, 0 };
	if (tdb_parse_record(tdb, k, trampoline, &p) != 0)
		return tdb_error(tdb) == TDB_ERR_NOEXIST ? -ENOENT : -EBADMSG;
	return p.result;
}

int scim_tdb_parse_name(struct tdb_context *tdb, char tag, const void *name, size_t len, scim_data_fn fn,
			void *ctx)
{
	unsigned char key[SCIM_NAME_MAX + 1];
	if (len == 0 || len > SCIM_NAME_MAX)
		return -ENOENT;
	key[0] = (unsigned char)tag;
	memcpy(key + 1, name, len);
	return scim_tdb_parse(tdb, key, len + 1, fn, ctx);
}
