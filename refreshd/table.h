/* table.h - compact in-memory storage for the publisher: a string arena and
 * open-addressing hash tables keyed by strings or numbers.  A full listing of
 * 100k users must fit in a few megabytes, so nothing here keeps JSON or
 * per-entry allocations. */
#ifndef SCIM_REFRESHD_TABLE_H
#define SCIM_REFRESHD_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strings copied into large blocks; they live until the arena is freed. */
struct scim_arena {
	struct scim_arena_block *blocks;
	size_t used, cap; /* of the first block */
	size_t total;
};
const char *scim_arena_strndup(struct scim_arena *a, const char *s, size_t len);
const char *scim_arena_strdup(struct scim_arena *a, const char *s);
void scim_arena_free(struct scim_arena *a);

/* The secret seed of the in-memory tables' hashes, the same for the whole
 * process and different in each: getrandom(2), or else
 * scim_table_seed_fallback() (pid, clocks and a stack address).  Never
 * persisted; scim_fnv1a() below is the stable hash for what is. */
uint64_t scim_table_seed(void);
uint64_t scim_table_seed_fallback(void);

/* FNV-1a, 64 bits, of len bytes. */
uint64_t scim_fnv1a(const void *data, size_t len, uint64_t seed);
#define SCIM_FNV_SEED 0xcbf29ce484222325ull

/* String -> uint32 map.  Keys are not copied: they must outlive the map
 * (arena strings).  A kind byte is part of the key, so one table can hold
 * users and groups. */
struct scim_strmap_slot {
	const char *key;
	uint32_t value;
	uint32_t tag; /* high bits of the hash, kind in the low byte: most probes end here */
};
struct scim_strmap {
	struct scim_strmap_slot *slots;
	size_t mask, count;
	uint64_t seed; /* scim_table_seed(), taken when the slots are first allocated */
};
/* -EEXIST (and *value set to the existing value) when the key is present. */
int scim_strmap_put(struct scim_strmap *m, uint8_t kind, const char *key, uint32_t *value);
/* Makes room for n entries in all, so that filling the map to n does not
 * rehash it a dozen times on the way. */
int scim_strmap_reserve(struct scim_strmap *m, size_t n);
/* Replaces the value of an existing key, or adds it. */
int scim_strmap_set(struct scim_strmap *m, uint8_t kind, const char *key, uint32_t value);
/* 0 and *value, or -ENOENT. */
int scim_strmap_get(const struct scim_strmap *m, uint8_t kind, const char *key, uint32_t *value);
/* The same for a key of len bytes that need not be NUL-terminated (and holds
 * no NUL). */
int scim_strmap_getn(const struct scim_strmap *m, uint8_t kind, const char *key, size_t len, uint32_t *value);
/* Starts loading the slot where a lookup of key would begin, or with deep
 * (some time later, once that slot is in the cache) the key a matching slot
 * points to: a table larger than the caches costs a lookup two misses. */
void scim_strmap_prefetch(const struct scim_strmap *m, uint8_t kind, const char *key, size_t len, bool deep);
void scim_strmap_free(struct scim_strmap *m);

/* uint32 -> uint32 map; key 0 is not allowed (no entry ever has number 0). */
struct scim_nummap {
	uint32_t *keys, *values;
	size_t mask, count;
	uint64_t seed; /* as in scim_strmap */
};
int scim_nummap_put(struct scim_nummap *m, uint32_t key, uint32_t value); /* -EEXIST */
int scim_nummap_reserve(struct scim_nummap *m, size_t n); /* as scim_strmap_reserve */
int scim_nummap_get(const struct scim_nummap *m, uint32_t key, uint32_t *value);
void scim_nummap_free(struct scim_nummap *m);

#endif
