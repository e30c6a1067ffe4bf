/* fuzz_index.c - the direct index tables (cache/index.c).
 *
 * The first byte picks a mode:
 *   bit 7 clear: the rest is a table (what the file holds at the table's
 *     offset); the harness writes the locator that points one kind (bits 0-2)
 *     at it, with a length that is exact or, when bit 3 is set, off by the
 *     signed byte that follows.  The table lies at the end of an exact-size
 *     copy of the map, so a read past it is a sanitizer error;
 *   bit 7 set, bit 6 clear: the next byte is the locator's length, then the
 *     locator, then the map, all fuzzed;
 *   bits 7 and 6 set: the rest is entries (le32 check, le32 offset) that
 *     scim_index_build lays out; the table it makes must open, and every
 *     entry must be found under its check.
 * For every table that opens, lookups of fuzzed and fixed checks walk at
 * most nslots slots and end (scim_index_next returns 0 and keeps doing so). */
#include <errno.h>
#include <string.h>

#include "cache/index.h"
#include "cache/record.h"
#include "fuzz/fuzz.h"

#define MAX_ENTRIES 4096
#define TABLE_AT 16u

/* Every candidate for check, which must come to an end within the table.
 * (A damaged slot whose offset bits are 0 reads as "no more": the walk may
 * end before the probe does, which only makes a lookup miss.) */
static void walk(const struct scim_index *ix, uint32_t check, uint32_t want, bool *found)
{
	uint32_t pos = 0, off, steps = 0;
	while ((off = scim_index_next(ix, check, &pos)) != 0) {
		FUZZ_CHECK(++steps <= ix->nslots && pos <= ix->nslots);
		if (off == want && found)
			*found = true;
	}
	FUZZ_CHECK(pos <= ix->nslots);
}

static void lookups(const struct scim_index ix[SCIM_INDEX_NKINDS], const uint8_t *data, size_t size,
                    const unsigned char *map, size_t map_len)
{
	static const char *names[] = {"alice", "root", "mona.octocat", ""};
	for (int k = 0; k < SCIM_INDEX_NKINDS; k++) {
		if (!ix[k].slots)
			continue;
		/* The table lies inside the map. */
		FUZZ_CHECK(ix[k].slots >= map + 16 && ix[k].nslots >= 8);
		FUZZ_CHECK((size_t)(ix[k].slots - map) + 4 * (size_t)ix[k].nslots <= map_len);
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			walk(&ix[k], scim_index_name_check(names[i], strlen(names[i])), 0, NULL);
		for (uint32_t n = 0; n < 4; n++)
			walk(&ix[k], scim_index_number_check(1879048192u + n), 0, NULL);
		/* Checks that the table's own slots propose: the fingerprints the
		 * fuzzer put there. */
		for (size_t i = 0; i + 4 <= size && i < 64; i += 4)
			walk(&ix[k], scim_le32(data + i), 0, NULL);
		for (uint32_t s = 0; s < ix[k].nslots && s < 16; s++) {
			uint32_t v = scim_le32(ix[k].slots + 4 * (size_t)s);
			walk(&ix[k], v >> ix[k].offset_bits, 0, NULL);
		}
	}
}

static void fuzz_table(uint8_t mode, const uint8_t *rest, size_t size)
{
	struct fuzz_input in = {rest, size};
	unsigned kind = mode & 7;
	int32_t delta = (mode & 8) ? (int8_t)fuzz_u32(&in, 1) : 0;
	unsigned char locator[SCIM_INDEX_LOCATOR_SIZE];
	uint32_t offsets[SCIM_INDEX_NKINDS] = {0}, lengths[SCIM_INDEX_NKINDS] = {0};
	struct scim_index ix[SCIM_INDEX_NKINDS];
	size_t map_len = TABLE_AT + in.left;
	unsigned char *map = malloc(map_len);

	FUZZ_CHECK(map != NULL);
	memset(map, 0, TABLE_AT);
	memcpy(map + TABLE_AT, in.p, in.left);
	if (kind < SCIM_INDEX_NKINDS) {
		offsets[kind] = TABLE_AT;
		lengths[kind] = (uint32_t)((int64_t)in.left + delta);
	}
	scim_index_encode_locator(offsets, lengths, locator);
	if (scim_index_open(locator, sizeof(locator), map, map_len, ix) == 0)
		lookups(ix, in.p, in.left, map, map_len);
	else
		for (int k = 0; k < SCIM_INDEX_NKINDS; k++)
			FUZZ_CHECK(ix[k].slots == NULL);
	free(map);
}

