"""What auditors use to prove the trails: verification of every chain, the ledger's signed daily seals, the
access log of their own reads, the signed export of a case's file, and their commands (search, read, replay).

The top of the engine: it reads cases; nothing in the engine imports it. The hash chain itself, which the one
writer appends to, is engine/core/chain.py; replay, which a case's owners rule also uses, is engine/cases/replay.py.
"""
