# scimctl/: look into the cache (status, user, group; --json).  It reads the
# file through the private read API of the cache convenience library.  Built
# as scimctl/scimctl (a top-level "scimctl" would clash with this folder) and
# installed as $(sbindir)/scimctl.
sbin_PROGRAMS += scimctl/scimctl
scimctl_scimctl_SOURCES = scimctl/scimctl.c
scimctl_scimctl_CFLAGS = $(AM_CFLAGS) $(TDB_CFLAGS)
scimctl_scimctl_LDADD = libscimcache.la libscimsshkey.la $(TDB_LIBS) -lpthread
dist_man_MANS += scimctl/scimctl.8

# sshd's AuthorizedKeysCommand (issue 13): a directory user's SSH keys from
# the cache, through the modules' process-wide reader.
sbin_PROGRAMS += scimctl/scim-authorized-keys
scimctl_scim_authorized_keys_SOURCES = scimctl/scim-authorized-keys.c
scimctl_scim_authorized_keys_CFLAGS = $(AM_CFLAGS) $(TDB_CFLAGS)
scimctl_scim_authorized_keys_LDADD = libscimcache.la $(TDB_LIBS) -lpthread
dist_man_MANS += scimctl/scim-authorized-keys.8
