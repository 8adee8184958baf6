"""Shubbak's domain core: commands on cases, processes, users and the audit trail. No web framework here."""
