/* cache.h - the nss-pam-scim cache: one tdb file, the whole contract between
 * scim-refreshd (the only writer) and the NSS and PAM modules (readers).
 *
 * Everything here returns 0 or a negative errno value:
 *   -ENOENT   the key is not in the cache (the cache itself is fine)
 *   -ENODATA  no cache file is published
 *   -EBADMSG  the file or a record is corrupt, truncated or of another format
 *   -EPERM    the file is owned by someone else or writable by group/others
 *   other     what the system call said
 *
 * Layout of the file (keys are a one-byte tag, then the key proper):
 *   "H"              header record (struct scim_cache_header)
 *   "U" name         user record, full (passwd fields, SCIM id, supplementary gids)
 *   "u" uid(le32)    the user's name (then look up "U" name)
 *   "G" name         group record, full (members by name)
 *   "g" gid(le32)    the group's name (then look up "G" name)
 *   "P" chunk(le32)  enumeration: up to SCIM_CHUNK_USERS passwd-only user records
 *   "R" chunk(le32)  enumeration: up to SCIM_CHUNK_GROUPS group names
 *   "I" tag          a direct index from names or numbers of one kind ("U",
 *                    "u", "G", "g") to the file offsets of the records, or
 *                    ("P" by name, "p" by uid) to the users' items in the
 *                    "P" chunks, which is all getpwnam and getpwuid read
 *   "X"              where the index tables lie in the file (index.h)
 *   "D" name         a user the directory removed (struct scim_removed), kept
 *                    for scim-refreshd's removed_retention so that pam_scim
 *                    can deny the name; in no index and no chunk, so NSS
 *                    lookups and enumeration never see it, and readers older
 *                    than it never read the key
 *   "K" name         the SSH public keys of an active user (struct
 *                    scim_keys), for scim-authorized-keys; like "D", in no
 *                    index and no chunk
 * Records are little-endian, length-prefixed and not aligned: they are decoded
 * with memcpy and every length is checked against the record's size.
 */
#ifndef SCIM_CACHE_H
#define SCIM_CACHE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define SCIM_CACHE_FORMAT_VERSION 1
#define SCIM_CHUNK_USERS 256
#define SCIM_CHUNK_GROUPS 256

/* How far a cache's last_sync may lie ahead of the host's clock before
 * max_age counts the cache as stale.  A stamp further ahead means a wrong
 * clock or a forged header, and would otherwise keep the cache "fresh" for
 * as long as it is ahead. */
#define SCIM_CACHE_FUTURE_MAX 300

enum scim_cache_age {
	SCIM_CACHE_AGE_OK,
	SCIM_CACHE_AGE_OLD,    /* synced more than max_age seconds ago */
	SCIM_CACHE_AGE_FUTURE, /* synced more than SCIM_CACHE_FUTURE_MAX seconds from now */
};

/* Judges a cache synced at last_sync against max_age (seconds; 0: no limit)
 * at now.  Header-only and silent, so that pam_scim.so (which reaches no
 * other cache/ code) and scimctl share it; the caller logs. */
static inline enum scim_cache_age scim_cache_age_check(int64_t last_sync, int64_t now, long max_age)
{
	if (max_age <= 0)
		return SCIM_CACHE_AGE_OK;
	/* Compared this way round so that no header value can overflow. */
	if (last_sync > now + SCIM_CACHE_FUTURE_MAX)
		return SCIM_CACHE_AGE_FUTURE;
	if (last_sync < now - max_age)
		return SCIM_CACHE_AGE_OLD;
	return SCIM_CACHE_AGE_OK;
}

/* Longest name the codec accepts; the mapping allows far less (32). */
#define SCIM_NAME_MAX 255

/* Removed users (struct scim_removed) are not counted here: the decoder
 * refuses trailing bytes, so a new field would break every older reader. */
struct scim_cache_header {
	uint32_t format_version;
	uint64_t generation;     /* +1 on every publish, content changed or not */
	int64_t last_sync;       /* unix seconds of the last successful sync */
	uint32_t nusers, ngroups, nsuspended;
	uint32_t user_chunks, group_chunks;
	const char *source;      /* URL or "import:DIR"; points into the record */
};

/* A user as the writer takes it and as the reader decodes it.  Decoded strings
 * point into the cache (valid only inside the callback that received them);
 * gids_le is an unaligned little-endian uint32 array: read it with
 * scim_rec_gid(). */
