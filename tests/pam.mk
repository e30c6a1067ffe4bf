# PAM module and scimctl tests.
