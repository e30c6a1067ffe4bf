# NSS module tests: codec and packer units, the module through dlopen, the
# export map, nss_wrapper, and real glibc (getent/id) in a mount namespace.
if HAVE_CMOCKA
check_PROGRAMS += tests/test_cache_codec tests/test_tdbfile tests/test_index tests/test_nss_pack tests/test_nss_module tests/test_nss_threads
TESTS += tests/test_cache_codec tests/test_tdbfile tests/test_index tests/test_nss_pack tests/test_nss_module tests/test_nss_threads
endif

tests_test_cache_codec_SOURCES = tests/test_cache_codec.c
tests_test_cache_codec_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(TDB_CFLAGS)
tests_test_cache_codec_LDADD = libscimcache.la $(CMOCKA_LIBS) $(TDB_LIBS)

tests_test_tdbfile_SOURCES = tests/test_tdbfile.c
tests_test_tdbfile_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(TDB_CFLAGS)
tests_test_tdbfile_LDADD = libscimcache.la $(CMOCKA_LIBS) $(TDB_LIBS)

tests_test_index_SOURCES = tests/test_index.c
tests_test_index_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(TDB_CFLAGS)
tests_test_index_LDADD = libscimcache.la $(CMOCKA_LIBS) $(TDB_LIBS)

tests_test_nss_pack_SOURCES = tests/test_nss_pack.c nss_scim/pack.c nss_scim/buf.c nss_scim/status.c
tests_test_nss_pack_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_nss_pack_LDADD = libscimcache.la $(CMOCKA_LIBS) $(TDB_LIBS)

# The module itself, loaded with dlopen(RTLD_NOW) as glibc loads it.
tests_test_nss_module_SOURCES = tests/test_nss_module.c tests/nss_testlib.c tests/nss_testlib.h
tests_test_nss_module_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_nss_module_LDADD = libscimcache.la $(CMOCKA_LIBS) $(TDB_LIBS) -ldl -lpthread

tests_test_nss_threads_SOURCES = tests/test_nss_threads.c tests/nss_testlib.c tests/nss_testlib.h
tests_test_nss_threads_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_nss_threads_LDADD = libscimcache.la $(CMOCKA_LIBS) $(TDB_LIBS) -ldl -lpthread

dist_check_SCRIPTS += tests/nss_exports.sh tests/nss_wrapper.sh tests/nss_getent.sh
TESTS += tests/nss_exports.sh tests/nss_wrapper.sh tests/nss_getent.sh
