"""The hall's queue: the kiosk issues tickets, counters call them, the board shows and announces the calls.

- ``ordering``: which waiting ticket a counter calls next (priority weights times waiting time); pure. The
  priority classes themselves are ``engine.core.settings.PRIORITIES``, which the weights setting is checked against.
- ``config``: service categories and counters, as administrators set them.
- ``tickets``: issuing, daily numbers, reading tickets by number.
- ``calls``: what a counter does: call next, call one ticket, recall, no-show, serve, done, transfer.
- ``estimate``: the estimated wait per category from recent service times.
- ``board``: the calls the display board shows, read from the database so that every API process sees them.
- ``links``: a case opened from a called ticket.
- booked visits: ``appointments`` (the centers' hours, the slots of a category, free places), ``bookings`` (a
  citizen books, lists and cancels), ``arrivals`` (the kiosk turns a booking into a ticket), ``booking_rounds``
  (the periodic round: day-before reminders and no-shows).
"""
