"""What runs Shubbak for real on this machine, for the tests, the benchmarks and the documentation's screenshots:
a local PostgreSQL, the app served in a thread or a subprocess, test settings, an API client for scripted users,
scanned papers, and the browser walks (Playwright on the machine's Chromium).

Not shipped with the product (not in the package list) and never imported by it; it imports the product, and the
tests, ``bench/`` and ``docs/screenshots/`` import it. It imports nothing from ``tests`` (an import-linter contract).
"""
