# scim-refreshd tests.

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

# The HTTPS SCIM test server and the shared shell helpers.
dist_check_DATA += tests/scim_server.py
dist_check_DATA += tests/net_lib.sh tests/scim_seed.py
dist_check_SCRIPTS += tests/net_fetch.sh tests/net_failures.sh
TESTS += tests/net_fetch.sh tests/net_failures.sh
