"""Users, centers, identity numbers, accounts and the access policy."""
