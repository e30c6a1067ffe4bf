/* snapshot.h - the fleet snapshot format: a canonical stream of the mapped
 * directory, its zstd compression and patch-from deltas, and the signed
 * manifest (minisign's format) that says which snapshot is current.
 *
 * Written by a relay scim-refreshd, read by hosts.  This unit never reaches
 * the NSS or PAM modules and never touches the network.
 *
 * Every function returns 0 or a negative errno value:
 *   -EBADMSG  the input is malformed, inconsistent, or fails a check; err
 *             (when given) says which check and where
 *   -EPERM    a signature does not verify, or no pinned key signed it
 *   -E2BIG    a size is over a limit (decompression bomb, too many deltas)
 *   -EINVAL   the caller passed something unencodable (encode, sign)
 *   other     what the system or the library said (-ENOMEM, -EIO, ...)
 * err is a caller buffer of SCIM_SNAP_ERR_MAX bytes (may be NULL); it holds
 * one line without a trailing newline, and is set only on failure.
 *
 * ---- The stream (format version 1) -------------------------------------
 * Text, one record per line ('\n'), fields separated by one TAB, so that
 * "zstd -dc SHA.zst | grep alice" works.  Records, in this order:
 *
 *   scim-snapshot	1
 *   source	SOURCE
 *   counts	USERS	SUSPENDED	REMOVED	GROUPS	MEMBERSHIPS
 *   U	ID	NAME	UID	GID	GECOS	HOME	SHELL	active|suspended
 *   R	ID	NAME	UID	SINCE                    (a removed user's number)
 *   G	ID	NAME	GID	[MEMBER_UID	...]          (members by the user's uid)
 *   end
 *
 * U records are sorted by ID, then R records by ID, then G records by ID
 * (bytewise, as memcmp), and each group's members by uid (numerically).
 * Nothing in the stream changes from one sync to the next unless the
 * directory did (no time stamps, no generation): the same directory gives the
 * same bytes, and a change stays on its own line, which is what keeps deltas
 * small.  Membership is stored once, on the groups.  A member is written as
 * its user's uid, which never moves (like the SCIM id, so a rename still
 * changes one line) and is a third of a UUID's size: at 100k users and 1M
 * memberships the stream is half as big and compresses 1.9x better at level
 * 9 (bench/snapbench).  The encoder maps members to uids, the decoder maps
 * them back to users.
 *
 * Escaping: in any field, '\\' is written "\\\\", TAB "\\t", LF "\\n", CR
 * "\\r", and every other byte below 0x20 or equal to 0x7f "\\xHH" (lowercase
 * hex).  Every other byte is written as is.  Each value has exactly one
 * encoding: the decoder refuses any other escape, so decode then encode gives
 * back the input byte for byte.
 *
 * Numbers are decimal without sign or leading zeros.  SINCE is unix seconds.
 * The decoder checks (and the encoder refuses to write) anything a host must
 * not install: names outside [a-z_][a-z0-9_.-]{0,31}; GECOS with ':' ',' or
 * control characters, or longer than 255 bytes; HOME or SHELL not absolute,
 * or with ':' or control characters; an empty ID or one longer than 1024
 * bytes; a number 0 or outside [uid_min, uid_max] (a user's GID may instead
 * be the host's configured primary_gid, never 0); two users (or two groups)
 * with the same name; one number used twice among users, removed users and
 * groups; a removed ID that is also a user; a member that is not a user;
 * records out of order or duplicated; counts that differ from the header or
 * from what the manifest signed.  The decoder's error names the line or the
 * SCIM id at fault.
 *
 * ---- Blobs --------------------------------------------------------------
 * snapshots/SHA256.zst is the stream compressed as one zstd frame with its
 * content size (and zstd's checksum); SHA256 is the lowercase hex SHA-256 of
 * the uncompressed stream.  deltas/FROM-TO.zst is a zstd frame made with the
 * FROM stream as prefix (zstd --patch-from), which decompresses to TO.  The
 * decoder refuses a frame whose declared content size is not the signed size
 * before it allocates anything, and caps the window (SCIM_SNAP_WINDOWLOG_MAX).
 *
 * ---- The manifest -------------------------------------------------------
 * manifest.minisig is a minisign signature (prehashed "ED": Ed25519 over the
 * BLAKE2b-512 of the uncompressed snapshot stream) whose trusted comment is
 * one line of key=value words, in this order, all required:
 *
 *   scim-fleet=1 fleet=NAME serial=MS issued=S expires=S synced=S
 *   generation=N users=N suspended=N removed=N groups=N members=N
 *   size=N sha256=HEX zsize=N deltas=FROMHEX:ZSIZE,FROMHEX:ZSIZE|-
 *
 * serial is the issue time in milliseconds and issued is serial / 1000;
 * deltas lists the blobs deltas/FROMHEX-SHA256.zst on offer ("-" for none).
 * An operator checks it by hand with
 *   zstd -dc snapshots/SHA256.zst > s && minisign -V -p relay.pub -m s -x manifest.minisig
 */
