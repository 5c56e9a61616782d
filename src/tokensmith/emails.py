"""The one e-mail address validator: ``init``'s first admin, users, and the users of the session exchange.

Any syntactically valid address is accepted (RFC 5321/5322 with the internationalised forms of RFC 6531,
as the ``email-validator`` library checks them). Whether mail reaches an address is the caller's business:
hospitals and companies run ``.local``, ``.internal`` or dotless domains, and tests use ``.test``.
``email-validator`` refuses the IANA special-use names (``local``, ``test``, ``localhost``, ``arpa``, …) even
with its deliverability check off; its documentation's way to allow them is to take them out of its
``SPECIAL_USE_DOMAIN_NAMES`` list, done once below. That list is the library's process-wide setting, and
this module is the only user of the library in tokensmith.
"""

from __future__ import annotations

from functools import lru_cache

import email_validator
from email_validator import EmailNotValidError, validate_email

email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()


class InvalidEmail(ValueError):
    """Not a syntactically valid address; the message says why (for the caller, never a secret)."""


@lru_cache(maxsize=65_536)
def _checked(value: str) -> str:
    # Cached: the same users come back all day through the exchange, and a full check costs ~40 µs.
    return validate_email(value, check_deliverability=False, globally_deliverable=False).normalized


def normalise_email(value: str) -> str:
    """The address in its normal form (domain in lower case and Unicode NFC, local part as given), or
    :class:`InvalidEmail`. For addresses passed on as they are (the ``email`` claim of session tokens)."""
    try:
        return _checked(value.strip())
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None


def account_email(value: str) -> str:
    """A sign-in identity: the normal form in lower case (``Ann@Clinic.local`` and ``ann@clinic.local`` are
    one account), or :class:`InvalidEmail`."""
    return normalise_email(value).lower()


def email_lookup_key(value: str) -> str:
    """What to look an account up by: :func:`account_email` when the value is valid, else the trimmed value
    in lower case (it then matches nothing, or an account stored before this validator existed)."""
    try:
        return account_email(value)
    except InvalidEmail:
        return value.strip().lower()
