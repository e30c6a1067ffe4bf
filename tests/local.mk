# tests/: unit tests (cmocka), glibc integration, system tests (root, exit 77 otherwise).
# Each part adds its own tests in tests/<part>.mk.
noinst_PROGRAMS += tests/scim-mkcache
tests_scim_mkcache_SOURCES = tests/mkcache.c
tests_scim_mkcache_LDADD = libscimcache.la $(TDB_LIBS)

include tests/nss.mk
include tests/pam.mk
include tests/refreshd.mk
include tests/fault.mk
include tests/debian.mk
