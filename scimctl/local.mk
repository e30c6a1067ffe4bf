# scimctl/: filled in by its issue.
