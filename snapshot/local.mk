# snapshot/: the fleet snapshot format (issue 11): the canonical stream of the
# mapped directory, its zstd blobs and patch-from deltas, and the signed
# manifest in minisign's format.  scim-refreshd links it (relay and host);
# the NSS and PAM modules never do.
noinst_LTLIBRARIES += libscimsnap.la
libscimsnap_la_SOURCES = snapshot/snapshot.h snapshot/snap_err.h snapshot/stream.c snapshot/zst.c snapshot/manifest.c \
	snapshot/minisig.c
libscimsnap_la_CFLAGS = $(AM_CFLAGS) $(ZSTD_CFLAGS) $(SODIUM_CFLAGS) $(LIBCRYPTO_CFLAGS)
libscimsnap_la_LIBADD = $(ZSTD_LIBS) $(SODIUM_LIBS) $(LIBCRYPTO_LIBS)

# test_snapshot: cmocka units (stream, every refusal, zstd, deltas, manifest,
# signatures).  snapshot_interop.sh: signatures both ways with the minisign
# CLI and deltas both ways with the zstd CLI, through scim-snaptool.
check_PROGRAMS += tests/scim-snaptool
tests_scim_snaptool_SOURCES = tests/snap_tool.c
tests_scim_snaptool_LDADD = libscimsnap.la

if HAVE_CMOCKA
check_PROGRAMS += tests/test_snapshot
TESTS += tests/test_snapshot
endif
tests_test_snapshot_SOURCES = tests/test_snapshot.c
tests_test_snapshot_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(ZSTD_CFLAGS) $(SODIUM_CFLAGS)
tests_test_snapshot_LDADD = libscimsnap.la $(CMOCKA_LIBS) $(ZSTD_LIBS) $(SODIUM_LIBS)

dist_check_SCRIPTS += tests/snapshot_interop.sh
TESTS += tests/snapshot_interop.sh


# bench/snapbench: sizes and times at 100k users ("make bench/snapbench").
EXTRA_PROGRAMS += bench/snapbench
bench_snapbench_SOURCES = bench/snapbench.c
bench_snapbench_CFLAGS = $(AM_CFLAGS) -O2
bench_snapbench_LDADD = libscimsnap.la
