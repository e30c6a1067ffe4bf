/* index.c - direct indexes (see index.h).
 *
 * Table layout, little-endian: le32 slot count, le32 entry count, le32
 * offset_bits, le32 offset_shift, then one le32 per slot: 0 when empty, else
 * fingerprint << offset_bits | offset >> offset_shift, where the fingerprint
 * is the check's low 32 - offset_bits bits.  tdb records start on 4-byte
 * boundaries, so their tables drop two bits that are always 0 and keep two
 * more for the fingerprint; chunk items can start anywhere.  A key's first slot comes from the
 * check's high bits (check * slots >> 32, so any slot count works and the
 * table is sized to the entries, not to a power of two); collisions probe
 * linearly, 16 slots to a cache line.  The fingerprint turns away nearly
 * every other key in the probe without touching its record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/index.h"
#include "cache/record.h"

#define MIN_SLOTS 8u
#define MAX_SLOTS (1u << 30)
#define TABLE_HEADER 16u
#define MAX_OFFSET_BITS 31u

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

uint32_t scim_index_number_check(uint32_t number)
{
	/* murmur3's finaliser: a bijection, and it spreads runs of numbers
	 * (uids are handed out in order) over every bit. */
	uint32_t h = number;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static uint32_t slot_count(uint32_t n)
{
	uint64_t want = (uint64_t)n * 4 / 3 + 1; /* at most three quarters full */
	if (want < MIN_SLOTS)
		want = MIN_SLOTS;
	return want > MAX_SLOTS ? MAX_SLOTS : (uint32_t)want;
}

static uint32_t first_slot(uint32_t check, uint32_t nslots)
{
	return (uint32_t)(((uint64_t)check * nslots) >> 32);
}

static uint32_t fingerprint(uint32_t check, unsigned offset_bits)
{
	return check & (uint32_t)((1ull << (32 - offset_bits)) - 1);
}

static uint32_t slot_value(uint32_t check, uint32_t offset, unsigned offset_bits, unsigned offset_shift)
{
	return fingerprint(check, offset_bits) << offset_bits | offset >> offset_shift;
}

static uint32_t slot_at(uint32_t start, uint32_t step, uint32_t nslots)
{
	uint32_t i = start + step;
	return i >= nslots ? i - nslots : i;
}

size_t scim_index_table_size(uint32_t n)
{
	return TABLE_HEADER + 4 * (size_t)slot_count(n);
}

int scim_index_build(const struct scim_index_entry *e, uint32_t n, unsigned char *table,
		     int (*same_key)(uint32_t a, uint32_t b, void *ctx), void *ctx)
{
	uint32_t nslots = slot_count(n), max_offset = 1, low_bits = 0, max_unit, *owner = NULL;
	unsigned bits = 1, shift;
	unsigned char *s = table + TABLE_HEADER;
	int r = 0;

	if (n >= MAX_SLOTS / 4 * 3)
		return -E2BIG;
	for (uint32_t i = 0; i < n; i++) {
		if (e[i].offset == 0)
			return -EINVAL;
		if (e[i].offset > max_offset)
			max_offset = e[i].offset;
		low_bits |= e[i].offset;
	}
	shift = low_bits & 3 ? 0 : 2;
	max_unit = max_offset >> shift;
	while (bits < MAX_OFFSET_BITS && (max_unit >> bits) != 0)
		bits++;
	if ((max_unit >> bits) != 0)
		return -EFBIG; /* a byte offset past 2 GiB: no room left for a fingerprint */
	/* The full checks of the entries placed so far (index + 1 per slot):
	 * the table keeps only a fingerprint, and a duplicate must be caught
	 * by the whole check. */
	owner = calloc(nslots, sizeof(*owner));
	if (!owner)
		return -ENOMEM;
	memset(table, 0, scim_index_table_size(n));
	scim_put_le32(table, nslots);
	scim_put_le32(table + 4, n);
	scim_put_le32(table + 8, bits);
	scim_put_le32(table + 12, shift);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t start = first_slot(e[i].check, nslots), j = start;
		for (uint32_t step = 0; owner[j] != 0; j = slot_at(start, ++step, nslots)) {
			/* Every key that shares a check passes here: the place
			 * to catch one key added twice. */
			const struct scim_index_entry *other = &e[owner[j] - 1];
			if (other->check == e[i].check) {
				r = same_key(other->offset, e[i].offset, ctx);
				if (r != 0) {
					r = r > 0 ? -EEXIST : r;
					goto out;
				}
			}
		}
		owner[j] = i + 1;
		scim_put_le32(s + 4 * (size_t)j, slot_value(e[i].check, e[i].offset, bits, shift));
	}
out:
	free(owner);
	return r;
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
		uint32_t off = scim_le32(locator + 8 + 8 * k), len = scim_le32(locator + 12 + 8 * k);
		uint32_t nslots, entries, bits, shift;
		if (off == 0)
			continue;
		if (off > map_len || len > map_len - off || len < TABLE_HEADER)
			goto bad;
		nslots = scim_le32(map + off);
		entries = scim_le32(map + off + 4);
		bits = scim_le32(map + off + 8);
		shift = scim_le32(map + off + 12);
		/* A full table would make every miss walk all of it; and an offset
		 * must fit in 32 bits once shifted back. */
		if (nslots < MIN_SLOTS || nslots > MAX_SLOTS || entries >= nslots || bits == 0 ||
		    bits > MAX_OFFSET_BITS || (shift != 0 && shift != 2) || bits + shift > 32 ||
		    (size_t)len != TABLE_HEADER + 4 * (size_t)nslots)
			goto bad;
		ix[k].slots = map + off + TABLE_HEADER;
		ix[k].nslots = nslots;
		ix[k].offset_bits = bits;
		ix[k].offset_shift = shift;
	}
	return 0;
bad:
	memset(ix, 0, sizeof(*ix) * SCIM_INDEX_NKINDS);
	return -EBADMSG;
}

const unsigned char *scim_index_probe_slot(const struct scim_index *ix, uint32_t check, uint32_t pos)
{
	return ix->slots + 4 * (size_t)slot_at(first_slot(check, ix->nslots), pos % ix->nslots, ix->nslots);
}

uint32_t scim_index_slot_value(const struct scim_index *ix, uint32_t check, uint32_t offset)
{
	return slot_value(check, offset, ix->offset_bits, ix->offset_shift);
}

uint32_t scim_index_next(const struct scim_index *ix, uint32_t check, uint32_t *pos)
{
	uint32_t start = first_slot(check, ix->nslots), fp = fingerprint(check, ix->offset_bits);
	uint32_t unit_mask = (1u << ix->offset_bits) - 1;
	/* Bounded by the table size, so a damaged table that is full of
	 * matches cannot make a lookup run for ever. */
	while (*pos < ix->nslots) {
		uint32_t v = scim_le32(ix->slots + 4 * (size_t)slot_at(start, *pos, ix->nslots));
		(*pos)++;
		if (v == 0)
			break;
		if (v >> ix->offset_bits == fp)
			return (v & unit_mask) << ix->offset_shift;
	}
	*pos = ix->nslots;
	return 0;
}
