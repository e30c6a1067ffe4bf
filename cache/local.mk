# cache/: the format, reader and writer.  A convenience library: libnss_scim.so.2
# and scim-refreshd link it; pam_scim.so reaches the reader through libnss_scim.so.2.
noinst_LTLIBRARIES += libscimcache.la
libscimcache_la_SOURCES = cache/cache.h cache/record.h cache/record.c cache/reader.c \
	cache/writer.c cache/file.c cache/lookup.c cache/lookup.h \
	cache/tdbfile.c cache/tdbfile.h cache/index.c cache/index.h
libscimcache_la_CFLAGS = $(AM_CFLAGS) $(TDB_CFLAGS) -fPIC
libscimcache_la_LIBADD = $(TDB_LIBS) -lpthread

# OpenSSH public key lines: checked by scim-refreshd, fingerprinted by scimctl
# (issue 13).  Not in libscimcache: the NSS module has no use for it.
noinst_LTLIBRARIES += libscimsshkey.la
libscimsshkey_la_SOURCES = cache/sshkey.c cache/sshkey.h
