# nss_scim/: libnss_scim.so.2, loaded by glibc into every process.
lib_LTLIBRARIES += libnss_scim.la
libnss_scim_la_SOURCES = nss_scim/nss_scim.c nss_scim/nss_scim.h nss_scim/nss_scim_account.h \
	nss_scim/pack.c nss_scim/pack.h nss_scim/buf.c nss_scim/buf.h nss_scim/status.c nss_scim/status.h
libnss_scim_la_CFLAGS = $(AM_CFLAGS) $(TDB_CFLAGS)
libnss_scim_la_LIBADD = libscimcache.la $(TDB_LIBS) -lpthread
libnss_scim_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -shrext .so.2 \
	-Wl,--version-script=$(top_srcdir)/nss_scim/nss_scim.sym -Wl,-z,defs -Wl,-z,now -Wl,-z,relro
EXTRA_libnss_scim_la_DEPENDENCIES = $(top_srcdir)/nss_scim/nss_scim.sym
EXTRA_DIST += nss_scim/nss_scim.sym
