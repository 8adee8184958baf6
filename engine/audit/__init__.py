"""The audit trail: the hash chain, the ledger's seals, verification, replay, the access log, export and signing."""