#ifndef SCIM_SNAPSHOT_H
#define SCIM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCIM_SNAP_FORMAT_VERSION 1
#define SCIM_SNAP_MANIFEST_VERSION 1
#define SCIM_SNAP_ERR_MAX 256

#define SCIM_SNAP_NAME_MAX 32
#define SCIM_SNAP_ID_MAX 1024
#define SCIM_SNAP_GECOS_MAX 255
#define SCIM_SNAP_PATH_MAX 4095
#define SCIM_SNAP_SOURCE_MAX 4096

/* No snapshot or delta may decompress to more than this; a frame needing a
 * window beyond 2^SCIM_SNAP_WINDOWLOG_MAX is refused. */
#define SCIM_SNAP_RAW_MAX ((size_t)1 << 30)
#define SCIM_SNAP_WINDOWLOG_MAX 30

/* Level for snapshots and deltas (bench/snapbench measures the choice). */
#define SCIM_SNAP_ZSTD_LEVEL 9

/* ---- the mapped directory --------------------------------------------- */

struct scim_snap_user {
	const char *id, *name, *gecos, *home, *shell;
	uint32_t uid, gid;
	bool suspended;
};

struct scim_snap_removed {
	const char *id, *name;
	uint32_t uid;
	int64_t since; /* unix seconds: when the id left the directory */
};

struct scim_snap_group {
	const char *id, *name;
	uint32_t gid;
	uint32_t nmembers;
	/* The encoder takes members by SCIM id, or (members NULL) by index
	 * into the directory's users.  The decoder gives indexes, in uid
	 * order, and members NULL: a host needs the users themselves, and an
	 * index is half a pointer's size at a million memberships. */
	const char *const *members;
	const uint32_t *member_users;
};

/* What the encoder takes (any order: it sorts copies) and what the decoder
 * returns (sorted).  A decoded directory owns its memory: free it with
 * scim_snap_dir_free().  The counts of the header are derived from the arrays;
 * nsuspended and nmemberships are filled in by the decoder. */
struct scim_snap_dir {
	const char *source; /* URL or "import:DIR" */
	size_t nusers, nremoved, ngroups;
	const struct scim_snap_user *users;
	const struct scim_snap_removed *removed;
	const struct scim_snap_group *groups;
	size_t nsuspended, nmemberships;
	void *owned; /* decoder's storage */
};

void scim_snap_dir_free(struct scim_snap_dir *dir);

/* Frees a decoded directory's arrays but keeps its strings (the stream)
 * until scim_snap_dir_free(): a host copies the records into what it
 * publishes and needs only the strings from then on, and at 100k users the
 * arrays are 10 MB of its peak.  After it, only scim_snap_dir_free() may be
 * called. */
void scim_snap_dir_drop_arrays(struct scim_snap_dir *dir);
/* The same for the users' array alone (users becomes NULL, nusers stays, so
 * that members remain indexes into what the caller copied). */
