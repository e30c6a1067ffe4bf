# Fault tests (issue 10): kill -9 during publish, a full disk, leaks over
# thousands of syncs, readers during republish, valgrind over the units.
# Root-only (exit 77 otherwise), each bounded to a couple of minutes.
#
# scim-faultcheck validates a cache three ways and dumps it with the SCIM ids,
# and dumps an id map: the shell tests compare what they print.
check_PROGRAMS += tests/scim-faultcheck
tests_scim_faultcheck_SOURCES = tests/fault_check.c
tests_scim_faultcheck_CFLAGS = $(AM_CFLAGS) $(TDB_CFLAGS)
tests_scim_faultcheck_LDADD = libscimrefresh.la libscimcache.la $(TDB_LIBS) $(JSONC_LIBS)

dist_check_DATA += tests/fault_kill.py
dist_check_SCRIPTS += tests/fault_kill.sh
TESTS += tests/fault_kill.sh
dist_check_SCRIPTS += tests/fault_diskfull.sh
TESTS += tests/fault_diskfull.sh
dist_check_SCRIPTS += tests/fault_leaks.sh
TESTS += tests/fault_leaks.sh

# Readers during republish: 8 threads and 8 processes, 500 publishes.
check_PROGRAMS += tests/fault_readers
TESTS += tests/fault_readers
tests_fault_readers_SOURCES = tests/fault_readers.c
tests_fault_readers_LDADD = libscimcache.la $(TDB_LIBS) -lpthread

# valgrind memcheck over the cmocka units (skips without valgrind).
dist_check_SCRIPTS += tests/fault_valgrind.sh
TESTS += tests/fault_valgrind.sh

# The same, alone: `make check-valgrind`.
check-valgrind: all $(check_PROGRAMS)
	@$(AM_TESTS_ENVIRONMENT) $(SHELL) $(top_srcdir)/tests/fault_valgrind.sh
.PHONY: check-valgrind
