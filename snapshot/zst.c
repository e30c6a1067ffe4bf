/* zst.c - snapshot blobs: zstd frames and patch-from deltas, SHA-256 names.
 *
 * SHA-256 comes from OpenSSL's EVP (which libcurl already loads), not from
 * libsodium: OpenSSL uses the CPU's SHA extensions, libsodium's portable C
 * is about 8x slower, and a host hashes 18 MB at 100k users on every
 * install (90 ms of a 0.5 s budget, against 10 ms).
 *
 * Everything a host decompresses came from the network: the frame's declared
 * size is compared with the signed size before a byte is allocated, the
 * window is capped, and the output buffer is exactly the signed size, so a
 * frame that lies about its size fails instead of growing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "snapshot/snapshot.h"
#include "snapshot/snap_err.h"


static int zerr(size_t rc, const char *what, char *err)
{
	scim_snap_seterr(err, "%s: %s", what, ZSTD_getErrorName(rc));
	return ZSTD_getErrorCode(rc) == ZSTD_error_memory_allocation ? -ENOMEM : -EBADMSG;
}

/* The window a patch-from frame needs: the whole of old must stay within
 * reach while the last byte of new is written. */
static int window_log_for(size_t oldlen, size_t newlen)
{
	size_t need = oldlen + newlen;
	int wlog = 10; /* zstd's smallest window */

	while (wlog < SCIM_SNAP_WINDOWLOG_MAX && ((size_t)1 << wlog) < need)
		wlog++;
	return wlog;
}

static int compress_with(const void *prefix, size_t prefixlen, const void *src, size_t len, int level, void **out,
			 size_t *outlen, char *err)
{
	ZSTD_CCtx *cctx = NULL;
	void *dst = NULL;
	size_t cap, rc;
	int r = -ENOMEM;

	if (len > SCIM_SNAP_RAW_MAX || prefixlen > SCIM_SNAP_RAW_MAX) {
		scim_snap_seterr(err, "input of %zu bytes is over the %zu byte limit", len > prefixlen ? len : prefixlen,
		       SCIM_SNAP_RAW_MAX);
		return -E2BIG;
	}
	cctx = ZSTD_createCCtx();
	cap = ZSTD_compressBound(len);
	dst = malloc(cap);
	if (!cctx || !dst) {
		scim_snap_seterr(err, "out of memory");
		goto out;
	}
	r = -EINVAL;
	if (ZSTD_isError(rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1))) {
		r = zerr(rc, "zstd parameters", err);
		goto out;
	}
	if (prefix) {
		if (ZSTD_isError(rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_enableLongDistanceMatching, 1)) ||
		    ZSTD_isError(rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, window_log_for(prefixlen, len))) ||
		    ZSTD_isError(rc = ZSTD_CCtx_refPrefix(cctx, prefix, prefixlen))) {
			r = zerr(rc, "zstd patch-from parameters", err);
			goto out;
		}
	}
	rc = ZSTD_compress2(cctx, dst, cap, src, len);
	if (ZSTD_isError(rc)) {
		r = zerr(rc, "zstd compression", err);
		goto out;
	}
	*out = dst;
	*outlen = rc;
	dst = NULL;
	r = 0;
out:
	free(dst);
	ZSTD_freeCCtx(cctx);
	return r;
}

