"""The engine's plumbing every domain package uses: settings, clock, domain errors, throttles, files, secrets,
calendars, the hash chain every trail is made of (chain), and tracking numbers with what proves a citizen's claim
to one (tracking). Imports nothing else of the engine."""
