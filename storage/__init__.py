"""Persistence: database tables, sessions, migrations, and (later) document storage backends."""
