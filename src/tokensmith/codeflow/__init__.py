"""The OAuth 2.0 authorization-code flow with PKCE and OpenID Connect (RFC 6749 §4.1, RFC 7636, RFC 9207,
OpenID Connect Core 1.0), without web-framework imports:

* :mod:`~tokensmith.codeflow.request` — validating an authorization request: errors found before the
  client and its redirect URI are known are shown to the user, later ones are redirected (§4.1.2.1);
* :mod:`~tokensmith.codeflow.scope_words` — the consent page's plain-language scope descriptions;
* :mod:`~tokensmith.codeflow.launch` — the typed hook for a launch context (SMART), none by default;
* :mod:`~tokensmith.codeflow.consents` — consents remembered per user and client;
* :mod:`~tokensmith.codeflow.codes` — authorization codes (keyed hashes, single-use, bound to everything
  the token request must repeat);
* :mod:`~tokensmith.codeflow.id_token` — ID tokens and userinfo claims.

The pages are in :mod:`tokensmith.http.endpoints.authorize`; the grants in
:mod:`tokensmith.oauth.grants.authorization_code` and :mod:`tokensmith.oauth.grants.refresh_token`.
"""
