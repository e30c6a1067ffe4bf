# scim after files: the directory never shadows a local account.
passwd after=files scim
group  after=files scim
