"""The hall's queue: the kiosk issues tickets, counters call them, the board shows and announces the calls.

- ``ordering``: which waiting ticket a counter calls next (priority weights times waiting time); pure.
- ``config``: service categories and counters, as administrators set them.
- ``tickets``: issuing, daily numbers, reading tickets by number.
- ``calls``: what a counter does: call next, call one ticket, recall, no-show, serve, done, transfer.
- ``estimate``: the estimated wait per category from recent service times.
- ``board``: the calls the display board shows, read from the database so that every API process sees them.
- ``links``: a case opened from a called ticket.

Kept free of imports here: ``engine.core.settings`` reads ``ordering.PRIORITIES`` while it is being defined.
"""
