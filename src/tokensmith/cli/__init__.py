"""The ``tokensmith`` command line: every operator task, scriptable (``--json``)."""
