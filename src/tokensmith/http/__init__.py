"""The ASGI edge: app factory, middleware, error mapping, one module per endpoint group."""
