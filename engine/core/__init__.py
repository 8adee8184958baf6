"""The engine's plumbing every domain package uses: settings, clock, domain errors, throttles, files, secrets,
calendars. Imports nothing else of the engine."""
