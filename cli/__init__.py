"""The ``shubbak`` command."""