void scim_snap_dir_drop_users(struct scim_snap_dir *dir);

/* The counts as the header and the manifest carry them. */
struct scim_snap_counts {
	uint64_t users, suspended, removed, groups, members;
};

struct scim_snap_limits {
	uint32_t uid_min, uid_max;             /* the window for every number, inclusive */
	uint32_t primary_gid;                  /* a user's gid may be this too (0: none) */
	const struct scim_snap_counts *expect; /* NULL: not checked */
};

/* Encodes dir into a new malloc'd buffer (*out, *outlen; the caller frees;
 * a NUL follows the stream, not counted in *outlen).
 * Refuses (-EINVAL, err says why) a directory the decoder with the same
 * limits would refuse, so a relay never publishes what hosts reject. */
int scim_snap_encode(const struct scim_snap_dir *dir, const struct scim_snap_limits *lim, char **out, size_t *outlen,
		     char *err);

/* Decodes and validates a stream.  Takes buf (malloc'd, len bytes) in every
 * case: on success the directory's strings point into it, on failure it is
 * freed.  This keeps one copy of a 40 MB stream in memory, not two. */
int scim_snap_decode(char *buf, size_t len, const struct scim_snap_limits *lim, struct scim_snap_dir *out, char *err);

/* ---- zstd ------------------------------------------------------------- */

/* One frame with content size and checksum; *out malloc'd. */
int scim_snap_compress(const void *src, size_t len, int level, void **out, size_t *outlen, char *err);

/* Refuses a frame that is not exactly one frame declaring expected_size
 * bytes (checked before any allocation), or expected_size above
 * SCIM_SNAP_RAW_MAX; *out malloc'd, expected_size bytes. */
int scim_snap_decompress(const void *src, size_t len, size_t expected_size, void **out, char *err);

/* A patch-from delta: new compressed with old as prefix, long-distance
 * matching, and a window that reaches back over the whole of old. */
int scim_snap_delta_make(const void *old, size_t oldlen, const void *new_, size_t newlen, int level, void **out,
			 size_t *outlen, char *err);
int scim_snap_delta_apply(const void *old, size_t oldlen, const void *delta, size_t deltalen, size_t expected_size,
			  void **out, char *err);

/* ---- hashes ----------------------------------------------------------- */

#define SCIM_SNAP_SHA256_HEX 65 /* 64 hex digits and a NUL */
void scim_snap_sha256_hex(const void *buf, size_t len, char hex[SCIM_SNAP_SHA256_HEX]);

/* ---- the manifest (the trusted comment) ------------------------------- */

#define SCIM_SNAP_FLEET_MAX 64
#define SCIM_SNAP_DELTAS_MAX 32
/* minisign reads a trusted comment line of up to 8192 bytes with its prefix
 * and newline; ours stays well inside that. */
#define SCIM_SNAP_COMMENT_MAX 4096

struct scim_snap_delta_ref {
	char from[SCIM_SNAP_SHA256_HEX];
	uint64_t zsize;
};

struct scim_snap_manifest {
	char fleet[SCIM_SNAP_FLEET_MAX + 1];
	uint64_t serial;                 /* issue time, ms */
	int64_t issued, expires, synced; /* unix seconds */
	uint64_t generation;
	struct scim_snap_counts counts;
	uint64_t size, zsize;              /* of the snapshot, raw and compressed */
	char sha256[SCIM_SNAP_SHA256_HEX]; /* of the raw stream */
	size_t ndeltas;
	struct scim_snap_delta_ref deltas[SCIM_SNAP_DELTAS_MAX];
};

/* Writes the trusted comment (NUL-terminated) into out (outlen bytes);
 * -EINVAL for a field that cannot be written, -E2BIG if it does not fit. */
int scim_snap_manifest_format(const struct scim_snap_manifest *m, char *out, size_t outlen, char *err);
/* Parses a trusted comment: refuses another version, unknown, missing,
 * repeated or misplaced fields, and malformed numbers or hashes. */
