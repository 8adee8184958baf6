"""Commands and queries on a case. Every write of a case goes through workflows.save (the one writer)."""
