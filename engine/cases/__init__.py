"""Commands and queries on a case: open, claim, complete, documents, custody, timers, complaints, ratings,
moving between versions, replay. Every write of a case goes through workflows.save or workflows.append_to_chain
(the one writer); hooks.py lists what else that transaction writes (the outbox, the report aggregates)."""
