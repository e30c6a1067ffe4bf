/* index.h - direct indexes: from a name or a number straight to the file
 * offset of what a lookup reads: a user's or group's full record ("U", "G"),
 * or a user's passwd entry inside an enumeration chunk ("P").
 *
 * Why: at 100k users a lookup through tdb's hash chains touches a chain head,
 * the records ahead in the chain and the record itself, each a cache miss in
 * a 40 MB file, and getpwuid does it twice (uid -> name -> record).  An index
 * is a small open-addressing table that answers with the record's offset.
 *
 * Why 4 bytes a slot: the table must stay in the CPU cache and in the TLB's
 * reach between lookups, or it costs a miss of its own as large as the
 * record's (on a VM a TLB miss alone is ~100 ns).  At 100k entries a table is
 * 533 KB; with 8-byte slots and power-of-two sizes it was 2 MB, and every
 * lookup paid two misses instead of one.
 *
 * The tables are ordinary tdb records ("I" + the tag of the key they stand
 * for); the "X" record says where their data lies in the file.  Nothing is
 * trusted: a slot only proposes an offset, and the reader checks that a
 * record with the expected key lies there before it answers.  A file
 * without "X" (or with a damaged one, or one of another version) is still
 * read, through libtdb. */
#ifndef SCIM_INDEX_H
#define SCIM_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCIM_KEY_INDEX 'I'
#define SCIM_KEY_INDEX_LOCATOR 'X'
#define SCIM_INDEX_VERSION 3

/* The indexes.  The first four find full records (their offset is the tdb
 * record's); the passwd ones find a user's passwd-only record inside its "P"
 * chunk (the offset of the chunk item: le32 length, then the record).
 *
 * Why both: getpwnam and getpwuid read only the passwd fields, and the "P"
 * items hold just those, packed one after another, about 70 bytes a user;
 * the full records are spread over most of the file.  At 100k users the
 * items take 7 MB against 33 MB, and a lookup into them misses the CPU cache
 * and the TLB less often.  initgroups, PAM and scimctl want the full record. */
enum scim_index_kind {
	SCIM_INDEX_USER_NAME,
	SCIM_INDEX_USER_UID,
	SCIM_INDEX_GROUP_NAME,
	SCIM_INDEX_GROUP_GID,
	SCIM_INDEX_PASSWD_NAME,
	SCIM_INDEX_PASSWD_UID,
	SCIM_INDEX_NKINDS
};

/* The 32-bit check a key is placed and recognised by: a hash of a name, or
 * a bijective mix of a number (so two numbers never share a check). */
uint32_t scim_index_name_check(const void *name, size_t len);
uint32_t scim_index_number_check(uint32_t number);

/* ---- writer */
struct scim_index_entry {
	uint32_t check;
	uint32_t offset; /* of the record in the file, non-zero */
};
/* Bytes of the table for n entries. */
size_t scim_index_table_size(uint32_t n);
/* Lays out n entries into table (scim_index_table_size(n) bytes).  Two
 * entries with one check are handed to same_key (record offsets): 1 means
 * one key was added twice (-EEXIST), 0 a mere collision, <0 an error.
 * -EINVAL for an offset of 0; -EFBIG for offsets that are not multiples of
 * 4 and reach past 2 GiB. */
int scim_index_build(const struct scim_index_entry *e, uint32_t n, unsigned char *table,
		     int (*same_key)(uint32_t a, uint32_t b, void *ctx), void *ctx);

/* The "X" record: where each table's data is.  offsets[k] == 0: none. */
#define SCIM_INDEX_LOCATOR_SIZE (8 + 8 * SCIM_INDEX_NKINDS)
void scim_index_encode_locator(const uint32_t offsets[SCIM_INDEX_NKINDS], const uint32_t lengths[SCIM_INDEX_NKINDS],
			       unsigned char out[SCIM_INDEX_LOCATOR_SIZE]);

/* ---- reader */
struct scim_index {
	const unsigned char *slots; /* NULL: no index of this kind */
	uint32_t nslots;
	unsigned offset_bits;  /* low bits of a slot: the offset >> offset_shift */
	unsigned offset_shift; /* 2 when every offset is a multiple of 4, else 0 */
};
/* Validates the locator against the mapped file and sets up the tables.
 * -EBADMSG when anything points outside the file or does not add up. */
int scim_index_open(const unsigned char *locator, size_t locator_len, const unsigned char *map, size_t map_len,
		    struct scim_index ix[SCIM_INDEX_NKINDS]);

/* Walks the slots that may hold check: *pos starts at 0 (probe state);
 * returns the next candidate record offset, or 0 when there is none. */
uint32_t scim_index_next(const struct scim_index *ix, uint32_t check, uint32_t *pos);

/* The slot that probe step pos for check reads (the candidate last returned
 * by scim_index_next is at step *pos - 1), and what a slot holding check
 * and offset contains.  For tests that damage one slot on purpose. */
const unsigned char *scim_index_probe_slot(const struct scim_index *ix, uint32_t check, uint32_t pos);
uint32_t scim_index_slot_value(const struct scim_index *ix, uint32_t check, uint32_t offset);

#endif
