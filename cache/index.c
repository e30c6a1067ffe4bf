/* index.c - direct indexes (see index.h).
 *
 * Table layout, little-endian: le32 slot count (a power of two, at least 8),
 * le32 entry count, then per slot le32 check and le32 record offset (0: the
 * slot is empty).  A key's first slot comes from its check by Fibonacci
 * hashing; collisions probe linearly, so a hit mostly reads one cache line. */
#include <errno.h>
#include <string.h>

#include "cache/index.h"
#include "cache/record.h"

#define MIN_SLOTS 8u
#define MAX_SLOTS (1u << 30)
#define TABLE_HEADER 8u

uint32_t scim_index_name_check(const void *name, size_t len)
{
	/* Eight bytes a step: names are short, and this runs on every lookup. */
	const unsigned char *p = name;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)len;
	unsigned char tail[8] = { 0 };

	for (; len >= 8; p += 8, len -= 8) {
		h = (h ^ scim_le64(p)) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	if (len) {
		memcpy(tail, p, len);
		h = (h ^ scim_le64(tail)) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	h *= 0x94d049bb133111ebull;
	h ^= h >> 32;
	return (uint32_t)h;
}

static uint32_t slot_count(uint32_t n)
{
	uint64_t want = (uint64_t)n * 4 / 3 + 1; /* at most three quarters full */
	uint32_t slots = MIN_SLOTS;
	while (slots < want && slots < MAX_SLOTS)
		slots *= 2;
	return slots;
}

static unsigned shift_for(uint32_t slots)
{
	unsigned bits = 0;
	while ((1u << bits) < slots)
		bits++;
	return 32 - bits;
}

static uint32_t first_slot(uint32_t check, unsigned shift)
{
	return (uint32_t)(check * 2654435769u) >> shift;
}

size_t scim_index_table_size(uint32_t n)
{
	return TABLE_HEADER + 8 * (size_t)slot_count(n);
}

int scim_index_build(const struct scim_index_entry *e, uint32_t n, unsigned char *table,
		     int (*same_key)(uint32_t a, uint32_t b, void *ctx), void *ctx)
{
	uint32_t slots = slot_count(n), mask = slots - 1;
	unsigned shift = shift_for(slots);
	unsigned char *s = table + TABLE_HEADER;

	memset(table, 0, scim_index_table_size(n));
	scim_put_le32(table, slots);
	scim_put_le32(table + 4, n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t j = first_slot(e[i].check, shift), other;
		while ((other = scim_le32(s + 8 * (size_t)j + 4)) != 0) {
			/* Every key that shares a check passes here: the place
			 * to catch one key added twice. */
			if (scim_le32(s + 8 * (size_t)j) == e[i].check) {
				int r = same_key(other, e[i].offset, ctx);
				if (r != 0)
					return r > 0 ? -EEXIST : r;
			}
			j = (j + 1) & mask;
		}
		scim_put_le32(s + 8 * (size_t)j, e[i].check);
		scim_put_le32(s + 8 * (size_t)j + 4, e[i].offset);
	}
	return 0;
}

void scim_index_encode_locator(const uint32_t offsets[SCIM_INDEX_NKINDS], const uint32_t lengths[SCIM_INDEX_NKINDS],
			       unsigned char out[SCIM_INDEX_LOCATOR_SIZE])
{
	scim_put_le32(out, SCIM_INDEX_VERSION);
	scim_put_le32(out + 4, SCIM_INDEX_NKINDS);
	for (int k = 0; k < SCIM_INDEX_NKINDS; k++) {
		scim_put_le32(out + 8 + 8 * k, offsets[k]);
		scim_put_le32(out + 12 + 8 * k, lengths[k]);
	}
}

int scim_index_open(const unsigned char *locator, size_t locator_len, const unsigned char *map, size_t map_len,
		    struct scim_index ix[SCIM_INDEX_NKINDS])
{
	memset(ix, 0, sizeof(*ix) * SCIM_INDEX_NKINDS);
	if (locator_len < 8 || scim_le32(locator) != SCIM_INDEX_VERSION)
		return -EBADMSG;
	uint32_t kinds = scim_le32(locator + 4);
	if (kinds > (locator_len - 8) / 8)
		return -EBADMSG;
	/* A newer writer may add kinds; the ones known here are read. */
	for (uint32_t k = 0; k < kinds && k < SCIM_INDEX_NKINDS; k++) {
		uint32_t off = scim_le32(locator + 8 + 8 * k), len = scim_le32(locator + 12 + 8 * k), slots;
		if (off == 0)
			continue;
		if (off > map_len || len > map_len - off || len < TABLE_HEADER)
			goto bad;
		slots = scim_le32(map + off);
		if (slots < MIN_SLOTS || slots > MAX_SLOTS || (slots & (slots - 1)) ||
		    (size_t)len != TABLE_HEADER + 8 * (size_t)slots)
			goto bad;
		ix[k].slots = map + off + TABLE_HEADER;
		ix[k].mask = slots - 1;
		ix[k].shift = shift_for(slots);
	}
	return 0;
bad:
	memset(ix, 0, sizeof(*ix) * SCIM_INDEX_NKINDS);
	return -EBADMSG;
}

uint32_t scim_index_next(const struct scim_index *ix, uint32_t check, uint32_t *pos)
{
	uint32_t start = first_slot(check, ix->shift);
	/* Bounded by the table size, so a damaged table that is full of
	 * matches cannot make a lookup run for ever. */
	while (*pos <= ix->mask) {
		const unsigned char *s = ix->slots + 8 * (size_t)((start + *pos) & ix->mask);
		uint32_t off = scim_le32(s + 4);
		(*pos)++;
		if (off == 0)
			break;
		if (scim_le32(s) == check)
			return off;
	}
	*pos = ix->mask + 1;
	return 0;
}
