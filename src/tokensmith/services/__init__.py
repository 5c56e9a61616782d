"""Application services: the operations behind the CLI, the management API and the console, each one
transaction that also writes its audit event and revocation-feed entry."""