static int decompress_with(const void *prefix, size_t prefixlen, const void *src, size_t len, size_t expected_size,
			   void **out, char *err)
{
	ZSTD_DCtx *dctx = NULL;
	unsigned long long declared;
	void *dst = NULL;
	size_t rc;
	int r = -EBADMSG;

	if (expected_size > SCIM_SNAP_RAW_MAX) {
		scim_snap_seterr(err, "signed size %zu is over the %zu byte limit", expected_size, SCIM_SNAP_RAW_MAX);
		return -E2BIG;
	}
	declared = ZSTD_getFrameContentSize(src, len);
	if (declared == ZSTD_CONTENTSIZE_ERROR) {
		scim_snap_seterr(err, "not a zstd frame");
		return -EBADMSG;
	}
	if (declared == ZSTD_CONTENTSIZE_UNKNOWN) {
		scim_snap_seterr(err, "the zstd frame does not declare its size");
		return -EBADMSG;
	}
	if (declared != expected_size) {
		scim_snap_seterr(err, "the zstd frame declares %llu bytes, the manifest signed %zu", declared, expected_size);
		return declared > expected_size ? -E2BIG : -EBADMSG;
	}
	/* One frame and nothing after it: a second frame would be output the
	 * size check never saw. */
	rc = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(rc) || rc != len) {
		scim_snap_seterr(err, "the blob is not exactly one zstd frame");
		return -EBADMSG;
	}
	dctx = ZSTD_createDCtx();
	dst = malloc(expected_size ? expected_size : 1);
	if (!dctx || !dst) {
		scim_snap_seterr(err, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	if (ZSTD_isError(rc = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, SCIM_SNAP_WINDOWLOG_MAX)) ||
	    (prefix && ZSTD_isError(rc = ZSTD_DCtx_refPrefix(dctx, prefix, prefixlen)))) {
		r = zerr(rc, "zstd parameters", err);
		goto out;
	}
	rc = ZSTD_decompressDCtx(dctx, dst, expected_size, src, len);
	if (ZSTD_isError(rc)) {
		r = zerr(rc, "zstd decompression", err);
		goto out;
	}
	if (rc != expected_size) {
		scim_snap_seterr(err, "the zstd frame gave %zu bytes, the manifest signed %zu", rc, expected_size);
		goto out;
	}
	*out = dst;
	dst = NULL;
	r = 0;
out:
	free(dst);
	ZSTD_freeDCtx(dctx);
	return r;
}

int scim_snap_compress(const void *src, size_t len, int level, void **out, size_t *outlen, char *err)
{
	return compress_with(NULL, 0, src, len, level, out, outlen, err);
}

int scim_snap_decompress(const void *src, size_t len, size_t expected_size, void **out, char *err)
{
	return decompress_with(NULL, 0, src, len, expected_size, out, err);
}

int scim_snap_delta_make(const void *old, size_t oldlen, const void *new_, size_t newlen, int level, void **out,
			 size_t *outlen, char *err)
{
	/* refPrefix with a NULL prefix would mean "no prefix". */
	static const char empty[1];
	const char *o = old, *n = new_;
	void *copy = NULL;
	int r;

	/* zstd finds no match in a prefix that is the very memory it is
	 * compressing (the delta comes out as big as the full blob). */
	if (oldlen && newlen && o < n + newlen && n < o + oldlen) {
		copy = malloc(oldlen);
		if (!copy) {
			scim_snap_seterr(err, "out of memory");
			return -ENOMEM;
		}
		memcpy(copy, old, oldlen);
		old = copy;
	}
	r = compress_with(old && oldlen ? old : empty, oldlen, new_, newlen, level, out, outlen, err);
	free(copy);
	return r;
}

int scim_snap_delta_apply(const void *old, size_t oldlen, const void *delta, size_t deltalen, size_t expected_size,
			  void **out, char *err)
{
	static const char empty[1];

	return decompress_with(old && oldlen ? old : empty, oldlen, delta, deltalen, expected_size, out, err);
}

void scim_snap_sha256_hex(const void *buf, size_t len, char hex[SCIM_SNAP_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;

	/* EVP_Digest fails only without memory or a SHA-256 provider; an
	 * all-zero name then matches no signed hash, so the blob is refused. */
	if (EVP_Digest(buf, len, h, &hlen, EVP_sha256(), NULL) != 1 || hlen != 32)
		memset(h, 0, sizeof(h));
	for (size_t i = 0; i < 32; i++) {
		hex[2 * i] = digits[h[i] >> 4];
		hex[2 * i + 1] = digits[h[i] & 15];
	}
	hex[64] = '\0';
}
