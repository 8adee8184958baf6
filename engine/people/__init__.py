"""Users, centers, identity numbers, accounts, the record of changes to users, and the access policy (who may
see and act on what, asked by every face: policy.py)."""