struct scim_user {
	const char *name;
	uint32_t uid;
	uint32_t gid;
	const char *gecos;
	const char *home;
	const char *shell;
	/* reader side: the lengths of the four strings above */
	uint16_t name_len, gecos_len, home_len, shell_len;
	bool suspended;
	/* Full records only (has_ext): */
	bool has_ext;
	const char *scim_id;
	uint32_t ngids;
	const uint32_t *gids;          /* writer side: host-order array */
	const unsigned char *gids_le;  /* reader side: ngids * 4 bytes, unaligned */
};

struct scim_group {
	const char *name;
	uint32_t gid;
	const char *scim_id;
	uint32_t nmembers;
	/* writer side: nmembers names */
	const char *const *members;
	/* reader side: nmembers names one after another, each a length byte
	 * and the name (no NUL); member_bytes = sum of (len + 1), which is both
	 * members_raw_len and what the names take with NULs. */
	const unsigned char *members_raw;
	size_t members_raw_len;
	uint32_t member_bytes;
};

/* A user the directory no longer has: their name and uid stay in the cache
 * for a while, for pam_scim only.  A process that resolved the user before
 * the publish (sshd) reaches the account stage afterwards, and "unknown"
 * there would let the rest of the stack admit them.  Decoded strings point
 * into the cache. */
struct scim_removed {
	const char *name;
	uint32_t uid;
	int64_t since;       /* unix seconds of the publish that first missed the user */
	const char *scim_id; /* "" when not known */
	uint16_t name_len;   /* reader side */
};

/* The SSH public keys of a user, as OpenSSH authorized_keys lines ("type
 * base64 [comment]", no newline), checked by scim-refreshd.  Writer side:
 * keys[nkeys]; reader side: raw holds the lines, read them with
 * scim_rec_next_key().  Decoded strings point into the cache. */
#define SCIM_SSH_KEYS_MAX 32
struct scim_ssh_keys {
	const char *name;
	uint32_t nkeys;
	const char *const *keys;  /* writer side */
	const unsigned char *raw; /* reader side */
	size_t raw_len;
	uint16_t name_len;        /* reader side */
};

