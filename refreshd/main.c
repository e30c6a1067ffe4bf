/* main.c - scim-refreshd: option parsing and dispatch only.
 *
 * Exit status: 0 published (or a clean daemon exit), 1 not published (an
 * error), 2 usage or configuration error, 3 refused by a publishing guard. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refreshd/config.h"
#include "refreshd/fleet.h"
#include "refreshd/import.h"
#include "refreshd/log.h"
#include "refreshd/model.h"
#include "refreshd/sync.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: scim-refreshd [--config PATH] [--once [--import DIR]] [--force] [--debug]\n"
		   "\n"
		   "Keeps the nss-pam-scim cache in step with a SCIM 2.0 directory.\n"
		   "\n"
		   "  -c, --config PATH  configuration file (default %s)\n"
		   "  -1, --once         sync once, publish and exit\n"
		   "  -i, --import DIR   with --once: read Users*.json and Groups*.json from DIR\n"
		   "                     instead of the server (offline import)\n"
		   "  -f, --force        publish even if the snapshot is empty or removes more\n"
		   "                     than max_removed_percent of the users\n"
		   "      --recover-idmap  with --once: rebuild a lost id map from the published\n"
		   "                     cache (tombstones of ids that left earlier are lost)\n"
		   "      --keygen PREFIX  write a fleet signing key pair: PREFIX.key (the\n"
		   "                     relay's signing_key, mode 0600) and PREFIX.pub\n"
		   "      --seed-idmap SNAPSHOT  record every number of a fleet snapshot\n"
		   "                     (snapshots/SHA256.zst) in the id map: a standby relay\n"
		   "  -d, --debug        log debug messages\n"
		   "  -h, --help         this help\n"
		   "  -V, --version      print the version\n"
		   "\n"
		   "Exit status: 0 published, 1 failed, 2 usage or configuration error,\n"
		   "3 refused by a publishing guard (see --force).  See scim-refreshd(8).\n",
		   scim_config_default_path());
}

static int exit_code(int r)
{
	if (r >= 0)
		return 0;
	return r == -ECANCELED ? 3 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "once", no_argument, NULL, '1' },
		{ "import", required_argument, NULL, 'i' }, { "force", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },	    { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	    { "recover-idmap", no_argument, NULL, 'R' },
		{ "keygen", required_argument, NULL, 'K' }, { "seed-idmap", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *import_dir = NULL, *keygen = NULL, *seed = NULL;
	bool once = false, force = false, recover = false;
	struct scim_config *cfg = NULL;
	char *err = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:1i:fdhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case '1':
			once = true;
			break;
		case 'i':
			import_dir = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'd':
			scim_log_set_level(LOG_DEBUG);
			break;
		case 'R':
			recover = true;
			break;
		case 'K':
			keygen = optarg;
			break;
		case 'S':
			seed = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("scim-refreshd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "scim-refreshd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* Needs no configuration: the key is made before the relay is set up. */
	if (keygen)
		return scim_fleet_keygen(keygen) < 0 ? 1 : 0;
	if ((import_dir || recover) && !once) {
		fprintf(stderr, "scim-refreshd: %s needs --once\n", import_dir ? "--import" : "--recover-idmap");
		return 2;
	}
	/* A bad or untrusted config is exit 2 for the daemon too, before its
	 * loop starts (which loads the file again, as SIGHUP does). */
	r = scim_config_load(config_path, &cfg, &err);
	if (r < 0) {
		log_error("%s", err ? err : strerror(-r));
		free(err);
		if (!once)
			log_error("not starting");
		return 2;
	}
	if (seed) {
		r = scim_fleet_seed_idmap(cfg, seed);
		scim_config_free(cfg);
		return r < 0 ? 1 : 0;
	}
	if (!once) {
		scim_config_free(cfg);
		return exit_code(scim_daemon_run(config_path, force));
	}
	cfg->recover_idmap = recover;
	/* A publisher killed mid-write left <cache>.new: a run that fails or is
	 * refused before its own publish would otherwise leave it there. */
	scim_clean_leftovers(cfg);
	if (import_dir) {
		struct scim_sync_stats st;
		char line[1024];
		r = scim_import_dir(cfg, import_dir, force, &st);
		if (r == 0) {
			scim_sync_stats_format(&st, line, sizeof(line));
			log_info("imported %s: %s generation=%llu", import_dir, line,
				 (unsigned long long)st.generation);
			if (cfg->publish_dir)
				(void)scim_fleet_relay_publish(cfg, 0);
		} else {
			/* The reason is already logged where it was found. */
			log_error("import of %s failed; nothing was published%s", import_dir,
				  r == -ECANCELED ? " (refused by a publishing guard)" : "");
		}
	} else {
		r = scim_sync_once(cfg, force);
	}
	scim_config_free(cfg);
	return exit_code(r);
}
