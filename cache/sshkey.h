/* sshkey.h - OpenSSH public key lines, as the directory hands them out: the
 * checks scim-refreshd makes before a key reaches the cache, and the
 * fingerprints scimctl shows.  No crypto library: a key is only parsed, and
 * SHA-256 is all a fingerprint needs. */
#ifndef SCIM_SSHKEY_H
#define SCIM_SSHKEY_H

#include <stddef.h>

/* The longest key line the cache takes, and the most all of a user's may
 * take together. */
#define SCIM_SSHKEY_LINE_MAX 8192
#define SCIM_SSHKEYS_BYTES_MAX 16384

/* Checks one authorized_keys line of len bytes: a known key type
 * (ssh-ed25519, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com,
 * sk-ecdsa-sha2-nistp256@openssh.com, ssh-rsa), base64 that decodes to a
 * key blob whose embedded type is that type, and an optional comment.  Key
 * options (command=, from=, ...), control characters and anything else are
 * refused.  Returns 0 and the line in out as "type base64[ comment]" (blanks
 * around it removed, one space between the parts), or -EINVAL and *why, a
 * static phrase, or -ENOBUFS when outlen is too small. */
int scim_sshkey_check(const char *line, size_t len, char *out, size_t outlen, const char **why);

/* For a line scim_sshkey_check() accepted: its type (up to the first blank)
 * into type, and its fingerprint as ssh-keygen -l prints it ("SHA256:" and
 * unpadded base64 of the SHA-256 of the key blob) into fp (at least 51
 * bytes).  -EINVAL on a line that does not parse. */
int scim_sshkey_fingerprint(const char *line, size_t len, char *type, size_t tlen, char *fp, size_t fplen);

#endif
