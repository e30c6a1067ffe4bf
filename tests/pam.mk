# PAM module and scimctl tests.
#
# test_pam_scim: pam_scim.so through dlopen and pam_start_confdir, every row of
# the result table and every option, against caches from scim-mkcache.
if HAVE_CMOCKA
check_PROGRAMS += tests/test_pam_scim
TESTS += tests/test_pam_scim
endif
tests_test_pam_scim_SOURCES = tests/test_pam_scim.c
tests_test_pam_scim_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_pam_scim_LDADD = $(CMOCKA_LIBS) $(PAM_LIBS) -ldl -lpthread
# Built before the test runs: the module and the cache publisher it drives.
EXTRA_tests_test_pam_scim_DEPENDENCIES = pam_scim.la tests/scim-mkcache$(EXEEXT)

dist_check_SCRIPTS += tests/pam_exports.sh
TESTS += tests/pam_exports.sh

# Root-only system tests in private namespaces (exit 77 otherwise): pamtester
# and su through the real libpam, NSS and /etc/pam.d; a real sshd on a
# loopback port of its own network namespace.  pam_env.sh is their setup.
# pam_import.sh: the whole chain from SCIM JSON through scim-refreshd --import.
dist_check_SCRIPTS += tests/pam_system.sh tests/sshd_login.sh tests/pam_import.sh
dist_check_DATA += tests/pam_env.sh tests/sshd_env.sh
TESTS += tests/pam_system.sh tests/sshd_login.sh tests/pam_import.sh
# pam_removed.sh: a user the directory deletes is denied, not "unknown".
dist_check_SCRIPTS += tests/pam_removed.sh
TESTS += tests/pam_removed.sh

# pam_access.sh: who may log in on this host (allow_groups, host_groups),
# through pamtester and sshd (issue 13).
dist_check_SCRIPTS += tests/pam_access.sh
TESTS += tests/pam_access.sh
# sshd_end_sessions.sh: on_suspend and scim-end-sessions end open sessions.
dist_check_SCRIPTS += tests/sshd_end_sessions.sh
TESTS += tests/sshd_end_sessions.sh
# host_access.sh: pam_mkhomedir homes, sshd's AllowGroups and sudo through a
# directory group.
dist_check_SCRIPTS += tests/host_access.sh
TESTS += tests/host_access.sh
# sshd_authorized_keys.sh: key logins through scim-authorized-keys.
dist_check_SCRIPTS += tests/sshd_authorized_keys.sh
TESTS += tests/sshd_authorized_keys.sh

# scimctl: every command, both output formats, every exit code.
dist_check_SCRIPTS += tests/scimctl_cli.sh
TESTS += tests/scimctl_cli.sh
