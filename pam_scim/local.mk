# pam_scim/: filled in by its issue.
