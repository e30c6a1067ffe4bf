/* idmap.h - the sticky number map: SCIM id -> uid/gid, for ever.
 *
 * A tdb of its own in state_dir ("idmap.tdb"), never published and never
 * read by the modules.  Entries are packed in chunk records of up to
 * SCIM_IDMAP_CHUNK entries, in the order they were first assigned:
 *   key   "C" le32 chunk number
 *   value entries: u8 kind ('U' a User, whose user-private group shares the
 *         number; 'G' a Group), le16 id length, id, le32 number, u8 flags
 *         (SCIM_IDMAP_GONE: the id left the directory; its number stays
 *         reserved for ever: a tombstone); then le64 FNV-1a of the entries
 *         (seeded with the chunk number), so damage is noticed
 * and one "!idmap" record: "SIDM", le32 version, le32 chunks, le32 entries,
 * so that a missing chunk or a foreign tdb is noticed.  Packing keeps a
 * 110k-id map near 5 MB (a record per id costs twice that in tdb headers),
 * and chunks of ~10 KB keep tdb from growing the file in 4 MB steps (it adds
 * room for 100 records of the size being stored).
 *
 * The whole map is loaded at open (a forward hash and a reverse number set in
 * memory).  Changes are staged in memory; scim_idmap_commit() rewrites the
 * changed chunks in one tdb transaction, so a crash leaves the old map or the
 * new one.  Entries are never deleted. */
#ifndef SCIM_REFRESHD_IDMAP_H
#define SCIM_REFRESHD_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCIM_IDMAP_FILE "idmap.tdb"
#define SCIM_IDMAP_GONE 0x01
#define SCIM_IDMAP_CHUNK 256

enum scim_idmap_kind { SCIM_IDMAP_USER = 'U', SCIM_IDMAP_GROUP = 'G' };

struct scim_idmap;

/* Opens (creating it when allowed) state_dir/idmap.tdb and loads it.
 *   -EBADMSG   corrupt or foreign file, or a malformed record (refuse to run)
 *   -ENOENT    no map, and create is false
 *   -EBUSY     another process has the map open for writing
 * create: create a missing map (the caller decides whether a missing map is
 * acceptable: refuse when a cache was already published from one). */
int scim_idmap_open(const char *state_dir, bool create, struct scim_idmap **out);
void scim_idmap_close(struct scim_idmap *map);

/* The number of (kind, id), or -ENOENT.  flags gets the record's flags. */
int scim_idmap_get(const struct scim_idmap *map, char kind, const char *id, uint32_t *number, uint8_t *flags);
/* True when number is held by any record (live or tombstone). */
bool scim_idmap_number_taken(const struct scim_idmap *map, uint32_t number);
/* Stages a new record (-EEXIST if id or number is taken). */
int scim_idmap_add(struct scim_idmap *map, char kind, const char *id, uint32_t number);
/* The same, keeping the pointer instead of a copy: id must stay valid until
 * scim_idmap_close() (the model's strings do; it saves a copy of every id). */
int scim_idmap_add_borrowed(struct scim_idmap *map, char kind, const char *id, uint32_t number);
/* The map's own copy of a recorded id, or NULL; valid until scim_idmap_close(). */
const char *scim_idmap_id(const struct scim_idmap *map, char kind, const char *id);
/* Stages a flags change of an existing record (-ENOENT). */
int scim_idmap_set_flags(struct scim_idmap *map, char kind, const char *id, uint8_t flags);
/* Calls cb for every record; a non-zero return stops and is passed through. */
int scim_idmap_foreach(const struct scim_idmap *map,
		       int (*cb)(char kind, const char *id, uint32_t number, uint8_t flags, void *ctx), void *ctx);
size_t scim_idmap_count(const struct scim_idmap *map);
/* Makes room for n records in all (a hint; -ENOMEM). */
int scim_idmap_reserve(struct scim_idmap *map, size_t n);
/* Writes staged changes in one transaction. */
int scim_idmap_commit(struct scim_idmap *map);
/* For a publisher done with lookups and additions (every number assigned,
 * every change staged): frees the lookup tables (6 MB for a 110k-entry map,
 * at the peak of a first sync).  After it, lookups find nothing and additions
 * fail with -EROFS, so no number can be handed out twice; commit still writes
 * what is staged, and foreach, count and the ids stay valid until close. */
void scim_idmap_seal(struct scim_idmap *map);

/* Deterministic hash of a SCIM id into [lo, hi], attempt 0, 1, 2, ...
 * (probing).  Never the name: names change, ids do not. */
uint32_t scim_idmap_hash(const char *id, uint32_t attempt, uint32_t lo, uint32_t hi);

#endif
