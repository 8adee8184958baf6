"""Shubbak's domain core, a few packages by domain (docs/architecture.md draws them). No web framework here."""
