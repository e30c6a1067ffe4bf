/* minisig.c - minisign's key and signature formats, with libsodium.
 *
 * Layouts (all base64, standard alphabet with padding):
 *   public key  "Ed" | key id (8) | Ed25519 public key (32)
 *   secret key  "Ed" | kdf "\0\0" (none) or "Sc" | "B2" | salt (32) |
 *               opslimit (8) | memlimit (8) | key id (8) | Ed25519 secret
 *               key (64) | BLAKE2b-256 of "Ed" | key id | secret key
 *   signature   "ED" | key id (8) | Ed25519(BLAKE2b-512(data)); then the
 *               trusted comment, then Ed25519(signature || trusted comment)
 * Only the prehashed "ED" form is made and accepted: the legacy "Ed" form
 * signs the whole file, and nothing of ours needs it. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "snapshot/snapshot.h"
#include "snapshot/snap_err.h"

#define COMMENT_PREFIX "untrusted comment: "
#define TRUSTED_PREFIX "trusted comment: "
#define KEYFILE_MAX 4096

struct pub_raw {
	unsigned char alg[2];
	unsigned char keyid[SCIM_SNAP_KEYID_BYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
};

struct sec_raw {
	unsigned char alg[2], kdf[2], chk_alg[2];
	unsigned char salt[32];
	unsigned char ops[8], mem[8];
	unsigned char keyid[SCIM_SNAP_KEYID_BYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char chk[crypto_generichash_BYTES];
};

struct sig_raw {
	unsigned char alg[2];
	unsigned char keyid[SCIM_SNAP_KEYID_BYTES];
	unsigned char sig[crypto_sign_BYTES];
};

_Static_assert(sizeof(struct pub_raw) == 42, "minisign public key is 42 bytes");
_Static_assert(sizeof(struct sec_raw) == 158, "minisign secret key is 158 bytes");
_Static_assert(sizeof(struct sig_raw) == 74, "minisign signature is 74 bytes");


static int init(char *err)
{
	if (sodium_init() < 0) {
		scim_snap_seterr(err, "libsodium failed to initialise");
		return -EIO;
	}
	return 0;
}

/* Exactly outlen bytes from one base64 string of len characters, in its
 * one canonical spelling.  libsodium 1.0.18's decoder alone takes some bytes
 * above 0x7f as base64 digits, so a flipped bit could decode to the same
 * bytes: re-encoding and comparing closes that. */
