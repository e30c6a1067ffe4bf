# scim-refreshd tests.

# ---- mapping, id map, config and offline import (issue 3) -----------------
# test_map: cmocka units (names, gecos, home, hashing, id map, JSON scanner,
# config).  test_import_*.sh: imports of tests/fixtures/ and generated
# directories, checked with getent/id through libnss_scim.so.2 in a mount
# namespace (root; exit 77 otherwise).  scim-maptool prints the hash of an id
# and dumps a cache for those scripts.
check_PROGRAMS += tests/scim-maptool
tests_scim_maptool_SOURCES = tests/map_tool.c
tests_scim_maptool_LDADD = libscimrefresh.la libscimcache.la $(TDB_LIBS) $(JSONC_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/test_map
TESTS += tests/test_map
endif
tests_test_map_SOURCES = tests/test_map.c
tests_test_map_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JSONC_CFLAGS)
tests_test_map_LDADD = libscimrefresh.la libscimcache.la $(CMOCKA_LIBS) $(TDB_LIBS) $(JSONC_LIBS)

dist_check_DATA += tests/import_lib.sh tests/fixtures/README \
	tests/fixtures/github-emu/Users.json tests/fixtures/github-emu/Users2.json \
	tests/fixtures/github-emu/Groups.json tests/fixtures/rfc7643/Users.json \
	tests/fixtures/rfc7643/Groups.json tests/fixtures/hostile/Users.json \
	tests/fixtures/hostile/Groups.json tests/fixtures/groups/Users.json \
	tests/fixtures/groups/Groups.json
dist_check_SCRIPTS += tests/test_import_fixtures.sh tests/test_import_ids.sh tests/test_import_guards.sh \
	tests/test_import_demo.sh tests/test_import_host_groups.sh tests/test_import_on_suspend.sh tests/test_import_ssh_keys.sh
TESTS += tests/test_import_fixtures.sh tests/test_import_ids.sh tests/test_import_guards.sh \
	tests/test_import_demo.sh tests/test_import_host_groups.sh tests/test_import_on_suspend.sh tests/test_import_ssh_keys.sh
# Keys given twice and odd "active" values, listed and as single resources.
dist_check_DATA += tests/fixtures/ambiguous/list/Groups.json \
	tests/fixtures/ambiguous/list/Users.json \
	tests/fixtures/ambiguous/single/Groups-00-members-null.json \
	tests/fixtures/ambiguous/single/Groups-01-members-case.json \
	tests/fixtures/ambiguous/single/Groups-02-member-value.json \
	tests/fixtures/ambiguous/single/Groups-03-member-ref.json \
	tests/fixtures/ambiguous/single/Groups-04-unread.json \
	tests/fixtures/ambiguous/single/Users-00-active-true.json \
	tests/fixtures/ambiguous/single/Users-01-active-TRUE.json \
	tests/fixtures/ambiguous/single/Users-02-active-False.json \
	tests/fixtures/ambiguous/single/Users-03-active-nul.json \
	tests/fixtures/ambiguous/single/Users-04-active-one.json \
	tests/fixtures/ambiguous/single/Users-05-active-null.json \
	tests/fixtures/ambiguous/single/Users-06-active-object.json \
	tests/fixtures/ambiguous/single/Users-07-active-absent.json \
	tests/fixtures/ambiguous/single/Users-08-dup-active.json \
	tests/fixtures/ambiguous/single/Users-09-dup-username.json \
	tests/fixtures/ambiguous/single/Users-10-dup-id.json \
	tests/fixtures/ambiguous/single/Users-11-dup-formatted.json \
	tests/fixtures/ambiguous/single/Users-12-dup-unread.json \
	tests/fixtures/ambiguous/single/Users-13-member.json
dist_check_SCRIPTS += tests/test_import_ambiguous.sh
TESTS += tests/test_import_ambiguous.sh
# ---- end of the mapping section ---------------------------------------------

# ---- network sync tests (issue 4; maintained by the network side) ----------
if HAVE_CMOCKA
check_PROGRAMS += tests/test_http
TESTS += tests/test_http
endif
tests_test_http_SOURCES = tests/test_http.c
tests_test_http_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JSONC_CFLAGS) $(CURL_CFLAGS)
tests_test_http_LDADD = libscimnet.la libscimrefresh.la $(CMOCKA_LIBS) $(CURL_LIBS) $(JSONC_LIBS)

# One listing through http.c + fetch.c into a counting sink (no mapping).
check_PROGRAMS += tests/net_fetch
tests_net_fetch_SOURCES = tests/net_fetch.c
tests_net_fetch_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(CURL_CFLAGS)
tests_net_fetch_LDADD = libscimnet.la libscimrefresh.la $(CURL_LIBS) $(JSONC_LIBS)

# Is a cache file one complete snapshot? (the kill -9 test)
check_PROGRAMS += tests/net_cachecheck
tests_net_cachecheck_SOURCES = tests/net_cachecheck.c
tests_net_cachecheck_LDADD = libscimcache.la $(TDB_LIBS)

# The HTTPS SCIM test server and the shared shell helpers.
dist_check_DATA += tests/scim_server.py
dist_check_DATA += tests/net_lib.sh tests/scim_seed.py
dist_check_DATA += tests/scimmy_server.js tests/connect_proxy.py
dist_check_SCRIPTS += tests/net_fetch.sh tests/net_failures.sh tests/net_scimmy.sh tests/net_signals.sh \
	tests/net_crash.sh
TESTS += tests/net_fetch.sh tests/net_failures.sh tests/net_scimmy.sh tests/net_signals.sh \
	tests/net_crash.sh
# The README's end-to-end command over HTTPS.
EXTRA_DIST += scripts/demo-sync.sh
dist_check_SCRIPTS += tests/net_demo.sh
TESTS += tests/net_demo.sh
dist_check_SCRIPTS += tests/net_nscd.sh
TESTS += tests/net_nscd.sh
dist_check_SCRIPTS += tests/net_no_nss.sh
TESTS += tests/net_no_nss.sh
# Parallel pages, removals confirmed by id, rate limits in flight (issue 12).
dist_check_SCRIPTS += tests/net_parallel.sh
TESTS += tests/net_parallel.sh
# A key given twice, in a page or a resource (issue 10).
dist_check_SCRIPTS += tests/net_ambiguous.sh
TESTS += tests/net_ambiguous.sh

# ---- fleet mode (issue 11) ------------------------------------------------
# fleet.sh: a relay publishing to a real nginx (origin, and the edge cache of
# data/nginx-edge.conf.example), hosts installing from the edge: deltas,
# every refusal, 200 hosts at once, relay down, --seed-idmap.  Root and nginx
# (exit 77 otherwise); FLEET_HOSTS=N for fewer hosts.
if HAVE_CMOCKA
check_PROGRAMS += tests/test_fleet
TESTS += tests/test_fleet
endif
tests_test_fleet_SOURCES = tests/test_fleet.c
tests_test_fleet_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_fleet_LDADD = libscimrefresh.la libscimcache.la $(CMOCKA_LIBS) $(TDB_LIBS) $(JSONC_LIBS)
dist_check_SCRIPTS += tests/fleet.sh
TESTS += tests/fleet.sh
dist_check_DATA += tests/fleet_nginx.conf.in
