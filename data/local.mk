# data/: man pages, the systemd unit, pam-configs.  One list per kind; add
# entries to the lists.

# ---- man pages ---------------------------------------------------------------
dist_man_MANS += data/scim-refreshd.8 data/scim-refreshd.conf.5

# ---- systemd unit (issue 4; maintained by the network side) ----------------
# Paths are substituted at build time so the unit matches --prefix and
# --localstatedir; the state directory must exist for ReadWritePaths=.
systemdunit_DATA = data/scim-refreshd.service
EXTRA_DIST += data/scim-refreshd.service.in
CLEANFILES += data/scim-refreshd.service
data/scim-refreshd.service: $(top_srcdir)/data/scim-refreshd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) data && sed -e 's|@sbindir[@]|$(sbindir)|g' \
		-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		-e 's|@statedir[@]|$(localstatedir)/lib/nss-pam-scim|g' \
		$(top_srcdir)/data/scim-refreshd.service.in >$@
install_exec_hooks += install-scim-statedir
install-scim-statedir:
	$(MKDIR_P) $(DESTDIR)$(localstatedir)/lib/nss-pam-scim
.PHONY: install-scim-statedir

# ---- the packaged configuration ----------------------------------------------
# Every key with its default, commented out: Debian's /etc/scim-refreshd.conf
# (debian/scim-refreshd.install).  tests/conf_keys.sh checks it against the
# parser's key table.
EXTRA_DIST += data/scim-refreshd.conf
# The edge cache in front of a fleet relay (README, "A fleet"); tests/fleet.sh uses it.
EXTRA_DIST += data/nginx-edge.conf.example