static inline uint32_t scim_rec_gid(const struct scim_user *u, uint32_t i)
{
	const unsigned char *p = u->gids_le + 4 * (size_t)i;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ------------------------------------------------------------------ codec
 * Encoders write into a caller buffer; *len gets the size needed, and
 * -ENOBUFS means the buffer was too small (call again with *len bytes).
 * Decoders never read past len and return -EBADMSG on anything malformed. */
int scim_rec_encode_user(const struct scim_user *u, bool full, unsigned char *buf, size_t *len);
int scim_rec_decode_user(const unsigned char *rec, size_t len, struct scim_user *out);
/* Only the passwd fields and the suspended flag (has_ext is false): the
 * rest of the record is not read, so a lookup touches fewer cache lines. */
int scim_rec_decode_user_head(const unsigned char *rec, size_t len, struct scim_user *out);
int scim_rec_encode_group(const struct scim_group *g, unsigned char *buf, size_t *len);
int scim_rec_decode_group(const unsigned char *rec, size_t len, struct scim_group *out);
int scim_rec_encode_removed(const struct scim_removed *d, unsigned char *buf, size_t *len);
int scim_rec_decode_removed(const unsigned char *rec, size_t len, struct scim_removed *out);
int scim_rec_encode_keys(const struct scim_ssh_keys *k, unsigned char *buf, size_t *len);
int scim_rec_decode_keys(const unsigned char *rec, size_t len, struct scim_ssh_keys *out);
/* Walks raw (*pos starts at 0): the next line, without a NUL; -ENOENT at the end. */
int scim_rec_next_key(const struct scim_ssh_keys *k, size_t *pos, const char **line, size_t *line_len);
int scim_rec_encode_header(const struct scim_cache_header *h, unsigned char *buf, size_t *len);
int scim_rec_decode_header(const unsigned char *rec, size_t len, struct scim_cache_header *out);
/* Walks members_raw (*pos starts at 0) and sets name and name_len to the next member. */
int scim_rec_next_member(const struct scim_group *g, size_t *pos, const char **name, size_t *name_len);

/* ------------------------------------------------------------------ reader
 * One process-wide set of open caches behind a mutex, shared by every caller
 * in the process (sshd loads the NSS and the PAM module into one process, and
 * tdb refuses to open one file twice in a process).
 *
 * path NULL means the default: $NSS_SCIM_CACHE (read with secure_getenv, so
 * setuid programs ignore it), else the build-time SCIM_CACHE_FILE.
 *
 * A lookup sees a newly published file on the very next call: the writer bumps
 * the tdb sequence number of the file it replaces, and readers compare it with
 * the value they saw at open (a read from the mapping, no system call).  At
 * most once a second a reader also stat()s the path, in case a publisher died
 * between rename and mark or the file was replaced by other means.
 *
 * Callbacks run with the cache lock held: they must not call back into the
 * reader, and what they receive is valid only until they return.  A callback's
 * non-zero return value is passed through. */
typedef int (*scim_user_cb)(const struct scim_user *u, void *ctx);
typedef int (*scim_group_cb)(const struct scim_group *g, void *ctx);
typedef int (*scim_header_cb)(const struct scim_cache_header *h, void *ctx);
typedef int (*scim_removed_cb)(const struct scim_removed *d, void *ctx);
typedef int (*scim_ssh_keys_cb)(const struct scim_ssh_keys *k, void *ctx);

int scim_cache_user_by_name(const char *path, const char *name, scim_user_cb cb, void *ctx);
int scim_cache_user_by_uid(const char *path, uint32_t uid, scim_user_cb cb, void *ctx);
/* The same, decoded with scim_rec_decode_user_head: what getpwnam needs. */
int scim_cache_passwd_by_name(const char *path, const char *name, scim_user_cb cb, void *ctx);
int scim_cache_passwd_by_uid(const char *path, uint32_t uid, scim_user_cb cb, void *ctx);
int scim_cache_group_by_name(const char *path, const char *name, scim_group_cb cb, void *ctx);
int scim_cache_group_by_gid(const char *path, uint32_t gid, scim_group_cb cb, void *ctx);
int scim_cache_header(const char *path, scim_header_cb cb, void *ctx);
/* The removed-user entry of name ("D" name), for pam_scim: -ENOENT when there
 * is none.  It says nothing about whether the name is a user now: look the
 * user up first, a user of that name wins. */
int scim_cache_removed_by_name(const char *path, const char *name, scim_removed_cb cb, void *ctx);
/* The SSH public keys of name ("K" name): -ENOENT when it has none.  Like
 * removed users, it says nothing about whether the name is an active user:
 * check that first. */
int scim_cache_keys_by_name(const char *path, const char *name, scim_ssh_keys_cb cb, void *ctx);

/* Enumeration.  A cursor pins one snapshot: a whole pass comes from one
 * published file even when a new one is published meanwhile.  Each call to
 * scim_cache_*_next hands the entry at the cursor to cb; the cursor moves on
 * only when cb returns 0, so an entry refused with -ERANGE comes again.
 * Returns -ENOENT at the end. */
struct scim_snapshot;
struct scim_cursor {
	struct scim_snapshot *snap;
	uint32_t chunk;   /* chunk the cursor is in */
	size_t offset;    /* byte offset of the next entry within it */
	/* A private copy of that chunk: one tdb lookup per chunk instead of one
	 * per entry. */
	unsigned char *copy;
	size_t copy_len, copy_cap;
	bool loaded;
};
int scim_cache_cursor_open(const char *path, struct scim_cursor *cur);
void scim_cache_cursor_close(struct scim_cursor *cur);
int scim_cache_user_next(struct scim_cursor *cur, scim_user_cb cb, void *ctx);
int scim_cache_group_next(struct scim_cursor *cur, scim_group_cb cb, void *ctx);

/* A reader's error in the words an admin reads: strerror's for -ENODATA
 * ("No data available") would mislead.  Thread-safe (strerror_r into buf);
 * inline, because pam_scim.so reaches the cache only through libnss_scim. */
static inline const char *scim_cache_strerror(int err, char *buf, size_t len)
{
	switch (err) {
	case -ENODATA:
		return "no cache is published";
	case -EBADMSG:
		return "the cache is corrupt or of another format";
	case -EPERM:
		return "the cache has an unsafe owner or mode";
	default:
		return strerror_r(-err, buf, len);
	}
}

/* The path the reader uses when path is NULL. */
const char *scim_cache_default_path(void);

/* For tests: close every cached handle (not safe while other threads read). */
void scim_cache_reset(void);

/* ------------------------------------------------------------------ writer
 * Builds "<live>.new" beside the live file, then scim_cache_writer_commit()
 * writes the header and the enumeration chunks, fsyncs, sets mode 0644,
 * renames it over the live file, fsyncs the directory and marks the replaced
 * file so readers reopen.  The live file's data is never rewritten.  On any
 * error (and on scim_cache_writer_abort) the .new file is removed and the live
 * file is untouched.  Names must be unique per kind, and so must numbers. */
struct scim_cache_writer;
/* The hints size the hash table; a wrong hint costs lookup speed, never
 * correctness.  Adding a name or number twice fails with -EEXIST; a full disk
 * with -ENOSPC. */
int scim_cache_writer_new(const char *live_path, size_t nusers_hint, size_t ngroups_hint,
			  struct scim_cache_writer **out);
int scim_cache_writer_add_user(struct scim_cache_writer *w, const struct scim_user *u);
int scim_cache_writer_add_group(struct scim_cache_writer *w, const struct scim_group *g);
/* A removed user (see struct scim_removed); no index or chunk sees it.  A
 * name added twice fails commit with -EEXIST.  Adding the name of a user of
 * this cache is the caller's mistake, and readers answer for the user. */
int scim_cache_writer_add_removed(struct scim_cache_writer *w, const struct scim_removed *d);
/* The SSH public keys of a user of this cache (see struct scim_ssh_keys); at
 * most one call per name, which the caller guarantees. */
int scim_cache_writer_add_keys(struct scim_cache_writer *w, const struct scim_ssh_keys *k);
/* generation and counts in h are filled in by the writer; last_sync and source
 * come from the caller. */
int scim_cache_writer_commit(struct scim_cache_writer *w, const struct scim_cache_header *h);
void scim_cache_writer_abort(struct scim_cache_writer *w);
/* The last step of commit, for a file that is already complete and fsynced:
 * renames tmp_path over live_path, fsyncs the directory and marks the
 * replaced file so readers reopen at once. */
int scim_cache_install(const char *tmp_path, const char *live_path);

/* ---------------------------------------------------------- private reads
 * For the publisher and scimctl, which open a given file directly (not through
 * the process-wide handles).  Iterates users (passwd fields + suspended) and
 * groups in enumeration order. */
struct scim_cache_file;
int scim_cache_file_open(const char *path, struct scim_cache_file **out);
void scim_cache_file_close(struct scim_cache_file *f);
int scim_cache_file_header(struct scim_cache_file *f, struct scim_cache_header *out); /* source valid until close */
int scim_cache_file_foreach_user(struct scim_cache_file *f, scim_user_cb cb, void *ctx);
int scim_cache_file_foreach_group(struct scim_cache_file *f, scim_group_cb cb, void *ctx);
int scim_cache_file_user_by_name(struct scim_cache_file *f, const char *name, scim_user_cb cb, void *ctx);
int scim_cache_file_removed_by_name(struct scim_cache_file *f, const char *name, scim_removed_cb cb, void *ctx);
int scim_cache_file_keys_by_name(struct scim_cache_file *f, const char *name, scim_ssh_keys_cb cb, void *ctx);
/* Every user (full records) and group of the file at path, in file order,
 * and its header (source set to NULL), read with plain reads: the publisher
 * compares the live cache with a new snapshot without mapping, and so holding
 * in memory, the tens of megabytes a 100k-user cache takes.  -ENODATA when
 * there is no file; -EBADMSG when it is damaged or has no header. */
int scim_cache_file_scan(const char *path, struct scim_cache_header *hdr, scim_user_cb ucb, scim_group_cb gcb,
			 void *ctx);
/* The same, and every removed user to rcb.  Any callback may be NULL. */
int scim_cache_file_scan_all(const char *path, struct scim_cache_header *hdr, scim_user_cb ucb, scim_group_cb gcb,
			     scim_removed_cb rcb, void *ctx);
/* What a publisher compares a new snapshot with, and the least of the file
 * decoded for it: users as their enumeration items (passwd fields and the
 * suspended flag: has_ext false), groups by their gid keys alone (gid set,
 * every other field zero: no group record is decoded), removed users and the
 * header.  At 100k users this skips the member lists and the full records,
 * most of a scan_all's work.  Callbacks and errors as for scan_all. */
int scim_cache_file_scan_brief(const char *path, struct scim_cache_header *hdr, scim_user_cb ucb, scim_group_cb gcb,
			       scim_removed_cb rcb, void *ctx);

#endif
