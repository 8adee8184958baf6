"""Official documents: what a case issues (a permit, a certificate, a decision letter) as a signed Arabic PDF
that anyone can verify from its QR code (docs/documents.md).

``certificate`` the signing key and certificate; ``pdf`` the page around the analyst's template, its QR code,
WeasyPrint; ``issue`` renders the documents a step owed (engine/cases/owed.py) after commit, signs them,
stores them and puts their SHA-256 in the case's chain; ``public`` the verification by number, by upload and
offline; ``manage`` a case's documents for staff, their PDF, revocation and correction.
"""
