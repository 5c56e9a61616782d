"""OAuth 2.0 protocol core (RFC 6749, 7009, 7662, 8414, 8693, 9068): no web framework here; the HTTP
edge turns requests into :class:`tokensmith.oauth.request.OAuthRequest` and errors into responses."""
