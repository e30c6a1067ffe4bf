/* table.c - arena and hash tables (see table.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "refreshd/table.h"

struct scim_arena_block {
	struct scim_arena_block *next;
	char data[];
};

#define ARENA_BLOCK (256 * 1024)

const char *scim_arena_strndup(struct scim_arena *a, const char *s, size_t len)
{
	char *p;
	if (!a->blocks || a->used + len + 1 > a->cap) {
		size_t cap = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;
		struct scim_arena_block *b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->next = a->blocks;
		a->blocks = b;
		a->used = 0;
		a->cap = cap;
		a->total += cap;
	}
	p = a->blocks->data + a->used;
	memcpy(p, s, len);
	p[len] = 0;
	a->used += len + 1;
	return p;
}

const char *scim_arena_strdup(struct scim_arena *a, const char *s)
{
	return scim_arena_strndup(a, s, strlen(s));
}

void scim_arena_free(struct scim_arena *a)
{
	while (a->blocks) {
		struct scim_arena_block *b = a->blocks;
		a->blocks = b->next;
		free(b);
	}
	a->used = a->cap = a->total = 0;
}

uint64_t scim_fnv1a(const void *data, size_t len, uint64_t h)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix64(uint64_t x)
{
	/* splitmix64's finalizer: the tables index by the low bits, which
	 * must depend on every input bit. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* The tables hash SCIM ids and numbers a server chooses: with a fixed seed a
 * hostile server could send ids that all land in one probe run and make a
 * sync quadratic.  So the seed is secret and differs per process. */
static uint64_t table_seed;
static pthread_once_t table_seed_once = PTHREAD_ONCE_INIT;

uint64_t scim_table_seed_fallback(void)
{
	struct timespec mono, real;
	uint64_t stack = (uint64_t)(uintptr_t)&mono;

	/* Without getrandom (early boot, old kernels): no secret, but at least
	 * something no server can know in advance and that differs per
	 * process: the pid, two clocks, and a stack address (ASLR). */
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	return mix64(mix64(((uint64_t)getpid() << 32) ^ (uint64_t)mono.tv_nsec ^ ((uint64_t)mono.tv_sec << 30)) ^
		     (uint64_t)real.tv_nsec ^ ((uint64_t)real.tv_sec << 20) ^ stack);
}

static void table_seed_init(void)
{
	uint64_t s;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
		s = scim_table_seed_fallback();
	table_seed = s;
}

uint64_t scim_table_seed(void)
{
	pthread_once(&table_seed_once, table_seed_init);
	return table_seed;
}