static int b64_exact(const char *s, size_t len, void *out, size_t outlen)
{
	char again[512];
	size_t got;

	if (sodium_base64_ENCODED_LEN(outlen, sodium_base64_VARIANT_ORIGINAL) > sizeof(again) ||
	    len + 1 != sodium_base64_ENCODED_LEN(outlen, sodium_base64_VARIANT_ORIGINAL))
		return -EBADMSG;
	if (sodium_base642bin(out, outlen, s, len, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != outlen)
		return -EBADMSG;
	sodium_bin2base64(again, sizeof(again), out, outlen, sodium_base64_VARIANT_ORIGINAL);
	if (memcmp(again, s, len))
		return -EBADMSG;
	return 0;
}

/* Strips blanks at both ends: returns the start, and the length in *n. */
static const char *trim(const char *s, size_t len, size_t *n)
{
	while (len && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	*n = len;
	return s;
}

/* Reads a small key file whole, NUL-terminated.  Secret keys are refused
 * when anyone but the owner can read them. */
static int read_small(const char *path, bool secret, char *buf, size_t cap, size_t *len, char *err)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		scim_snap_seterr(err, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		scim_snap_seterr(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EBADMSG;
		scim_snap_seterr(err, "%s: not a regular file", path);
		goto out;
	}
	if (secret && (st.st_mode & 077)) {
		r = -EPERM;
		scim_snap_seterr(err, "%s: a secret key must not be readable by group or others (chmod 600)", path);
		goto out;
	}
	while ((n = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	if (n < 0) {
		r = -errno;
		scim_snap_seterr(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (got == cap - 1) {
		r = -EBADMSG;
		scim_snap_seterr(err, "%s: too large for a key file", path);
		goto out;
	}
	buf[got] = '\0';
	*len = got;
out:
	close(fd);
	return r;
}

/* The base64 line of a two-line key file: "untrusted comment: ..." first. */
static int second_line(const char *path, const char *buf, size_t len, const char **line, size_t *n, char *err)
{
	const char *nl;

	if (len < strlen(COMMENT_PREFIX) || memcmp(buf, COMMENT_PREFIX, strlen(COMMENT_PREFIX)) ||
	    !(nl = memchr(buf, '\n', len))) {
		scim_snap_seterr(err, "%s: not a minisign key file (no untrusted comment line)", path);
		return -EBADMSG;
	}
	*line = trim(nl + 1, len - (size_t)(nl + 1 - buf), n);
	if (memchr(*line, '\n', *n)) {
		scim_snap_seterr(err, "%s: more than two lines", path);
		return -EBADMSG;
	}
	return 0;
}

int scim_snap_pubkey_parse(const char *b64, struct scim_snap_pubkey *pk, char *err)
{
	struct pub_raw raw;
	const char *s;
	size_t n;

	s = trim(b64, strlen(b64), &n);
	if (b64_exact(s, n, &raw, sizeof(raw)) < 0) {
		scim_snap_seterr(err, "public key: not the base64 of a minisign public key");
		return -EBADMSG;
	}
	if (memcmp(raw.alg, "Ed", 2)) {
		scim_snap_seterr(err, "public key: unsupported algorithm");
		return -EBADMSG;
	}
	memcpy(pk->keyid, raw.keyid, sizeof(pk->keyid));
	memcpy(pk->pk, raw.pk, sizeof(pk->pk));
	return 0;
}

int scim_snap_pubkey_load(const char *path, struct scim_snap_pubkey *pk, char *err)
{
	char buf[KEYFILE_MAX], line[KEYFILE_MAX];
	const char *s;
	size_t len, n;
	int r;

	if ((r = read_small(path, false, buf, sizeof(buf), &len, err)) < 0 ||
	    (r = second_line(path, buf, len, &s, &n, err)) < 0)
		return r;
	memcpy(line, s, n);
	line[n] = '\0';
	if ((r = scim_snap_pubkey_parse(line, pk, err)) < 0 && err) {
		char why[SCIM_SNAP_ERR_MAX];
		snprintf(why, sizeof(why), "%s", err);
		scim_snap_seterr(err, "%s: %s", path, why);
	}
	return r;
}

static void sec_chk(const struct sec_raw *raw, unsigned char chk[crypto_generichash_BYTES])
{
	crypto_generichash_state hs;

	crypto_generichash_init(&hs, NULL, 0, crypto_generichash_BYTES);
	crypto_generichash_update(&hs, raw->alg, sizeof(raw->alg));
	crypto_generichash_update(&hs, raw->keyid, sizeof(raw->keyid));
	crypto_generichash_update(&hs, raw->sk, sizeof(raw->sk));
	crypto_generichash_final(&hs, chk, crypto_generichash_BYTES);
}

int scim_snap_seckey_load(const char *path, struct scim_snap_seckey *sk, char *err)
{
	static const unsigned char zero[crypto_generichash_BYTES];
	char buf[KEYFILE_MAX];
	struct sec_raw raw;
	unsigned char chk[crypto_generichash_BYTES], pk[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES];
	const char *s;
	size_t len, n;
	int r;

	if ((r = init(err)) < 0 || (r = read_small(path, true, buf, sizeof(buf), &len, err)) < 0 ||
	    (r = second_line(path, buf, len, &s, &n, err)) < 0)
		goto out;
	r = -EBADMSG;
	if (b64_exact(s, n, &raw, sizeof(raw)) < 0) {
		scim_snap_seterr(err, "%s: not a minisign secret key", path);
		goto out;
	}
	if (memcmp(raw.alg, "Ed", 2) || memcmp(raw.chk_alg, "B2", 2)) {
		scim_snap_seterr(err, "%s: unsupported key algorithm", path);
		goto out;
	}
	if (!memcmp(raw.kdf, "Sc", 2)) {
		scim_snap_seterr(err,
		       "%s: the secret key is encrypted with a password; make one without (minisign -G -W, "
		       "or scim-refreshd --keygen)",
		       path);
		goto out;
	}
	if (memcmp(raw.kdf, "\0\0", 2)) {
		scim_snap_seterr(err, "%s: unsupported key derivation", path);
		goto out;
	}
	/* minisign -W leaves the checksum zero; ours fills it in. */
	sec_chk(&raw, chk);
	if (sodium_memcmp(raw.chk, zero, sizeof(zero)) && sodium_memcmp(raw.chk, chk, sizeof(chk))) {
		scim_snap_seterr(err, "%s: the secret key's checksum does not match (damaged file)", path);
		goto out;
	}
	/* The key's second half is its public key: a damaged seed shows here. */
	crypto_sign_seed_keypair(pk, sk2, raw.sk);
	if (sodium_memcmp(sk2, raw.sk, sizeof(sk2))) {
		scim_snap_seterr(err, "%s: the secret key is inconsistent (damaged file)", path);
		goto out;
	}
	memcpy(sk->keyid, raw.keyid, sizeof(sk->keyid));
	memcpy(sk->sk, raw.sk, sizeof(sk->sk));
	r = 0;
out:
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(&raw, sizeof(raw));
	sodium_memzero(sk2, sizeof(sk2));
	return r;
}

void scim_snap_seckey_wipe(struct scim_snap_seckey *sk)
{
	sodium_memzero(sk, sizeof(*sk));
}

static int write_new(const char *path, mode_t mode, const char *text, char *err)
{
	size_t len = strlen(text), done = 0;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		r = -errno;
		scim_snap_seterr(err, "%s: %s", path, strerror(errno));
		return r;
	}
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		done += (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		r = -errno;
out:
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		scim_snap_seterr(err, "%s: %s", path, strerror(-r));
		unlink(path);
	}
	return r;
}

int scim_snap_keygen(const char *prefix, char *err)
{
	struct sec_raw raw = { 0 };
	struct pub_raw pub = { 0 };
	char b64sec[sodium_base64_ENCODED_LEN(sizeof(raw), sodium_base64_VARIANT_ORIGINAL)];
	char b64pub[sodium_base64_ENCODED_LEN(sizeof(pub), sodium_base64_VARIANT_ORIGINAL)];
	char keypath[4096], pubpath[4096], text[1024];
	unsigned long long id = 0;
	int r;

	if ((r = init(err)) < 0)
		return r;
	if ((size_t)snprintf(keypath, sizeof(keypath), "%s.key", prefix) >= sizeof(keypath) ||
	    (size_t)snprintf(pubpath, sizeof(pubpath), "%s.pub", prefix) >= sizeof(pubpath)) {
		scim_snap_seterr(err, "key prefix too long");
		return -ENAMETOOLONG;
	}
	if (access(pubpath, F_OK) == 0) {
		scim_snap_seterr(err, "%s exists: not overwriting a key", pubpath);
		return -EEXIST;
	}
	memcpy(raw.alg, "Ed", 2);
	memcpy(raw.chk_alg, "B2", 2);
	randombytes_buf(raw.keyid, sizeof(raw.keyid));
	crypto_sign_keypair(pub.pk, raw.sk);
	sec_chk(&raw, raw.chk);
	memcpy(pub.alg, "Ed", 2);
	memcpy(pub.keyid, raw.keyid, sizeof(pub.keyid));
	/* minisign prints the id as the little-endian number. */
	for (int i = SCIM_SNAP_KEYID_BYTES - 1; i >= 0; i--)
		id = id << 8 | raw.keyid[i];

	sodium_bin2base64(b64sec, sizeof(b64sec), (const unsigned char *)&raw, sizeof(raw),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), COMMENT_PREFIX "scim-refreshd snapshot secret key %016llX\n%s\n", id, b64sec);
	r = write_new(keypath, 0600, text, err);
	sodium_memzero(text, sizeof(text));
	sodium_memzero(b64sec, sizeof(b64sec));
	sodium_memzero(&raw, sizeof(raw));
	if (r < 0) {
		if (r == -EEXIST)
			scim_snap_seterr(err, "%s exists: not overwriting a key", keypath);
		return r;
	}
	sodium_bin2base64(b64pub, sizeof(b64pub), (const unsigned char *)&pub, sizeof(pub),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), COMMENT_PREFIX "minisign public key %016llX\n%s\n", id, b64pub);
	if ((r = write_new(pubpath, 0644, text, err)) < 0)
		unlink(keypath);
	return r;
}

static bool comment_ok(const char *c)
{
	size_t n = strlen(c);

	if (n == 0 || n > SCIM_SNAP_COMMENT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)c[i] < 0x20 || (unsigned char)c[i] >= 0x7f)
			return false;
	return true;
}

static void prehash(const void *data, size_t len, unsigned char h[crypto_generichash_BYTES_MAX])
{
	crypto_generichash(h, crypto_generichash_BYTES_MAX, data, len, NULL, 0);
}

int scim_snap_sign(const struct scim_snap_seckey *sk, const void *data, size_t len, const char *trusted_comment,
		   char **out, char *err)
{
	unsigned char h[crypto_generichash_BYTES_MAX], global[crypto_sign_BYTES], *both = NULL;
	char b64sig[sodium_base64_ENCODED_LEN(sizeof(struct sig_raw), sodium_base64_VARIANT_ORIGINAL)];
	char b64glob[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	struct sig_raw sig;
	size_t clen, tlen;
	char *text = NULL;
	int r;

	if ((r = init(err)) < 0)
		return r;
	/* Printable ASCII only: minisign accepts UTF-8 too, but ours never
	 * needs it, and a line that is the same in every locale is easier to
	 * check by hand. */
	if (!comment_ok(trusted_comment)) {
		scim_snap_seterr(err, "the trusted comment must be 1 to %d printable ASCII characters", SCIM_SNAP_COMMENT_MAX);
		return -EINVAL;
	}
	clen = strlen(trusted_comment);
	prehash(data, len, h);
	memcpy(sig.alg, "ED", 2);
	memcpy(sig.keyid, sk->keyid, sizeof(sig.keyid));
	crypto_sign_detached(sig.sig, NULL, h, sizeof(h), sk->sk);
	both = malloc(sizeof(sig.sig) + clen);
	if (!both) {
		scim_snap_seterr(err, "out of memory");
		return -ENOMEM;
	}
	memcpy(both, sig.sig, sizeof(sig.sig));
	memcpy(both + sizeof(sig.sig), trusted_comment, clen);
	crypto_sign_detached(global, NULL, both, sizeof(sig.sig) + clen, sk->sk);
	free(both);
	sodium_bin2base64(b64sig, sizeof(b64sig), (const unsigned char *)&sig, sizeof(sig),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b64glob, sizeof(b64glob), global, sizeof(global), sodium_base64_VARIANT_ORIGINAL);
	tlen = strlen(COMMENT_PREFIX) + 64 + strlen(b64sig) + strlen(TRUSTED_PREFIX) + clen + strlen(b64glob) + 8;
	text = malloc(tlen);
	if (!text) {
		scim_snap_seterr(err, "out of memory");
		return -ENOMEM;
	}
	snprintf(text, tlen, COMMENT_PREFIX "scim-refreshd fleet manifest\n%s\n" TRUSTED_PREFIX "%s\n%s\n", b64sig,
		 trusted_comment, b64glob);
	*out = text;
	return 0;
}

/* The next line of [*p, end) without its newline; -EBADMSG if there is none
 * (every line of a .minisig ends with one). */
static int take_line(const char **p, const char *end, const char **line, size_t *n)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (!nl)
		return -EBADMSG;
	*line = *p;
	*n = (size_t)(nl - *p);
	if (*n && nl[-1] == '\r')
		(*n)--;
	*p = nl + 1;
	return 0;
}

int scim_snap_sig_parse(const char *text, size_t len, struct scim_snap_sig *sig, char *err)
{
	const char *p = text, *end = text + len, *l;
	struct sig_raw raw;
	size_t n;

	memset(sig, 0, sizeof(*sig));
	if (memchr(text, '\0', len)) {
		scim_snap_seterr(err, "signature file: holds a NUL byte");
		return -EBADMSG;
	}
	if (take_line(&p, end, &l, &n) < 0 || n < strlen(COMMENT_PREFIX) ||
	    memcmp(l, COMMENT_PREFIX, strlen(COMMENT_PREFIX))) {
		scim_snap_seterr(err, "signature file: no untrusted comment line");
		return -EBADMSG;
	}
	if (take_line(&p, end, &l, &n) < 0 || b64_exact(l, n, &raw, sizeof(raw)) < 0) {
		scim_snap_seterr(err, "signature file: line 2 is not a minisign signature");
		return -EBADMSG;
	}
	if (memcmp(raw.alg, "ED", 2)) {
		scim_snap_seterr(err, "signature file: not a prehashed (ED) signature");
		return -EBADMSG;
	}
	if (take_line(&p, end, &l, &n) < 0 || n < strlen(TRUSTED_PREFIX) ||
	    memcmp(l, TRUSTED_PREFIX, strlen(TRUSTED_PREFIX))) {
		scim_snap_seterr(err, "signature file: no trusted comment line");
		return -EBADMSG;
	}
	l += strlen(TRUSTED_PREFIX);
	n -= strlen(TRUSTED_PREFIX);
	if (n > SCIM_SNAP_COMMENT_MAX) {
		scim_snap_seterr(err, "signature file: trusted comment longer than %d bytes", SCIM_SNAP_COMMENT_MAX);
		return -EBADMSG;
	}
	memcpy(sig->comment, l, n);
	sig->comment[n] = '\0';
	if (take_line(&p, end, &l, &n) < 0 || b64_exact(l, n, sig->global_sig, sizeof(sig->global_sig)) < 0) {
		scim_snap_seterr(err, "signature file: line 4 is not a global signature");
		return -EBADMSG;
	}
	if (p != end) {
		scim_snap_seterr(err, "signature file: data after the global signature");
		return -EBADMSG;
	}
	memcpy(sig->keyid, raw.keyid, sizeof(sig->keyid));
	memcpy(sig->sig, raw.sig, sizeof(sig->sig));
	return 0;
}

int scim_snap_sig_verify_comment(struct scim_snap_sig *sig, const struct scim_snap_pubkey *pks, size_t npk, char *err)
{
	const struct scim_snap_pubkey *key = NULL;
	size_t clen = strlen(sig->comment);
	unsigned char *both;
	int r;

	sig->key = NULL;
	if ((r = init(err)) < 0)
		return r;
	if (npk > 2) {
		scim_snap_seterr(err, "at most two public keys can be pinned (the current one and the next)");
		return -EINVAL;
	}
	for (size_t i = 0; i < npk; i++)
		if (!memcmp(pks[i].keyid, sig->keyid, sizeof(sig->keyid)))
			key = &pks[i];
	if (!key) {
		unsigned long long id = 0;
		for (int i = SCIM_SNAP_KEYID_BYTES - 1; i >= 0; i--)
			id = id << 8 | sig->keyid[i];
		scim_snap_seterr(err, "signed by key %016llX, which is not pinned", id);
		return -EPERM;
	}
	both = malloc(sizeof(sig->sig) + clen);
	if (!both) {
		scim_snap_seterr(err, "out of memory");
		return -ENOMEM;
	}
	memcpy(both, sig->sig, sizeof(sig->sig));
	memcpy(both + sizeof(sig->sig), sig->comment, clen);
	r = crypto_sign_verify_detached(sig->global_sig, both, sizeof(sig->sig) + clen, key->pk);
	free(both);
	if (r != 0) {
		scim_snap_seterr(err, "the trusted comment's signature does not verify");
		return -EPERM;
	}
	sig->key = key;
	return 0;
}

int scim_snap_sig_verify_data(const struct scim_snap_sig *sig, const void *data, size_t len, char *err)
{
	unsigned char h[crypto_generichash_BYTES_MAX];
	int r;

	if ((r = init(err)) < 0)
		return r;
	if (!sig->key) {
		scim_snap_seterr(err, "the trusted comment was not verified first");
		return -EPERM;
	}
	prehash(data, len, h);
	if (crypto_sign_verify_detached(sig->sig, h, sizeof(h), sig->key->pk) != 0) {
		scim_snap_seterr(err, "the snapshot's signature does not verify");
		return -EPERM;
	}
	return 0;
}
