"""A small FHIR-style API behind the guard: what a platform team writes, and what the guard's end-to-end
tests and the docs' examples run against.

Scopes: ``Patient.read`` / ``Patient.write`` / ``Observation.read`` / ``Observation.write`` (``Resource.action``),
or their SMART forms (``patient/``, ``user/``, ``system/`` — judged by the SMART scope language when the
installation has it, :mod:`tokensmith.guard.scopes`). A token with a ``patient`` context sees only that patient.
``GET /fhir/metadata`` (public) is its CapabilityStatement (:mod:`tokensmith.example_api.capability`);
``GET /fhir/.well-known/smart-configuration`` (public, JSON, readable cross-origin) is the token service's
SMART configuration, republished at the FHIR base where SMART App Launch 2.2 clients discover it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Path, Query
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.errors import Forbidden, InvalidRequest, NotFound
from tokensmith.example_api.capability import capability_statement
from tokensmith.example_api.store import FhirStore, Resource
from tokensmith.guard import Guard, GuardMiddleware, Principal, check, install_error_handler
from tokensmith.guard.errors import error_response
from tokensmith.inputs import CONTROL_MESSAGE, has_control

PUBLIC_PATHS = ("/healthz", "/metrics", "/fhir/metadata", "/fhir/.well-known/smart-configuration")
_ID = Path(max_length=64)


def _alternatives(resource: str, action: str) -> tuple[str, ...]:
    """The scopes any of which allows ``action`` on ``resource``: the platform form first (named in a 403)."""
    return (f"{resource}.{action}", *(f"{who}/{resource}.{action}" for who in ("system", "user", "patient")))


def allows(action: str, resource: str) -> Any:
    """A dependency: the principal, holding one of the scopes for ``action`` on ``resource``."""
    options = _alternatives(resource, action)

    async def dependency(request: Request) -> Principal:
        principal = await check(request)
        guard: Guard = request.app.state.guard
        if all(guard.scopes.not_covered(principal.scopes, [scope]) for scope in options):
            guard.authorize(principal, options[:1])  # raises insufficient_scope naming the platform form
        return principal

    return Depends(dependency)


def _bundle(resources: list[Resource]) -> Resource:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r} for r in resources]}


def _patient_of(observation: Resource) -> str:
    subject = observation.get("subject")
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(reference, str) or not reference.startswith("Patient/"):
        raise InvalidRequest("subject.reference must be Patient/<id>")
    return reference.removeprefix("Patient/")


async def _invalid(request: Request, exc: Exception) -> Response:
    """FastAPI's validation errors (a body that is not a JSON object, a path id too long) as this API's 400."""
    return error_response(InvalidRequest("the request is malformed: a JSON object body and short ids are expected"))


def _clean(value: Any) -> Any:
    """``value`` itself, unless a string anywhere in it holds a control character (refused, as the service
    refuses them: no field of these resources needs one)."""
    if isinstance(value, str) and has_control(value):
        raise InvalidRequest("a field " + CONTROL_MESSAGE)
    if isinstance(value, dict):
        for key, item in value.items():
            _clean(key)
            _clean(item)
    elif isinstance(value, list):
        for item in value:
            _clean(item)
    return value


def create_example_app(guard: Guard, store: FhirStore) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        if not guard.started:
            await guard.start()
        try:
            yield
        finally:
            await guard.stop()
            await store.close()

    app = FastAPI(title="tokensmith example FHIR API", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.guard = guard
    install_error_handler(app)
    app.add_exception_handler(RequestValidationError, _invalid)
    _routes(app, store)
    app.add_middleware(GuardMiddleware, guard=guard, public_paths=PUBLIC_PATHS)
    return app


def _routes(app: FastAPI, store: FhirStore) -> None:
    guard: Guard = app.state.guard
    started = datetime.fromtimestamp(guard.clock.now(), UTC)

    @app.get("/fhir/metadata")
    async def capabilities() -> Resource:
        return capability_statement(await guard.issuer_metadata(), started)

    @app.get("/fhir/.well-known/smart-configuration")
    async def smart_configuration() -> Response:
        return Response(_json(await guard.smart_configuration()), media_type="application/json",
                        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"})

    @app.get("/healthz")
    async def healthz() -> Response:
        health = guard.health()
        return Response(_json(health), status_code=200 if health["status"] == "ok" else 503,
                        media_type="application/json")

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(guard.metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.get("/fhir/Patient")
    async def search_patients(who: Annotated[Principal, allows("read", "Patient")]) -> Resource:
        return _bundle(await store.patients(only=who.patient))

    @app.get("/fhir/Patient/{patient_id}")
    async def read_patient(patient_id: Annotated[str, _ID],
                           who: Annotated[Principal, allows("read", "Patient")]) -> Resource:
        resource = await store.patient(patient_id) if who.patient in (None, patient_id) else None
        if resource is None:
            raise NotFound(f"no Patient/{patient_id[:64]}")
        return resource

    @app.post("/fhir/Patient", status_code=201)
    async def create_patient(body: Annotated[dict[str, Any], Body()],
                             who: Annotated[Principal, allows("write", "Patient")]) -> Resource:
        if who.patient is not None:
            raise Forbidden("a patient-scoped token cannot create patients")
        return await store.add_patient(_clean(body))

    @app.get("/fhir/Observation")
    async def search_observations(who: Annotated[Principal, allows("read", "Observation")],
                                  patient: Annotated[str | None, Query(max_length=64)] = None) -> Resource:
        if patient is not None and has_control(patient):
            raise InvalidRequest("patient " + CONTROL_MESSAGE)
        if who.patient is not None and patient not in (None, who.patient):
            return _bundle([])
        return _bundle(await store.observations(who.patient or patient))

    @app.post("/fhir/Observation", status_code=201)
    async def create_observation(body: Annotated[dict[str, Any], Body()],
                                 who: Annotated[Principal, allows("write", "Observation")]) -> Resource:
        patient_id = _patient_of(_clean(body))
        if who.patient not in (None, patient_id):
            raise Forbidden("this token may only write for its own patient")
        if await store.patient(patient_id) is None:
            raise InvalidRequest(f"no Patient/{patient_id[:64]}")
        return await store.add_observation(body, patient_id)


def _json(body: Any) -> bytes:
    import orjson

    return orjson.dumps(body)


