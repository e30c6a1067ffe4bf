# pam_scim/: pam_scim.so, the account module.
#
# It reads the cache through libnss_scim.so.2 (_nss_scim_account_lookup), never
# through a reader of its own: sshd loads both modules into one process and
# tdb refuses to open one file twice in a process.  So pam_scim.so is linked
# against the built libnss_scim.so.2 by its file name, which gives it
# DT_NEEDED libnss_scim.so.2 (the soname) and no rpath, and needs no libtool
# relink on install; libnss_scim.la is built first.
#
# Installed through an "exec" directory (same place as $(pammoddir)) so that
# it goes in during install-exec and the install-exec-hook removes the .la.
pammodexecdir = $(pammoddir)
pammodexec_LTLIBRARIES = pam_scim.la
pam_scim_la_SOURCES = pam_scim/pam_scim.c nss_scim/nss_scim_account.h
pam_scim_la_LIBADD = -L$(top_builddir)/.libs -l:libnss_scim.so.2 $(PAM_LIBS)
pam_scim_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-Wl,--version-script=$(top_srcdir)/pam_scim/pam_scim.sym -Wl,-z,defs -Wl,-z,now -Wl,-z,relro
EXTRA_pam_scim_la_DEPENDENCIES = libnss_scim.la $(top_srcdir)/pam_scim/pam_scim.sym
EXTRA_DIST += pam_scim/pam_scim.sym

# Debian's pam-auth-update profile: the account line, installed with the
# module (the profile is pam_scim's, whichever folder holds it).
dist_pamconfig_DATA = data/pam-configs/scim

# Man pages: the PAM module's, and the NSS module's (which lives beside the
# NSS module but is written with this one).
dist_man_MANS += pam_scim/pam_scim.8 nss_scim/nss_scim.8
