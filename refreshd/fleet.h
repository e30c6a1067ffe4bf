/* fleet.h - fleet mode (issue 11): a relay scim-refreshd publishes signed
 * snapshots of its mapped directory; hosts install them instead of asking
 * the SCIM server themselves.
 *
 * The relay (fleet_relay.c) is a normal SCIM sync with publish_dir and
 * signing_key set: after each successful publish it encodes the cache it
 * just wrote as a snapshot stream (snapshot/snapshot.h) and writes, each by
 * temp file and rename, into publish_dir:
 *   snapshots/SHA256.zst      the stream, compressed
 *   deltas/FROM-TO.zst        patch-from deltas from the last publish_deltas
 *                             snapshots to this one
 *   manifest.minisig          written last: the signed manifest
 * Its state (the last serial, the snapshot history, when each blob was last
 * offered) is state_dir/relay.state.
 *
 * A host (fleet_host.c) has snapshot_url and snapshot_pubkey instead of url
 * and token_file.  Each poll fetches the manifest, verifies it against a
 * pinned key before using anything in it, applies the freshness rules,
 * fetches a delta or the full blob, checks size and hash, decodes with full
 * validation, applies its own rules (local and reserved names, deny_names,
 * its id map) and publishes through publish.c like a SCIM sync.
 *
 * Numbers: the relay's id map is the fleet's.  A host records the relay's
 * numbers in its own id map (state_dir/idmap.tdb) and refuses a snapshot
 * that gives an id it knows another number, or a number its map holds for
 * another id: numbers never move and are never reused on a host either, even
 * if a relay is replaced by one with a different map. */
#ifndef SCIM_REFRESHD_FLEET_H
#define SCIM_REFRESHD_FLEET_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "refreshd/config.h"

#define SCIM_FLEET_MANIFEST "manifest.minisig"
#define SCIM_RELAY_STATE "relay.state"
/* Host state in state_dir: the installed snapshot stream (deltas apply to
 * it) and the last accepted manifest (rollback checks). */
#define SCIM_HOST_SNAPSHOT "snapshot.current"
#define SCIM_HOST_ACCEPTED "manifest.accepted"

/* ---- relay ----------------------------------------------------------- */

/* Publishes the cache cfg->cache_file into cfg->publish_dir as a signed
 * snapshot; synced is the time of the relay's last successful SCIM sync.
 * Re-signs the manifest even when the snapshot is unchanged.  Never issues
 * two manifests within one second (it waits).  Logs its own errors. */
int scim_fleet_relay_publish(const struct scim_config *cfg, int64_t synced);

/* --keygen PREFIX: PREFIX.key (0600) and PREFIX.pub. */
int scim_fleet_keygen(const char *prefix);

/* --seed-idmap SNAPSHOT: records every number of a snapshot stream (a
 * snapshots/SHA.zst blob or its uncompressed stream) in cfg's id map, for a
 * standby relay that must hand out the same numbers. */
int scim_fleet_seed_idmap(const struct scim_config *cfg, const char *snapshot_path);

/* ---- host ------------------------------------------------------------ */

struct scim_fleet_result {
	bool published; /* a new snapshot was installed */
	bool fresh; /* the manifest was fetched and accepted (new or the same) */
	unsigned retry_hint; /* seconds the server asked us to wait (0: none) */
};

/* One poll: manifest, blob, verification, install.  Returns 0 when the
 * host's cache is current (installed now, or the manifest did not change),
 * -ECANCELED for a guard, -EPERM/-EBADMSG/-ESTALE for a refused manifest or
 * blob (logged with the reason), other negative errno values otherwise. */
int scim_fleet_host_run(const struct scim_config *cfg, bool force, volatile sig_atomic_t *stop,
			struct scim_fleet_result *res);

/* The per-host splay in [0, interval): from /etc/machine-id, so hosts
 * started together never poll in step, and a host keeps its slot. */
unsigned scim_fleet_splay(unsigned interval);

/* ---- files ----------------------------------------------------------- */

/* Writes len bytes to dir/name by a temp file in dir, fsync and rename
 * (mode, and mtime when mtime > 0). */
int scim_fleet_write_file(const char *dir, const char *name, const void *buf, size_t len, mode_t mode, int64_t mtime);
/* Reads a whole file of at most max bytes into a malloc'd buffer (NUL
 * after it, not counted); -EFBIG when bigger. */
int scim_fleet_read_file(const char *path, size_t max, char **out, size_t *len);

#endif
