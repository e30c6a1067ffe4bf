# bench/: the NSS benchmark (not a test).  Nothing here is built by "make" or
# "make check": "make bench" builds the harness, the data converter and the
# trivial NSS module; bench/run.sh (as root) runs the matrix.
EXTRA_PROGRAMS = bench/nssbench bench/mkbenchcache
EXTRA_LTLIBRARIES = bench/libnss_bnull.la bench/libnss_bfloor.la

bench_nssbench_SOURCES = bench/nssbench.c
bench_nssbench_CFLAGS = $(AM_CFLAGS) -O2
# Its own (empty) LDADD: the default one links the fuzz targets (fuzz/local.mk).
bench_nssbench_LDADD =

bench_mkbenchcache_SOURCES = bench/mkbenchcache.c
bench_mkbenchcache_CFLAGS = $(AM_CFLAGS) $(TDB_CFLAGS)
bench_mkbenchcache_LDADD = libscimcache.la $(TDB_LIBS)

# -rpath makes libtool build a shared object although nothing installs it.
bench_libnss_bnull_la_SOURCES = bench/libnss_bnull.c
bench_libnss_bnull_la_CFLAGS = $(AM_CFLAGS) -O2
bench_libnss_bnull_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -shrext .so.2 \
	-rpath $(abs_builddir)/bench

bench_libnss_bfloor_la_SOURCES = bench/libnss_bfloor.c
bench_libnss_bfloor_la_CFLAGS = $(AM_CFLAGS) -O2
bench_libnss_bfloor_la_LDFLAGS = $(bench_libnss_bnull_la_LDFLAGS)

EXTRA_DIST += bench/README.md bench/run.sh bench/gen.py bench/report.py bench/check-cache.sh
CLEANFILES += $(EXTRA_PROGRAMS) $(EXTRA_LTLIBRARIES)

.PHONY: bench
bench: bench/nssbench$(EXEEXT) bench/mkbenchcache$(EXEEXT) bench/libnss_bnull.la bench/libnss_bfloor.la \
	libnss_scim.la

# ---- network sync benchmark (issue 4; maintained by the network side) ----
EXTRA_DIST += bench/sync_bench.sh

# Fleet mode (issue 11): a host installing a 100k-user snapshot, full and by delta.
EXTRA_DIST += bench/fleet_bench.sh bench/fleet_sim.sh
