"""The grant registry: each grant is a small module with one contract (:class:`Grant`); the token
endpoint only dispatches on ``grant_type``."""

from tokensmith.oauth.grants.base import Grant, GrantRegistry

__all__ = ["Grant", "GrantRegistry"]
