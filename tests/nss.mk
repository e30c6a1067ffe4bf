# NSS module tests.
