# refreshd/: scim-refreshd, the only writer of the cache.
# The mapping, id map, config and import are in libscimrefresh.la so that the
# unit tests link the same code; main.c only parses options and dispatches.
noinst_LTLIBRARIES += libscimrefresh.la
libscimrefresh_la_SOURCES = refreshd/config.c refreshd/config.h refreshd/log.c refreshd/log.h \
	refreshd/idmap.c refreshd/idmap.h refreshd/model.c refreshd/model.h refreshd/publish.c \
	refreshd/publish.h refreshd/names.c \
	refreshd/names.h refreshd/import.c refreshd/import.h refreshd/local.c refreshd/local.h \
	refreshd/table.c refreshd/table.h refreshd/scan.c refreshd/scan.h refreshd/hook.c refreshd/hook.h \
	refreshd/fleet.h refreshd/fleet_file.c refreshd/fleet_relay.c
libscimrefresh_la_CFLAGS = $(AM_CFLAGS) $(TDB_CFLAGS) $(JSONC_CFLAGS) $(ZSTD_CFLAGS)
libscimrefresh_la_LIBADD = libscimcache.la libscimsshkey.la libscimsnap.la $(TDB_LIBS) $(JSONC_LIBS) $(ZSTD_LIBS)

# The README's first command: scripts/demo.sh imports sample/.
EXTRA_DIST += scripts/demo.sh sample/README sample/scim-refreshd.conf sample/Users.json \
	sample/Users2.json sample/Groups.json

# main.c dispatches: --once --import to import.c, the rest to the network
# sync (sync.c, daemon.c, libscimnet below).
sbin_PROGRAMS += scim-refreshd
scim_refreshd_SOURCES = refreshd/main.c refreshd/sync.h refreshd/sync.c refreshd/daemon.c refreshd/fleet_host.c
scim_refreshd_CFLAGS = $(AM_CFLAGS) $(TDB_CFLAGS) $(JSONC_CFLAGS) $(CURL_CFLAGS)
scim_refreshd_LDADD = libscimnet.la libscimrefresh.la libscimcache.la $(TDB_LIBS) $(JSONC_LIBS) $(CURL_LIBS)

# ---- network sync (issue 4; maintained by the network side) ----------------
# The HTTPS client and the listing walker: no mapping in here, so the unit
# tests and tests/net_fetch link them alone (with log.c from libscimrefresh).
noinst_LTLIBRARIES += libscimnet.la
libscimnet_la_SOURCES = refreshd/http.c refreshd/http.h refreshd/fetch.c refreshd/fetch.h
libscimnet_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JSONC_CFLAGS)
libscimnet_la_LIBADD = $(CURL_LIBS) $(JSONC_LIBS)
# scim-refreshd links it (sync.c and daemon.c in place of the stub).

# on_suspend's shipped program (issue 13): ends the sessions of a user a
# publish suspended or removed.
scimlibexecdir = $(libexecdir)/nss-pam-scim
dist_scimlibexec_SCRIPTS = refreshd/scim-end-sessions
