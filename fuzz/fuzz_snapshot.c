/* fuzz_snapshot.c - the fleet snapshot's parsers (snapshot/).
 *
 * A host parses a .minisig from the network before anything is verified,
 * and decodes a stream once its SHA-256 matched the signed manifest: the
 * first is open to anyone between the host and the relay, the second to a
 * relay that is wrong.  The first byte of the input picks what the rest is:
 *   0 (and any value not below): a stream, decoded with a fixed number
 *     window.  A stream that decodes must have members that are users, in
 *     strictly increasing uid order, counts that add up, and must encode
 *     back to the input byte for byte (each directory has one encoding);
 *   1: a .minisig text, parsed.  One that parses has a NUL-terminated
 *     trusted comment of at most SCIM_SNAP_COMMENT_MAX bytes;
 *   2: a trusted comment, parsed as a manifest.  One that parses formats
 *     back to the same text. */
#include <string.h>

#include "fuzz/fuzz.h"
#include "snapshot/snapshot.h"

static void stream(const uint8_t *data, size_t size)
{
	struct scim_snap_limits lim = { .uid_min = 1000, .uid_max = 4000000000u, .primary_gid = 100 };
	struct scim_snap_dir d;
	char err[SCIM_SNAP_ERR_MAX] = "", *buf = malloc(size + 1), *again = NULL;
	size_t members = 0, suspended = 0, alen = 0;

	FUZZ_CHECK(buf != NULL);
	if (size)
		memcpy(buf, data, size);
	if (scim_snap_decode(buf, size, &lim, &d, err) < 0) { /* takes buf */
		FUZZ_CHECK(err[0] != '\0');
		return;
	}
	for (size_t i = 0; i < d.nusers; i++)
		suspended += d.users[i].suspended;
	for (size_t i = 0; i < d.ngroups; i++) {
		const struct scim_snap_group *g = &d.groups[i];
		FUZZ_CHECK(g->members == NULL);
		for (uint32_t k = 0; k < g->nmembers; k++) {
			FUZZ_CHECK(g->member_users[k] < d.nusers);
			if (k > 0)
				FUZZ_CHECK(d.users[g->member_users[k - 1]].uid < d.users[g->member_users[k]].uid);
		}
		members += g->nmembers;
	}
	FUZZ_CHECK(members == d.nmemberships && suspended == d.nsuspended);
	FUZZ_CHECK(scim_snap_encode(&d, &lim, &again, &alen, err) == 0);
	FUZZ_CHECK(alen == size && memcmp(again, data, size) == 0);
	free(again);
	scim_snap_dir_free(&d);
}

static void minisig(const uint8_t *data, size_t size)
{
	struct scim_snap_sig sig;
	char err[SCIM_SNAP_ERR_MAX] = "";

	if (scim_snap_sig_parse((const char *)data, size, &sig, err) < 0) {
		FUZZ_CHECK(err[0] != '\0');
		return;
	}
	FUZZ_CHECK(memchr(sig.comment, '\0', sizeof(sig.comment)) != NULL);
	FUZZ_CHECK(strlen(sig.comment) <= SCIM_SNAP_COMMENT_MAX);
}

static void manifest(const uint8_t *data, size_t size)
{
	struct scim_snap_manifest m;
	char err[SCIM_SNAP_ERR_MAX] = "", *comment = malloc(size + 1), again[SCIM_SNAP_COMMENT_MAX + 1];

	FUZZ_CHECK(comment != NULL);
	if (size)
		memcpy(comment, data, size);
	comment[size] = '\0';
	if (scim_snap_manifest_parse(comment, &m, err) < 0) {
		FUZZ_CHECK(err[0] != '\0');
	} else {
		FUZZ_CHECK(scim_snap_manifest_format(&m, again, sizeof(again), err) == 0);
		FUZZ_CHECK(strcmp(again, comment) == 0);
	}
	free(comment);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0]) {
	case 1:
		minisig(data + 1, size - 1);
		break;
	case 2:
		manifest(data + 1, size - 1);
		break;
	default:
		stream(data + 1, size - 1);
	}
	return 0;
}
