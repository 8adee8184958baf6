"""The citizen's own side: signing in by a code sent by SMS (``signin``) and their requests (``requests``)."""
