"""Server-rendered pages: browser sign-in (``/signin``), the authorization endpoint's pages and, later,
the console. The foundation every page shares:

* :mod:`tokensmith.web.pages` — the Jinja2 environment (autoescape on), the security headers of every
  HTML response (a strict CSP without inline script or style), the error page, ``/static/…``.
* :mod:`tokensmith.web.forms` — form parsing, CSRF tokens bound to the browser session (or to a
  pre-session cookie), refusal of cross-site POSTs.
* :mod:`tokensmith.web.session` — the server-side browser session behind an ``HttpOnly`` cookie, and the
  typed dependency :func:`~tokensmith.web.session.require_browser_user` for pages that need a user.
* :mod:`tokensmith.web.signin` — ``GET/POST /signin`` (password, then TOTP or a recovery code) and
  ``POST /signout``, on the same checks as ``/auth/login``.
"""