int scim_snap_manifest_parse(const char *comment, struct scim_snap_manifest *m, char *err);

/* What a host keeps of the last manifest it accepted. */
struct scim_snap_accepted {
	uint64_t serial;                           /* 0: none yet (a fresh host) */
	char comment_sha256[SCIM_SNAP_SHA256_HEX]; /* of its trusted comment */
};

#define SCIM_SNAP_FUTURE_MAX_MS 300000

/* The freshness rules, for a manifest whose signature verified: refuses a
 * serial below the last accepted one (rollback), the same serial with another
 * comment, an expired manifest (freeze), and one issued more than
 * SCIM_SNAP_FUTURE_MAX_MS after now_ms (fast-forward).  The same manifest
 * again is accepted (0) and *same is set. */
int scim_snap_manifest_check(const struct scim_snap_manifest *m, const char *comment,
			     const struct scim_snap_accepted *last, uint64_t now_ms, bool *same, char *err);

/* ---- minisign keys and signatures ------------------------------------- */

#define SCIM_SNAP_KEYID_BYTES 8

struct scim_snap_pubkey {
	unsigned char keyid[SCIM_SNAP_KEYID_BYTES];
	unsigned char pk[32];
};

struct scim_snap_seckey {
	unsigned char keyid[SCIM_SNAP_KEYID_BYTES];
	unsigned char sk[64];
};

/* A public key as its base64 line ("RW..."), as in snapshot_pubkey = or the
 * second line of a .pub file.  Surrounding blanks are ignored. */
int scim_snap_pubkey_parse(const char *b64, struct scim_snap_pubkey *pk, char *err);
/* A minisign .pub file: "untrusted comment: ..." then the base64 line. */
int scim_snap_pubkey_load(const char *path, struct scim_snap_pubkey *pk, char *err);
/* A minisign secret key file without a password (minisign -G -W, or
 * scim_snap_keygen); an encrypted one is refused with a message saying so.
 * Refuses a file readable by group or others.  Wipe it with
 * scim_snap_seckey_wipe() after use. */
int scim_snap_seckey_load(const char *path, struct scim_snap_seckey *sk, char *err);
void scim_snap_seckey_wipe(struct scim_snap_seckey *sk);
/* Writes PREFIX.key (mode 0600, minisign's unencrypted format, so that
 * minisign -S -s PREFIX.key can use it) and PREFIX.pub; refuses to overwrite
 * either (-EEXIST). */
int scim_snap_keygen(const char *prefix, char *err);

/* Signs data (prehashed) with trusted_comment (one printable line) into a
 * malloc'd, NUL-terminated .minisig text. */
int scim_snap_sign(const struct scim_snap_seckey *sk, const void *data, size_t len, const char *trusted_comment,
		   char **out, char *err);

/* A parsed .minisig: nothing in it is trusted until verified. */
struct scim_snap_sig {
	unsigned char keyid[SCIM_SNAP_KEYID_BYTES];
	unsigned char sig[64];
	unsigned char global_sig[64];
	char comment[SCIM_SNAP_COMMENT_MAX + 1];
	const struct scim_snap_pubkey *key; /* set by scim_snap_sig_verify_comment */
};

int scim_snap_sig_parse(const char *text, size_t len, struct scim_snap_sig *sig, char *err);
/* Finds the pinned key (of npk, at most 2: -EINVAL for more) whose id the
 * signature names (-EPERM if none does) and verifies the global signature
 * over signature || trusted comment.  Only after this may sig->comment be
 * parsed and used.  sig->key then points into pks. */
int scim_snap_sig_verify_comment(struct scim_snap_sig *sig, const struct scim_snap_pubkey *pks, size_t npk, char *err);
/* Verifies the file signature over data with the key the comment verified
 * with; call scim_snap_sig_verify_comment() first. */
int scim_snap_sig_verify_data(const struct scim_snap_sig *sig, const void *data, size_t len, char *err);

#endif
