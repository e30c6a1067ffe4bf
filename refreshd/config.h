/* config.h - scim-refreshd.conf: one parser for every key of the daemon.
 *
 * Format: "key = value" lines; '#' starts a comment (whole line, or after
 * whitespace); blank lines are ignored.  An unknown key, a bad value, a number
 * out of range or a repeated key (except "header" and "deny_names") is an
 * error naming FILE:LINE.  Nothing is applied from a file with any error.
 *
 * Keys and defaults are documented in scim-refreshd.conf(5). */
#ifndef SCIM_REFRESHD_CONFIG_H
#define SCIM_REFRESHD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* systemd's unused range (systemd.io/UIDS-GIDS), minus 2^31-1 so that no
 * number can be mistaken for a negative 32-bit value by old tools. */
#define SCIM_DEFAULT_UID_MIN 1879048192u
#define SCIM_DEFAULT_UID_MAX 2147483646u
/* Below this, numbers belong to the system (Debian's SYS_UID_MAX is 999). */
#define SCIM_UID_FLOOR 1000u
#define SCIM_UID_CEILING 2147483647u

#define SCIM_DEFAULT_REFRESH_INTERVAL 300
#define SCIM_DEFAULT_PAGE_SIZE 100
#define SCIM_DEFAULT_TIMEOUT 30
#define SCIM_DEFAULT_MAX_RESPONSE_BYTES (64u * 1024 * 1024)
#define SCIM_DEFAULT_MAX_REMOVED_PERCENT 10
#define SCIM_DEFAULT_REMOVED_RETENTION (30 * 86400)
#define SCIM_MAX_REMOVED_RETENTION (3650u * 86400)
#define SCIM_DEFAULT_ON_SUSPEND_TIMEOUT 30
#define SCIM_DEFAULT_MAX_PARALLEL 4
#define SCIM_DEFAULT_MAX_CONFIRMATIONS 100
#define SCIM_DEFAULT_PUBLISH_DELTAS 24
#define SCIM_MAX_PUBLISH_DELTAS 32 /* SCIM_SNAP_DELTAS_MAX */
#define SCIM_DEFAULT_MANIFEST_EXPIRES (6 * 3600)
#define SCIM_MAX_SNAPSHOT_PUBKEYS 2

struct scim_config {
	char *path; /* the file this came from (for messages) */

	/* ---- mapping (issue 3) */
	char *name_attribute;  /* attribute path of the POSIX user name; "userName" */
	bool lowercase_names;  /* default true */
	bool strip_domain;     /* "alice@example.com" -> "alice"; default false */
	char *uid_attribute;   /* attribute path holding a uid, or NULL */
	char *gid_attribute;   /* attribute path holding a gid, or NULL */
	uint32_t uid_min, uid_max; /* the window for every number, inclusive */
	char *home;            /* template: %u name, %U uid, %% a percent sign */
	char *shell;
	char *primary_group;   /* NULL: user-private groups ("user"); else a group name */
	char **deny_names;     /* NULL-terminated; never NULL itself */
	size_t ndeny_names;
	char *state_dir;       /* holds idmap.tdb */
	char *cache_file;      /* the cache to publish */
	unsigned max_removed_percent; /* 0..100 */
	unsigned removed_retention;   /* seconds a removed user's name stays denied; 0: none */

	/* ---- access on the host (issue 13) */
	char **host_groups;    /* NULL: every user; else NULL-terminated directory group names */
	size_t nhost_groups;
	char *on_suspend;      /* program run for each newly suspended or removed user, or NULL */
	unsigned on_suspend_timeout; /* seconds before on_suspend is killed; default 30 */
	char *ssh_keys_attribute; /* attribute path of the users' SSH public keys, or NULL */

	/* ---- fleet (issue 11): a relay publishes signed snapshots, a host
	 * installs them (snapshot_url instead of url and token_file) */
	char *publish_dir;        /* relay: where snapshots/, deltas/ and manifest.minisig go, or NULL */
	char *signing_key;        /* relay: minisign secret key file (unencrypted), absolute path */
	unsigned publish_deltas;  /* relay: deltas from the last N snapshots; default 24 */
	unsigned manifest_expires; /* relay: seconds a manifest stays valid; default 6 h */
	char *fleet_name;         /* signed into the manifest; a host refuses another fleet's; default "scim" */
	char *snapshot_url;       /* host: the relay's publish_dir over https, ending in '/', or NULL */
	char **snapshot_pubkey;   /* host: pinned minisign public key lines (1 or 2), NULL-terminated */
	size_t nsnapshot_pubkey;

	/* ---- network (issue 4); url and token_file may be NULL (not needed for --import) */
	char *url;             /* base URL, https://, no trailing '/' */
	char *token_file;      /* absolute path */
	char *ca_file;         /* absolute path, or NULL: the system's CAs */
	unsigned refresh_interval; /* seconds, default 300 */
	unsigned page_size;        /* default 100 */
	unsigned timeout;          /* seconds per request, default 30 */
	char **headers;            /* "Name: value", NULL-terminated; never NULL itself */
	size_t nheaders;
	uint64_t max_response_bytes; /* default 64 MiB */
	unsigned max_parallel;       /* page requests in flight, 1..100, default 4 */
	unsigned max_confirmations;  /* GETs by id per sync of what a listing lacks, default 100 */

	/* ---- not keys: set from the command line */
	bool recover_idmap; /* --recover-idmap: rebuild a lost id map from the cache */
};

/* Reads and checks path (NULL: the built-in default SCIM_SYSCONFDIR
 * "/scim-refreshd.conf").  Returns 0 and *out (free with scim_config_free), or
 * a negative errno and *errmsg, a malloc'd one-line message such as
 * "/etc/scim-refreshd.conf:12: unknown key 'uid_mn'" (free it).  On error *out
 * is NULL. */
int scim_config_load(const char *path, struct scim_config **out, char **errmsg);

/* Parses a config held in memory; name is used in messages.  Same contract. */
int scim_config_parse(const char *name, const char *text, struct scim_config **out, char **errmsg);

void scim_config_free(struct scim_config *cfg);

/* The default config path. */
const char *scim_config_default_path(void);

/* Checks the keys a network sync needs (url, token_file).  Returns 0, or
 * -EINVAL and a malloc'd *errmsg. */
/* Whether a file the daemon trusts may be used, from its stat: a regular
 * file, owned by euid (or by root, unless secret), that group and others may
 * not write (nor read, when secret: the token).  what names it in the message
 * ("token_file", "config file", "ca_file").  Returns 0, or -EPERM/-EINVAL with
 * a message naming path and the fix in *errmsg (free it). */
struct stat;
int scim_file_check_trust(const struct stat *st, const char *path, const char *what, uid_t euid, bool secret,
			  char **errmsg);

int scim_config_check_network(const struct scim_config *cfg, char **errmsg);

/* A host in fleet mode: snapshot_url is set (the network sync is then a
 * snapshot install, see fleet_host.h). */
static inline bool scim_config_is_fleet_host(const struct scim_config *cfg)
{
	return cfg->snapshot_url != NULL;
}

/* Name rules shared with the mapping: [a-z_][a-z0-9_.-]*, at most 32 bytes. */
#define SCIM_POSIX_NAME_MAX 32
bool scim_name_is_valid(const char *name);

#endif
