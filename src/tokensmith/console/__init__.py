"""The web console (spec J, issue 12): server-rendered pages under ``/console`` on the web foundation
(:mod:`tokensmith.web`: browser session, CSRF, CSP, base layout).

Every page and action checks the signed-in user's permissions server-side with the management API's
model (:mod:`tokensmith.permissions`, the scope matcher) and calls the same domain services as the API,
in process. Modules: :mod:`~tokensmith.console.common` (navigation, permission checks, form errors),
``overview``, ``apikeys``, ``account``, ``people``, ``clients``, ``keys``, ``audit``; ``routes`` collects
their routers for :mod:`tokensmith.http.app`.
"""
