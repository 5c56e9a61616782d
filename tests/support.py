"""Test support: real servers on loopback, real databases, a TCP proxy to simulate outages.

``LiveServer`` runs the real ASGI app under uvicorn in a background thread on 127.0.0.1 (an ephemeral
port) with its own event loop; ``call()`` runs a coroutine on that loop so that tests can use the
service layer (create clients, rotate keys) on the same runtime the server uses.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import uvicorn

from tokensmith.clock import Clock
from tokensmith.config import Settings
from tokensmith.http.app import create_app
from tokensmith.runtime import Runtime

T = TypeVar("T")

POSTGRES_URL = os.environ.get("TOKENSMITH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TOKENSMITH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_MASTER_KEY = "test-master-key-0123456789-abcdefghijklmnopqrstuvwxyz"
# The Redis namespace of every test server that names none: one per test process (each xdist worker, each
# concurrent run), so that parallel tests never share rate-limit counters (all keyed by 127.0.0.1),
# caches or revocation channels on the one Redis server.
REDIS_TEST_NAMESPACE = f"test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex[:8]}"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "development",
        "database_url": database_url,
        "master_key": TEST_MASTER_KEY,
        "issuer": "http://127.0.0.1:9999",
        "revocation_poll_interval": 0.2,
        "audit_flush_interval": 0.05,
        "log_level": "INFO",
    }
    if overrides.get("redis_url"):
        values["redis_namespace"] = REDIS_TEST_NAMESPACE
    values.update(overrides)
    return Settings(**values)


def loopback_socket() -> socket.socket:
    """A socket bound to an ephemeral port of 127.0.0.1: its URL is known before the server that will
    serve on it is built (an issuer that must be the server's real URL, two servers naming each other)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class LiveServer:
    def __init__(self, settings: Settings, clock: Clock | None = None, *, init: bool = True,
                 sock: socket.socket | None = None) -> None:
        self.settings = settings
        self.runtime = Runtime(settings, clock=clock)
        self.app = create_app(runtime=self.runtime)
        self._init = init
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self.sock = sock if sock is not None else loopback_socket()
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.tenant_id: str | None = None

    def call(self, fn: Callable[[Runtime], Awaitable[T]] | Awaitable[T], timeout: float = 30) -> T:
        coro = fn(self.runtime) if callable(fn) else fn
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def start(self) -> LiveServer:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name=f"server-{self.port}")
        self._thread.start()
        if self._init:
            from tokensmith.bootstrap import initialise

            result = self.call(lambda rt: initialise(rt))
            self.tenant_id = result["tenant_id"]
        # proxy_headers=False as in `tokensmith serve`: X-Forwarded-For is the app's business (trusted_proxies)
        config = uvicorn.Config(self.app, lifespan="on", log_config=None, access_log=False, loop="none",
                                proxy_headers=False)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._serve_future = asyncio.run_coroutine_threadsafe(self._server.serve(sockets=[self.sock]), self._loop)
        deadline = time.time() + 20
        while not self._server.started:
            if time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            try:
                self._serve_future.result(timeout=15)
            except Exception:
                pass
        for step in (self.runtime.stop, _cancel_the_rest):
            try:
                if self._thread is not None:
                    self.call(step(), timeout=10)
                else:
                    self._loop.run_until_complete(step())
            except Exception:
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()
        self.sock.close()

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kw)

    def create_client(self, **kw: Any) -> tuple[Any, str | None]:
        from tokensmith.clients import create_client

        kw.setdefault("tenant_id", self.tenant_id)
        kw.setdefault("name", "test-client")
        return self.call(lambda rt: create_client(rt, **kw))

    def __enter__(self) -> LiveServer:
        try:
            return self.start()
        except BaseException:
            self.stop()  # a start that failed half-way must not leave its socket, loop or runtime open
            raise

    def __exit__(self, *exc: Any) -> None:
        self.stop()


async def _cancel_the_rest() -> None:
    """What ``asyncio.run`` does before it closes its loop: cancel the tasks still running (a request being
    answered, a session being closed) and let them finish, so that none is destroyed pending and no
    coroutine is left unawaited for the garbage collector."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


class TcpProxy:
    """A TCP proxy the test owns: ``cut()`` drops every connection and refuses new ones (an outage),
    ``restore()`` lets traffic through again. Used to take PostgreSQL or Redis "down" without touching
    the shared servers. ``cut_after(marker)`` cuts at the worst moment: right after the client's bytes
    that contain ``marker`` were passed on (the server runs and commits them, the reply is lost).

    Every socket has one owner that closes it: the listener is closed by ``close()``, a connection's two
    sockets by the thread that pipes the client's bytes, once both directions are done. ``cut()`` only
    shuts connections down (which ends their pipes); ``close()`` waits for the threads and closes
    whatever is left, so nothing is left for the garbage collector (no ResourceWarning)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._up = True
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._cut_after: bytes | None = None
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True, name=f"proxy-{self.port}")
        self._acceptor.start()

    def cut_after(self, marker: bytes) -> None:
        self._cut_after = marker

    @property
    def up(self) -> bool:
        """False from a cut (``cut()`` or a ``cut_after`` that fired) until ``restore()``."""
        return self._up

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up or self._closed:
                client.close()
                if self._closed:
                    return
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                # a cut (or close) while connecting: this connection must not outlive it
                if not self._up or self._closed:
                    client.close()
                    upstream.close()
                    continue
                self._conns |= {client, upstream}
                thread = threading.Thread(target=self._serve, args=(client, upstream), daemon=True)
                self._threads.add(thread)
            thread.start()

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
        back.start()
        try:
            self._pipe(client, upstream, to_server=True)
            back.join()
        finally:
            with self._lock:
                self._conns -= {client, upstream}
                self._threads.discard(threading.current_thread())
            client.close()
            upstream.close()

    def _pipe(self, src: socket.socket, dst: socket.socket, to_server: bool = False) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not to_server and not self._up:
                    break  # a reply that arrived after a cut is never passed on
                marker = self._cut_after
                if to_server and marker is not None and marker in data:
                    # down before the marked bytes leave, so the back pipe cannot relay their reply
                    # even when this thread loses the race for the GIL
                    self._cut_after = None
                    with self._lock:
                        self._up = False
                    dst.sendall(data)
                    self.cut()
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):  # ends the other direction too
                _shutdown(s)

    def cut(self) -> None:
        with self._lock:
            self._up = False
            conns = list(self._conns)
        for conn in conns:
            _shutdown(conn)  # the connection's own thread closes it

    def restore(self) -> None:
        self._up = True

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.cut()
        _shutdown(self._listener)  # wakes the accept() blocked in the acceptor thread
        self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)
        with self._lock:
            leftovers, self._conns = list(self._conns), set()
        for conn in leftovers:  # only if a thread did not finish in time
            conn.close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected (any more), or already closed


async def create_postgres_database(admin_url: str, template: str | None = None) -> str:
    """Create a fresh database on the server of ``admin_url``; return its asyncpg URL."""
    import asyncpg

    name = f"tokensmith_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        clause = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await conn.close()
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def drop_postgres_database(admin_url: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def asyncpg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)
