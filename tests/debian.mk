# Debian packaging (debian/, issue 14).
# conf_keys.sh: the packaged conffile holds every key of the parser, commented.
# deb_packages.sh (root; 77 otherwise, and in a tree without debian/ such as
# a dist tarball): dpkg-buildpackage twice, lintian, and install, upgrade,
# remove and purge in a throwaway system (overlays in a mount namespace).
dist_check_SCRIPTS += tests/conf_keys.sh tests/deb_packages.sh
TESTS += tests/conf_keys.sh tests/deb_packages.sh
