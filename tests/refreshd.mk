# scim-refreshd tests.