static void fuzz_raw(const uint8_t *rest, size_t size)
{
	struct fuzz_input in = {rest, size};
	size_t loc_len = fuzz_u32(&in, 1);
	struct scim_index ix[SCIM_INDEX_NKINDS];
	unsigned char *loc, *map;
	size_t map_len;

	if (loc_len > in.left)
		loc_len = in.left;
	loc = malloc(loc_len ? loc_len : 1);
	map_len = in.left - loc_len;
	map = malloc(map_len ? map_len : 1);
	FUZZ_CHECK(loc && map);
	memcpy(loc, in.p, loc_len);
	memcpy(map, in.p + loc_len, map_len);
	if (scim_index_open(loc, loc_len, map, map_len, ix) == 0)
		lookups(ix, map, map_len, map, map_len);
	free(loc);
	free(map);
}

static int distinct_offsets(uint32_t a, uint32_t b, void *ctx)
{
	(void)ctx;
	return a == b;
}

static void fuzz_build(const uint8_t *rest, size_t size)
{
	uint32_t n = (uint32_t)(size / 8), offsets[SCIM_INDEX_NKINDS] = {0}, lengths[SCIM_INDEX_NKINDS] = {0};
	struct scim_index_entry *e;
	struct scim_index ix[SCIM_INDEX_NKINDS];
	unsigned char locator[SCIM_INDEX_LOCATOR_SIZE], *map;
	size_t table_len;
	int r;

	if (n > MAX_ENTRIES)
		n = MAX_ENTRIES;
	e = calloc(n ? n : 1, sizeof(*e));
	FUZZ_CHECK(e != NULL);
	for (uint32_t i = 0; i < n; i++) {
		e[i].check = scim_le32(rest + 8 * (size_t)i);
		e[i].offset = scim_le32(rest + 8 * (size_t)i + 4);
	}
	table_len = scim_index_table_size(n);
	map = malloc(TABLE_AT + table_len);
	FUZZ_CHECK(map != NULL);
	memset(map, 0, TABLE_AT);
	r = scim_index_build(e, n, map + TABLE_AT, distinct_offsets, NULL);
	if (r == 0) {
		offsets[SCIM_INDEX_USER_NAME] = TABLE_AT;
		lengths[SCIM_INDEX_USER_NAME] = (uint32_t)table_len;
		scim_index_encode_locator(offsets, lengths, locator);
		FUZZ_CHECK(scim_index_open(locator, sizeof(locator), map, TABLE_AT + table_len, ix) == 0);
		for (uint32_t i = 0; i < n; i++) {
			bool found = false;
			walk(&ix[SCIM_INDEX_USER_NAME], e[i].check, e[i].offset, &found);
			FUZZ_CHECK(found);
		}
	} else {
		/* Why a build may fail: a zero offset, an offset the slots cannot
		 * hold, or one entry twice. */
		bool zero = false, dup = false, big = false;
		for (uint32_t i = 0; i < n; i++) {
			zero |= e[i].offset == 0;
			big |= e[i].offset >= (1u << 31);
			for (uint32_t j = 0; j < i && !dup; j++)
				dup = e[i].check == e[j].check && e[i].offset == e[j].offset;
		}
		FUZZ_CHECK((r == -EINVAL && zero) || (r == -EEXIST && dup) || (r == -EFBIG && big));
	}
	free(map);
	free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mode;
	if (size < 1)
		return 0;
	mode = data[0];
	if (!(mode & 0x80))
		fuzz_table(mode, data + 1, size - 1);
	else if (!(mode & 0x40))
		fuzz_raw(data + 1, size - 1);
	else
		fuzz_build(data + 1, size - 1);
	return 0;
}
