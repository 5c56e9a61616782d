"""One module per endpoint group; each exposes ``router`` and optionally ``setup(app)``."""
