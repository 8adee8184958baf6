"""Money at the center: the cashiers' drawers, payments of the bills the diagrams issue (engine/cases/bills.py),
gap-free receipts, two-person refunds, and the collections report. Above ``cases``: paying a bill delivers the
diagram's message through the one writer."""
