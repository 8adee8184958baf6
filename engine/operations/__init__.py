"""What an operator runs and watches: readiness for traffic, the gauges read at scrape time,
backup and restore. The top of the engine: it reads every domain."""