static uint64_t rotl64(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

/* Eight bytes per multiply instead of FNV's one: ids are 36-byte UUIDs and
 * a sync looks one up per group member.  The hash lives in memory only
 * (nothing persists it), so the byte order of the words does not matter. */
static uint64_t str_hash(uint64_t seed, uint8_t kind, const char *key, size_t len)
{
	uint64_t h = seed ^ kind ^ ((uint64_t)len << 8), w;

	for (; len >= 8; key += 8, len -= 8) {
		memcpy(&w, key, 8);
		h = rotl64(h ^ (w * 0x87c37b91114253d5ull), 31) * 0x4cf5ad432745937full;
	}
	if (len) {
		w = 0;
		memcpy(&w, key, len);
		h = rotl64(h ^ (w * 0x87c37b91114253d5ull), 31) * 0x4cf5ad432745937full;
	}
	return mix64(h);
}

static uint32_t tag_of(uint64_t h, uint8_t kind)
{
	return ((uint32_t)(h >> 32) & ~(uint32_t)0xff) | kind;
}

/* Slots for n entries: a power of two, at most num/den full. */
static size_t cap_for(size_t n, size_t num, size_t den)
{
	size_t cap = 64;
	while (cap * num < n * den)
		cap *= 2;
	return cap;
}

/* String tables at most two thirds full: their probes compare strings. */
static size_t strmap_cap_for(size_t n)
{
	return cap_for(n, 2, 3);
}

static int strmap_resize(struct scim_strmap *m, size_t ncap)
{
	struct scim_strmap_slot *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	if (!m->slots)
		m->seed = scim_table_seed();
	if (m->slots) {
		for (size_t i = 0; i <= m->mask; i++) {
			const char *key = m->slots[i].key;
			if (!key)
				continue;
			size_t j = str_hash(m->seed, (uint8_t)(m->slots[i].tag & 0xff), key, strlen(key)) & (ncap - 1);
			while (ns[j].key)
				j = (j + 1) & (ncap - 1);
			ns[j] = m->slots[i];
		}
		free(m->slots);
	}
	m->slots = ns;
	m->mask = ncap - 1;
	return 0;
}

/* The slot of key (len bytes, no NUL among them), or the empty slot where it
 * would go; NULL for an empty map.  h is str_hash() of it. */
static struct scim_strmap_slot *strmap_find(const struct scim_strmap *m, uint8_t kind, const char *key,
					     size_t len, uint64_t h)
{
	if (!m->slots)
		return NULL;
	uint32_t tag = tag_of(h, kind);
	size_t j = h & m->mask;
	while (m->slots[j].key) {
		const char *k = m->slots[j].key;
		/* strncmp stops at the stored key's NUL: never reads past it. */
		if (m->slots[j].tag == tag && !strncmp(k, key, len) && !k[len])
			return &m->slots[j];
		j = (j + 1) & m->mask;
	}
	return &m->slots[j];
}

int scim_strmap_put(struct scim_strmap *m, uint8_t kind, const char *key, uint32_t *value)
{
	size_t len = strlen(key);
	uint64_t h;
	struct scim_strmap_slot *s;
	if (!m->slots || (m->count + 1) * 3 > (m->mask + 1) * 2) {
		int r = strmap_resize(m, strmap_cap_for(m->count + 1));
		if (r < 0)
			return r;
	}
	h = str_hash(m->seed, kind, key, len);
	s = strmap_find(m, kind, key, len, h);
	if (s->key) {
		*value = s->value;
		return -EEXIST;
	}
	s->key = key;
	s->tag = tag_of(h, kind);
	s->value = *value;
	m->count++;
	return 0;
}

int scim_strmap_reserve(struct scim_strmap *m, size_t n)
{
	size_t cap = strmap_cap_for(n);
	return m->slots && cap <= m->mask + 1 ? 0 : strmap_resize(m, cap);
}

int scim_strmap_set(struct scim_strmap *m, uint8_t kind, const char *key, uint32_t value)
{
	uint32_t v = value;
	int r = scim_strmap_put(m, kind, key, &v);
	if (r == -EEXIST) {
		size_t len = strlen(key);
		strmap_find(m, kind, key, len, str_hash(m->seed, kind, key, len))->value = value;
		r = 0;
	}
	return r;
}

int scim_strmap_getn(const struct scim_strmap *m, uint8_t kind, const char *key, size_t len, uint32_t *value)
{
	const struct scim_strmap_slot *s;

	if (!m->slots)
		return -ENOENT;
	s = strmap_find(m, kind, key, len, str_hash(m->seed, kind, key, len));
	if (!s->key)
		return -ENOENT;
	*value = s->value;
	return 0;
}

void scim_strmap_prefetch(const struct scim_strmap *m, uint8_t kind, const char *key, size_t len, bool deep)
{
	uint64_t h;
	uint32_t tag;

	if (!m->slots)
		return;
	h = str_hash(m->seed, kind, key, len);
	if (!deep) {
		__builtin_prefetch(&m->slots[h & m->mask]);
		return;
	}
	tag = tag_of(h, kind);
	for (size_t j = h & m->mask; m->slots[j].key; j = (j + 1) & m->mask) {
		if (m->slots[j].tag == tag) {
			__builtin_prefetch(m->slots[j].key);
			return;
		}
	}
}

int scim_strmap_get(const struct scim_strmap *m, uint8_t kind, const char *key, uint32_t *value)
{
	return scim_strmap_getn(m, kind, key, strlen(key), value);
}

void scim_strmap_free(struct scim_strmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static size_t num_hash(uint64_t seed, uint32_t k)
{
	return (size_t)mix64(seed ^ k);
}

static size_t nummap_cap_for(size_t n)
{
	return cap_for(n, 3, 4);
}

static int nummap_resize(struct scim_nummap *m, size_t ncap)
{
	uint32_t *nk = calloc(ncap, sizeof(*nk)), *nv = malloc(ncap * sizeof(*nv));
	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -ENOMEM;
	}
	if (!m->keys)
		m->seed = scim_table_seed();
	if (m->keys) {
		for (size_t i = 0; i <= m->mask; i++) {
			if (!m->keys[i])
				continue;
			size_t j = num_hash(m->seed, m->keys[i]) & (ncap - 1);
			while (nk[j])
				j = (j + 1) & (ncap - 1);
			nk[j] = m->keys[i];
			nv[j] = m->values[i];
		}
		free(m->keys);
		free(m->values);
	}
	m->keys = nk;
	m->values = nv;
	m->mask = ncap - 1;
	return 0;
}

int scim_nummap_put(struct scim_nummap *m, uint32_t key, uint32_t value)
{
	size_t j;
	if (key == 0)
		return -EINVAL;
	if (!m->keys || (m->count + 1) * 4 > (m->mask + 1) * 3) {
		int r = nummap_resize(m, nummap_cap_for(m->count + 1));
		if (r < 0)
			return r;
	}
	j = num_hash(m->seed, key) & m->mask;
	while (m->keys[j]) {
		if (m->keys[j] == key)
			return -EEXIST;
		j = (j + 1) & m->mask;
	}
	m->keys[j] = key;
	m->values[j] = value;
	m->count++;
	return 0;
}

int scim_nummap_reserve(struct scim_nummap *m, size_t n)
{
	size_t cap = nummap_cap_for(n);
	return m->keys && cap <= m->mask + 1 ? 0 : nummap_resize(m, cap);
}

int scim_nummap_get(const struct scim_nummap *m, uint32_t key, uint32_t *value)
{
	size_t j;
	if (!m->keys || key == 0)
		return -ENOENT;
	j = num_hash(m->seed, key) & m->mask;
	while (m->keys[j]) {
		if (m->keys[j] == key) {
			if (value)
				*value = m->values[j];
			return 0;
		}
		j = (j + 1) & m->mask;
	}
	return -ENOENT;
}

void scim_nummap_free(struct scim_nummap *m)
{
	free(m->keys);
	free(m->values);
	memset(m, 0, sizeof(*m));
}
