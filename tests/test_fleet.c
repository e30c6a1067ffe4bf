/* test_fleet.c - fleet mode (issue 11) units: the fleet keys of the config,
 * the per-host splay and the atomic file writer.  The network parts are
 * tests/fleet.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "refreshd/config.h"
#include "refreshd/fleet.h"

#define PUB1 "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"
#define PUB2 "RWTAPRW2qy9FjsBiMVwQv8Ft6s6Uj1U1jB1pqfmJ8k6EQ7vuMpdGABmW"

static void config_error(const char *text, const char *want)
{
	struct scim_config *c = NULL;
	char *err = NULL;

	assert_int_equal(scim_config_parse("t.conf", text, &c, &err), -EINVAL);
	assert_null(c);
	assert_non_null(err);
	if (!strstr(err, want))
		fail_msg("config error\n  want: %s\n  got:  %s", want, err);
	free(err);
}

static void test_config_defaults(void **state)
{
	struct scim_config *c = NULL;
	char *err = NULL;

	(void)state;
	assert_int_equal(scim_config_parse("t.conf", "", &c, &err), 0);
	assert_null(c->publish_dir);
	assert_null(c->signing_key);
	assert_int_equal(c->publish_deltas, 24);
	assert_int_equal(c->manifest_expires, 6 * 3600);
	assert_string_equal(c->fleet_name, "scim");
	assert_null(c->snapshot_url);
	assert_int_equal(c->nsnapshot_pubkey, 0);
	assert_false(scim_config_is_fleet_host(c));
	scim_config_free(c);
}

static void test_config_relay(void **state)
{
	struct scim_config *c = NULL;
	char *err = NULL;

	(void)state;
	assert_int_equal(scim_config_parse("t.conf",
					   "url = https://scim.example.com/v2\n"
					   "token_file = /etc/t\n"
					   "publish_dir = /var/www/fleet\n"
					   "signing_key = /etc/fleet.key\n"
					   "publish_deltas = 0\n"
					   "manifest_expires = 2d\n"
					   "fleet_name = prod-eu.1\n",
					   &c, &err),
			 0);
	assert_string_equal(c->publish_dir, "/var/www/fleet");
	assert_string_equal(c->signing_key, "/etc/fleet.key");
	assert_int_equal(c->publish_deltas, 0);
	assert_int_equal(c->manifest_expires, 2 * 86400);
	assert_string_equal(c->fleet_name, "prod-eu.1");
	assert_false(scim_config_is_fleet_host(c));
	scim_config_free(c);

	config_error("publish_dir = /var/www/fleet\n", "publish_dir needs signing_key");
	config_error("publish_deltas = 33\n", "publish_deltas: 33 is out of range (0..32)");
	config_error("manifest_expires = 30s\n", "out of range");
	config_error("manifest_expires = 31d\n", "out of range");
	config_error("fleet_name = a b\n", "fleet_name");
	config_error("fleet_name = x=y\n", "fleet_name");
	config_error("publish_dir = var/www\n", "not an absolute path");
}

static void test_config_host(void **state)
{
	struct scim_config *c = NULL;
	char *err = NULL;

	(void)state;
	assert_int_equal(scim_config_parse("t.conf",
					   "snapshot_url = https://relay.example.com/nss-pam-scim\n"
					   "snapshot_pubkey = " PUB1 "\n"
					   "snapshot_pubkey = " PUB2 "\n",
					   &c, &err),
			 0);
	/* One trailing '/': blob paths are appended. */
	assert_string_equal(c->snapshot_url, "https://relay.example.com/nss-pam-scim/");
	assert_int_equal(c->nsnapshot_pubkey, 2);
	assert_string_equal(c->snapshot_pubkey[0], PUB1);
	assert_string_equal(c->snapshot_pubkey[1], PUB2);
	assert_null(c->snapshot_pubkey[2]);
	assert_true(scim_config_is_fleet_host(c));
	scim_config_free(c);

	assert_int_equal(scim_config_parse("t.conf",
					   "snapshot_url = https://r.example/x/\nsnapshot_pubkey = " PUB1 "\n", &c,
					   &err),
			 0);
	assert_string_equal(c->snapshot_url, "https://r.example/x/");
	scim_config_free(c);

	config_error("snapshot_url = http://relay.example.com/\nsnapshot_pubkey = " PUB1 "\n", "not an https:// URL");
	config_error("snapshot_url = https://relay.example.com/?a=b\nsnapshot_pubkey = " PUB1 "\n", "cannot hold");
	config_error("snapshot_url = https://relay.example.com/\n", "snapshot_url needs snapshot_pubkey");
	config_error("snapshot_url = https://r.example/\nsnapshot_pubkey = " PUB1 "\nurl = https://s.example/\n",
		     "cannot be combined with url");
	config_error("snapshot_url = https://r.example/\nsnapshot_pubkey = " PUB1 "\ntoken_file = /etc/t\n",
		     "cannot be combined");
	config_error("snapshot_url = https://r.example/\nsnapshot_pubkey = " PUB1
		     "\npublish_dir = /x\nsigning_key = /k\n",
		     "cannot be combined");
	config_error("snapshot_pubkey = " PUB1 "\nsnapshot_pubkey = " PUB2 "\nsnapshot_pubkey = " PUB1 "\n",
		     "at most 2 keys");
	config_error("snapshot_pubkey = RWQ\n", "not a minisign public key line");
	config_error("snapshot_pubkey = " PUB1 "x\n", "not a minisign public key line");
}

static void test_splay(void **state)
{
	unsigned a, b;

	(void)state;
	assert_int_equal(scim_fleet_splay(0), 0);
	assert_int_equal(scim_fleet_splay(1), 0);
	a = scim_fleet_splay(300);
	b = scim_fleet_splay(300);
	assert_true(a < 300);
	/* Stable: a host keeps its slot (when it has a machine-id). */
	if (access("/etc/machine-id", R_OK) == 0)
		assert_int_equal(a, b);
}

static void test_write_file(void **state)
{
	char dir[] = "/tmp/scim-fleet-unit.XXXXXX", path[256], *buf = NULL;
	struct stat st;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(scim_fleet_write_file(dir, "m", "hello", 5, 0640, 1700000000), 0);
	snprintf(path, sizeof(path), "%s/m", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* The relay sets the manifest's mtime to its issue second (nginx's ETag). */
	assert_int_equal((long long)st.st_mtime, 1700000000LL);
	assert_int_equal(scim_fleet_read_file(path, 5, &buf, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	free(buf);
	assert_int_equal(scim_fleet_read_file(path, 4, &buf, &len), -EFBIG);
	assert_null(buf);
	/* Replaced whole. */
	assert_int_equal(scim_fleet_write_file(dir, "m", "hi", 2, 0644, 0), 0);
	assert_int_equal(scim_fleet_read_file(path, 100, &buf, &len), 0);
	assert_int_equal(len, 2);
	free(buf);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0); /* no temp file left behind */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults), cmocka_unit_test(test_config_relay),
		cmocka_unit_test(test_config_host),	cmocka_unit_test(test_splay),
		cmocka_unit_test(test_write_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
