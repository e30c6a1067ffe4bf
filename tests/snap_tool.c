/* snap_tool.c - the snapshot unit from the shell, for snapshot_interop.sh:
 *
 *   scim-snaptool keygen PREFIX
 *   scim-snaptool sign SECKEY FILE COMMENT         (.minisig text on stdout)
 *   scim-snaptool verify PUBKEY FILE SIGFILE       (prints the trusted comment)
 *   scim-snaptool delta-make OLD NEW OUT
 *   scim-snaptool delta-apply OLD DELTA SIZE OUT
 *   scim-snaptool decompress IN SIZE OUT
 *
 * PUBKEY is a .pub file, or a base64 key line (RW...).  Exit 0 on success,
 * 1 with the reason on stderr otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

static int slurp(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f)
		return -errno;
	do {
		if (n == cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
}

static int spill(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -errno;
	if (fwrite(buf, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) ? -errno : 0;
}

static int fail(const char *what, int r, const char *err)
{
	fprintf(stderr, "scim-snaptool: %s: %s\n", what, err && *err ? err : strerror(-r));
	return 1;
}

int main(int argc, char **argv)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	char *a = NULL, *b = NULL;
	void *o = NULL;
	size_t alen, blen, olen;
	int r;

	if (argc == 3 && !strcmp(argv[1], "keygen")) {
		if ((r = scim_snap_keygen(argv[2], err)) < 0)
			return fail("keygen", r, err);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "sign")) {
		struct scim_snap_seckey sk;
		char *text;
		if ((r = scim_snap_seckey_load(argv[2], &sk, err)) < 0)
			return fail("secret key", r, err);
		if ((r = slurp(argv[3], &a, &alen)) < 0)
			return fail(argv[3], r, NULL);
		r = scim_snap_sign(&sk, a, alen, argv[4], &text, err);
		scim_snap_seckey_wipe(&sk);
		if (r < 0)
			return fail("sign", r, err);
		fputs(text, stdout);
		free(text);
		free(a);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "verify")) {
		struct scim_snap_pubkey pk;
		struct scim_snap_sig sig;
		if (!strncmp(argv[2], "RW", 2))
			r = scim_snap_pubkey_parse(argv[2], &pk, err);
		else
			r = scim_snap_pubkey_load(argv[2], &pk, err);
		if (r < 0)
			return fail("public key", r, err);
		if ((r = slurp(argv[4], &b, &blen)) < 0)
			return fail(argv[4], r, NULL);
		if ((r = scim_snap_sig_parse(b, blen, &sig, err)) < 0 ||
		    (r = scim_snap_sig_verify_comment(&sig, &pk, 1, err)) < 0)
			return fail("verify", r, err);
		if ((r = slurp(argv[3], &a, &alen)) < 0)
			return fail(argv[3], r, NULL);
		if ((r = scim_snap_sig_verify_data(&sig, a, alen, err)) < 0)
			return fail("verify", r, err);
		printf("%s\n", sig.comment);
		free(a);
		free(b);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "delta-make")) {
		if ((r = slurp(argv[2], &a, &alen)) < 0 || (r = slurp(argv[3], &b, &blen)) < 0)
			return fail("read", r, NULL);
		if ((r = scim_snap_delta_make(a, alen, b, blen, SCIM_SNAP_ZSTD_LEVEL, &o, &olen, err)) < 0)
			return fail("delta-make", r, err);
		if ((r = spill(argv[4], o, olen)) < 0)
			return fail(argv[4], r, NULL);
		free(a);
		free(b);
		free(o);
		return 0;
	}
	if ((argc == 6 && !strcmp(argv[1], "delta-apply")) || (argc == 5 && !strcmp(argv[1], "decompress"))) {
		bool delta = argc == 6;
		char *end;
		unsigned long long size = strtoull(argv[delta ? 4 : 3], &end, 10);
		if (*end)
			return fail("size", -EINVAL, NULL);
		if (delta && (r = slurp(argv[2], &a, &alen)) < 0)
			return fail(argv[2], r, NULL);
		if ((r = slurp(argv[delta ? 3 : 2], &b, &blen)) < 0)
			return fail("read", r, NULL);
		r = delta ? scim_snap_delta_apply(a, alen, b, blen, (size_t)size, &o, err)
			  : scim_snap_decompress(b, blen, (size_t)size, &o, err);
		if (r < 0)
			return fail(argv[1], r, err);
		if ((r = spill(argv[delta ? 5 : 4], o, (size_t)size)) < 0)
			return fail("write", r, NULL);
		free(a);
		free(b);
		free(o);
		return 0;
	}
	fprintf(stderr, "usage: scim-snaptool keygen|sign|verify|delta-make|delta-apply|decompress ...\n");
	return 2;
}
