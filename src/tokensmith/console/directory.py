"""The SMART patient and practitioner directory in the console (spec F, issue 12): list with search,
add one, import a file (the CLI's format, :mod:`tokensmith.smart.people_file`; all or nothing, the
failing entry named), and link a user to ``Patient/<id>`` or ``Practitioner/<id>`` (their ``fhirUser``)
from the user's page.

The functions are those of ``/smart/patients``, ``/smart/practitioners`` and ``PATCH /users/{id}``
(:mod:`tokensmith.smart.directory`, :func:`tokensmith.people.users.update_user`), with their permissions:
``Directory.read`` / ``Directory.write``, and ``User.write`` (no more powerful user) for the link.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.console import people
from tokensmith.console.common import (
    SignedIn,
    actor,
    form_errors,
    need,
    new_router,
    page,
    runtime_of,
    shown_error,
    whole_number,
)
from tokensmith.errors import NotFound, ServiceError, ValidationFailed
from tokensmith.people import users as user_service
from tokensmith.smart import directory as service
from tokensmith.smart.people_file import PeopleFileError, parse_people
from tokensmith.web.pages import see_other
from tokensmith.web.session import BrowserUser
from tokensmith.web.views import checked_form, checked_upload

router = new_router()
ACTIVE = "directory"
KINDS = {"patients": "Patient", "practitioners": "Practitioner"}
PAGE_SIZE = 50
MAX_FILE = 1000 * 1024  # under the deployment's body limit (1 MiB by default) with the form around it
FIELDS = {"name": "family", "birthDate": "birth_date", "id": "person_id"}


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise NotFound("no such directory")
    return KINDS[kind]


def _offset(value: str) -> int:
    number = whole_number(value)
    return number if number is not None and number <= 100_000 else 0


async def _list_page(request: Request, user: BrowserUser, kind: str, *, errors: dict[str, str] | None = None,
                     values: dict[str, str] | None = None, status: int = 200, message: str | None = None) -> Response:
    resource = _kind(kind)
    query = request.query_params.get("q", "").strip()[:200]
    offset = _offset(request.query_params.get("offset", "0"))
    people_found = await service.list_people(runtime_of(request), resource, user.tenant_id, query=query or None,
                                             limit=PAGE_SIZE + 1, offset=offset)

    def link(at: int) -> str:
        return f"/console/directory/{kind}?" + urlencode({k: v for k, v in (("q", query), ("offset", at)) if v})

    return await page(request, user, "directory.html", ACTIVE,
                      {"kind": kind, "resource": resource, "kinds": KINDS, "people": people_found[:PAGE_SIZE],
                       "query": query, "newer": link(max(offset - PAGE_SIZE, 0)) if offset else None,
                       "older": link(offset + PAGE_SIZE) if len(people_found) > PAGE_SIZE else None,
                       "errors": errors or {}, "values": values or {}, "message": message}, status=status)


@router.get("/directory/{kind}")
async def directory(kind: str, request: Request, user: SignedIn) -> Response:
    need(user, perm.DIRECTORY_READ)
    done = request.query_params.get("done", "")
    message = {"added": "Added to the directory."}.get(done)
    if done.startswith("imported:"):
        created, _, updated = done.removeprefix("imported:").partition(",")
        if whole_number(created) is not None and whole_number(updated) is not None:
            message = f"Imported: {int(created)} added, {int(updated)} updated."
    return await _list_page(request, user, kind, message=message)


@router.post("/directory/{kind}")
async def add_person(kind: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.DIRECTORY_WRITE)
    resource = _kind(kind)
    try:
        await service.create_person(
            runtime_of(request), resource, tenant_id=user.tenant_id, given=form.get("given").split(),
            family=form.get("family") or None, birth_date=form.get("birth_date").strip() or None,
            person_id=form.get("person_id").strip() or None, actor=actor(user))
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        errors = form_errors(exc, FIELDS)
        if exc.status == 409:
            errors = {"person_id": exc.description}
        return await _list_page(request, user, kind, errors=errors, values=form.fields, status=exc.status)
    return see_other(f"/console/directory/{kind}?done=added")


def _entry_errors(exc: ValidationFailed) -> str:
    """The import's refusal in words: which entry (1-based, as a person counts) and what is wrong."""
    parts = []
    for item in exc.errors[:5]:
        loc = list(item.get("loc") or [])
        where = f"entry {int(loc[0]) + 1}" if loc and isinstance(loc[0], int) else "the file"
        field = ".".join(str(p) for p in loc[1:])
        parts.append(f"{where}{' (' + field + ')' if field else ''}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) + ". Nothing was imported."


@router.post("/directory/{kind}/import")
async def import_file(kind: str, request: Request, user: SignedIn) -> Response:
    need(user, perm.DIRECTORY_WRITE)  # before the upload is read: no megabyte from someone who may not import
    upload = await checked_upload(request, "file", max_bytes=MAX_FILE)
    resource = _kind(kind)
    if not upload.content:
        return await _list_page(request, user, kind, errors={"file": "Choose a .json or .csv file."}, status=400)
    try:
        entries = parse_people(upload.content.decode("utf-8"), is_csv=upload.filename.lower().endswith(".csv"))
        counts = await service.import_people(runtime_of(request), resource, user.tenant_id, entries,
                                             actor=actor(user))
    except UnicodeDecodeError:
        return await _list_page(request, user, kind, errors={"file": "The file is not UTF-8 text."}, status=400)
    except PeopleFileError as exc:
        return await _list_page(request, user, kind, errors={"file": f"{upload.filename or 'The file'}: {exc}"},
                                status=400)
    except ValidationFailed as exc:
        return await _list_page(request, user, kind, errors={"file": _entry_errors(exc)}, status=400)
    return see_other(f"/console/directory/{kind}?done=imported:{counts['created']},{counts['updated']}")


@router.post("/users/{user_id}/fhir-user")
async def link_user(user_id: str, request: Request, user: SignedIn) -> Response:
    """``fhirUser`` of a user: ``Patient/<id>`` or ``Practitioner/<id>`` of the tenant's directory; empty
    unlinks. The user page shows a refusal next to the field."""
    form = await checked_form(request)
    need(user, perm.USER_WRITE)
    reference = form.get("fhir_user").strip()
    try:
        await user_service.update_user(runtime_of(request), user_id, tenant_id=user.tenant_id, fhir_user=reference,
                                       granted=user.permissions, actor=actor(user))
    except NotFound:
        raise NotFound("user not found") from None
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        errors = form_errors(exc, {"fhirUser": "fhir_user"})
        if "_form" in errors and exc.status == 400:
            errors = {"fhir_user": errors["_form"]}
        return await people.user_page(request, user, user_id, errors=errors, status=exc.status)
    return see_other(f"/console/users/{user_id}?done={'linked' if reference else 'unlinked'}")
