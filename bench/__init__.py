"""Benchmarks: `make bench`. Each prints a ratio against bare SpiffWorkflow measured in the same run."""
