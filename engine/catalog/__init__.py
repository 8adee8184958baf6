"""What can run: processes, their immutable versions, drafts, packages, service information, deploy checks
and the analysts' own tests."""
