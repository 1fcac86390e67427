"""`salesdw serve-sources`: the CRM and service-desk REST APIs, simulated from the source state.

Besides its own contract, it serves the same state in the vendors' shapes (simulate/vendors.py).

Its own API is the one the profiles salesdw_crm and salesdw_service in salesdw/extract/vendors.yml
describe (paths and pagination are read from there, so server and extractor agree):

- CRM: `GET /crm/v1/{entity}` and `/crm/v1/{entity}/deleted`, cursor pagination:
  `?modified_since=&modified_before=&limit=&cursor=` -> `{"records": [...], "next_cursor": str|null}`.
- Service desk: `GET /service/v1/{entity}` and `/service/v1/{entity}/deleted`, page pagination:
  `?modified_since=&modified_before=&page=&per_page=` ->
  `{"results": [...], "next_page": full URL|null, "count": total}`.

A deleted listing's items are `{"id": <primary key value>, "deleted_at": ISO}`. Windows are
half-open on the system modstamp: `modified_since <= visible_at < modified_before`. On top of it the server
behaves like a real SaaS API: bearer-token auth (401), a per-token rate limit (429 + Retry-After),
and switchable faults (5xx, slow answers, dropped connections, pages served twice) that can be
seeded, pinned to the k-th request, and changed at run time with `POST /_admin/faults`.

Binds 127.0.0.1 only: it is a development and test double, not a service.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from salesdw import paths
from salesdw.extract import vendors

from salesdw_dev.simulate.faults import FAULT_KINDS, Decision, Faults, parse_script
from salesdw_dev.simulate.state import EntityState, StateError, format_ts, load_state, parse_ts
from salesdw_dev.simulate.vendors import VendorApis

log = logging.getLogger("salesdw_dev.simulate")

DEFAULT_PORT = 8765
TOKEN_ENV = "SALESDW_SOURCES_TOKEN"
TOKEN_FILE = "sources_token"
LOOPBACK = {"127.0.0.1", "localhost"}
CURSOR_LIMIT = (200, 2000)  # default, maximum (Salesforce-like)
PAGE_LIMIT = (100, 1000)  # default, maximum (Zendesk-like)


CURSOR = "cursor"


@dataclass(frozen=True)
class Api:
    """How one source's own API is served: its path prefix and pagination, from its vendors.yml profile."""

    source: str
    prefix: str  # e.g. /crm/v1
    pagination: str  # cursor | page

    def path(self, entity: str) -> str:
        return f"{self.prefix}/{entity}"


def api_of(source: str) -> Api:
    name = vendors.serving(source)
    if name is None:
        raise KeyError(f"no API profile in extract/vendors.yml serves source {source!r} (a `source:` profile)")
    changed = vendors.profile(name)["changed"]
    pagination = CURSOR if changed["paginator"]["type"] == "json_response_cursor" else "page"
    return Api(source, changed["path"].removesuffix("/{object}"), pagination)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class SourcesServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow answer never holds up shutdown
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], state: dict[tuple[str, str], EntityState], token: str, faults: Faults
    ) -> None:
        self.state = state
        self.token = token
        self.faults = faults
        self.vendor_apis = VendorApis(state, token)  # the same state in Salesforce, HubSpot, Zoho, Zendesk shapes
        self.apis: dict[str, Api] = {}
        for source, _ in state:
            api = api_of(source)
            self.apis[api.prefix.strip("/")] = api
        # page pagination: how many pages a listing has slipped back after pages served twice
        self._shifts: OrderedDict[tuple, int] = OrderedDict()
        self._shift_lock = threading.Lock()
        super().__init__(address, Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def configure_faults(self, **changes) -> dict:
        """Change the faults at run time (as `POST /_admin/faults` does)."""
        snapshot = self.faults.configure(**changes)
        with self._shift_lock:
            self._shifts.clear()
        return snapshot

    def shift(self, key: tuple, page: int, duplicate: bool) -> tuple[int, bool]:
        """The 0-based page to serve for `page` of the listing `key`, and whether it is a repeat."""
        with self._shift_lock:
            shift = 0 if page == 1 else self._shifts.get(key, 0)
            index = page - 1 - shift
            repeated = duplicate and index >= 1
            if repeated:
                shift += 1
                index -= 1
            self._shifts[key] = shift
            self._shifts.move_to_end(key)
            while len(self._shifts) > 1024:
                self._shifts.popitem(last=False)
        return index, repeated

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients expect of an API
    server_version = "salesdw-sources/1.0"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: SourcesServer

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # -- plumbing ------------------------------------------------------------------------------
    def _send(
        self, status: int, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
            self.close_connection = True

    def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers=headers)

    def _error(self, exc: ApiError) -> None:
        self._json(exc.status, {"error": exc.code, "message": exc.message}, exc.headers)

    def _authorize(self) -> str:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="salesdw-sources"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "missing `Authorization: Bearer <token>` header", challenge)
        if not hmac.compare_digest(token.strip().encode(), self.server.token.encode()):
            raise ApiError(401, "unauthorized", "invalid token", challenge)
        return token.strip()

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        # read the body whatever the answer: left unread it would be parsed as the next request
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return self._error(ApiError(400, "bad_request", "invalid Content-Length"))
        self.body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        try:
            if method == "GET" and parts == ["health"]:
                return self._json(200, {"status": "ok"})
            if parts == ["_admin", "faults"]:
                self._authorize()
                return self._admin(method)
            vendor = self.server.vendor_apis.handle(method, self.path, self.headers, self.body, self.server.base_url)
            if vendor is not None:
                status, payload = vendor
                return self._send(status, b"") if payload is None else self._json(status, payload)
            token = self._authorize()
            if method != "GET":
                raise ApiError(405, "method_not_allowed", f"{method} {url.path}: only GET is supported")
            api = self.server.apis.get("/".join(parts[:2]))
            if api is None or len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "deleted"):
                raise ApiError(404, "not_found", f"no such endpoint: {url.path}")
            state = self.server.state.get((api.source, parts[2]))
            if state is None:
                known = ", ".join(e for s, e in self.server.state if s == api.source)
                raise ApiError(
                    404, "not_found", f"no such entity {parts[2]!r} in /{api.prefix.strip('/')} (known: {known})"
                )
            self._listing(api, state, len(parts) == 4, parse_qs(url.query), token, url.path)
        except ApiError as exc:
            self._error(exc)
        except Exception:  # a bug here must still look like an API's 500, and be in the log
            log.exception("%s %s failed", method, self.path)
            self._error(ApiError(500, "internal_error", "the simulated API failed; see its log"))

    def _admin(self, method: str) -> None:
        if method == "GET":
            return self._json(200, self.server.faults.snapshot())
        try:
            body = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise ApiError(400, "bad_request", f"expected a JSON object of fault settings: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "expected a JSON object of fault settings")
        try:
            snapshot = self.server.configure_faults(**body)
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        log.info("faults now %s", snapshot["faults"])
        self._json(200, snapshot)

    # -- the listings --------------------------------------------------------------------------
    def _listing(self, api: Api, state: EntityState, deleted: bool, query: dict, token: str, path: str) -> None:
        wait = self.server.faults.rate_limited(token)
        decision = self.server.faults.next_request()
        if wait is not None:
            raise ApiError(429, "rate_limited", f"too many requests: retry after {wait} s", {"Retry-After": str(wait)})
        if decision.slow:
            log.info("request %d: slow answer (%.1f s)", decision.number, decision.slow)
            time.sleep(decision.slow)
        if decision.drop:
            log.info("request %d: connection dropped", decision.number)
            self.close_connection = True
            return
        if decision.status:
            log.info("request %d: fault HTTP %d", decision.number, decision.status)
            headers = {"Retry-After": str(decision.retry_after)} if decision.retry_after is not None else None
            raise ApiError(decision.status, "fault", f"simulated HTTP {decision.status}", headers)
        if decision.invalid_json:
            log.info("request %d: HTML instead of JSON", decision.number)
            return self._send(200, b"<html><body>Service temporarily unavailable</body></html>", "text/html")
        if api.pagination == CURSOR:
            body = self._cursor_page(api, state, deleted, query, decision)
        else:
            body = self._numbered_page(api, state, deleted, query, token, path, decision)
        self._send(200, body)

    @staticmethod
    def _param(query: dict, name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    def _window(self, query: dict) -> tuple[int | None, int | None]:
        bounds = []
        for name in ("modified_since", "modified_before"):
            text = self._param(query, name)
            try:
                bounds.append(parse_ts(text) if text else None)
            except ValueError as exc:
                raise ApiError(400, "bad_request", f"{name}: {exc}") from None
        return bounds[0], bounds[1]

    def _int(self, query: dict, name: str, default: int, maximum: int | None = None) -> int:
        text = self._param(query, name)
        try:
            value = int(text) if text else default
        except ValueError:
            raise ApiError(400, "bad_request", f"{name}: expected a positive integer, got {text!r}") from None
        if value < 1:
            raise ApiError(400, "bad_request", f"{name}: expected a positive integer, got {value}")
        return min(value, maximum) if maximum else value  # like real APIs, clamp silently

    @staticmethod
    def _items(changes, deleted: bool) -> bytes:
        if deleted:
            return ",".join(json.dumps({"id": c.key, "deleted_at": format_ts(c.at)}) for c in changes).encode()
        return ",".join(c.body for c in changes).encode()

    def _cursor_page(self, api: Api, state: EntityState, deleted: bool, query: dict, decision: Decision) -> bytes:
        listing = f"{api.source}.{state.entity.name}" + ("/deleted" if deleted else "")
        since, before = self._window(query)
        limit = self._int(query, "limit", *CURSOR_LIMIT)
        cursor_text = self._param(query, "cursor")
        start, page_no, after = 0, 1, None
        if cursor_text:
            cursor = _decode_cursor(cursor_text)
            if cursor.get("e") != listing:
                raise ApiError(400, "invalid_cursor", f"the cursor belongs to {cursor.get('e')}, not {listing}")
            given = (since, before)
            since, before = cursor["s"], cursor["b"]
            if any(g is not None and g != c for g, c in zip(given, (since, before))):
                raise ApiError(400, "invalid_cursor", "modified_since/modified_before differ from the cursor's window")
            after, page_no = tuple(cursor["a"]), cursor["p"]
        changes, orders = state.query(since, before, deleted)
        if after is not None:
            start = bisect_right(orders, after)
            if decision.duplicate:  # the previous page again; the next cursor resumes after it
                log.info("request %d: page %d of %s served twice", decision.number, page_no - 1, listing)
                start = max(0, start - cursor["l"])
        end = min(len(changes), start + limit)
        next_cursor = None
        if end < len(changes):
            next_cursor = _encode_cursor(
                {"e": listing, "s": since, "b": before, "a": list(orders[end - 1]), "p": page_no + 1, "l": end - start}
            )
        return (
            b'{"records": ['
            + self._items(changes[start:end], deleted)
            + b'], "next_cursor": '
            + json.dumps(next_cursor).encode()
            + b"}"
        )

    def _numbered_page(
        self, api: Api, state: EntityState, deleted: bool, query: dict, token: str, path: str, decision: Decision
    ) -> bytes:
        since, before = self._window(query)
        page = self._int(query, "page", 1)
        per_page = self._int(query, "per_page", *PAGE_LIMIT)
        changes, _ = state.query(since, before, deleted)
        key = (token, api.source, state.entity.name, deleted, since, before, per_page)
        index, repeated = self.server.shift(key, page, decision.duplicate)
        if repeated:
            log.info("request %d: page %d of %s served twice", decision.number, index + 1, path)
        start = index * per_page
        end = min(len(changes), start + per_page)
        next_page = None
        if end < len(changes):
            params = {
                "modified_since": format_ts(since) if since is not None else None,
                "modified_before": format_ts(before) if before is not None else None,
                "page": page + 1,
                "per_page": per_page,
            }
            host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
            next_page = f"http://{host}{path}?" + urlencode({k: v for k, v in params.items() if v is not None})
        return (
            b'{"results": ['
            + self._items(changes[start:end], deleted)
            + b'], "next_page": '
            + json.dumps(next_page).encode()
            + b', "count": '
            + str(len(changes)).encode()
            + b"}"
        )


def _encode_cursor(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(data, dict) or not {"e", "s", "b", "a", "p", "l"} <= data.keys():
            raise ValueError
        return data
    except ValueError:
        raise ApiError(400, "invalid_cursor", f"not a cursor this API issued: {text[:60]!r}") from None


# -- starting it -------------------------------------------------------------------------------
def resolve_token(state_dir: Path, token: str | None = None, *, echo=print) -> str:
    """`token`, else $SALESDW_SOURCES_TOKEN, else the one in `<state dir>/sources_token` (made once, 0600)."""
    if token:
        echo("API token: given with --token")
        return token
    if os.environ.get(TOKEN_ENV):
        echo(f"API token: from ${TOKEN_ENV}")
        return os.environ[TOKEN_ENV]
    path = Path(state_dir) / TOKEN_FILE
    if not path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        echo(f"generated an API token in {path} (mode 0600)")
    else:
        echo(f"API token: {path}")
    return path.read_text().strip()


def make_server(
    state_dir: Path | dict, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None, **faults
) -> SourcesServer:
    """A server (not yet serving) over the state in `state_dir` (or already loaded state)."""
    if host not in LOOPBACK:
        raise ValueError(f"the simulated sources bind to 127.0.0.1 only, not {host!r}")
    state = state_dir if isinstance(state_dir, dict) else load_state(Path(state_dir))
    return SourcesServer((host, port), state, token or secrets.token_urlsafe(32), Faults(**faults))


def start_in_thread(
    state_dir: Path, host: str = "127.0.0.1", port: int = 0, token: str | None = None, **faults
) -> tuple[SourcesServer, str]:
    """A running server in a daemon thread and its base URL (port 0: any free port); `server.stop()`
    ends it. Without `token` a random one is made (`server.token`). `faults`: FaultConfig fields."""
    server = make_server(state_dir, host, port, token, **faults)
    threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"salesdw-sources:{server.server_address[1]}",
        daemon=True,
    ).start()
    return server, server.base_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=paths.SOURCE_STATE_DIR,
        help="the source systems' state, written by `salesdw generate` (default %(default)s)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (default %(default)s)")
    parser.add_argument(
        "--token",
        default=None,
        help=f"the API token clients must send as `Authorization: Bearer`; default ${TOKEN_ENV}, "
        f"else one generated once into <state dir>/{TOKEN_FILE}",
    )
    limits = parser.add_argument_group("rate limit")
    limits.add_argument(
        "--rate-limit",
        type=float,
        default=20.0,
        help="requests per second per token, 0 = unlimited (default %(default)s)",
    )
    limits.add_argument("--rate-burst", type=int, default=0, help="requests allowed at once (default: the rate)")
    faults = parser.add_argument_group("faults", "also changeable at run time: POST /_admin/faults {json}")
    faults.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500/502/503")
    faults.add_argument("--slow-rate", type=float, default=0.0, help="share of requests answered late")
    faults.add_argument("--slow-seconds", type=float, default=5.0, help="how late (default %(default)s s)")
    faults.add_argument(
        "--duplicate-rate",
        type=float,
        default=0.0,
        help="share of next-page requests answered with the previous page again",
    )
    faults.add_argument("--seed", type=int, default=None, help="seed of the random faults (default: unseeded)")
    faults.add_argument(
        "--fault-at",
        action="append",
        default=[],
        metavar="K=FAULT",
        help=f"fail exactly the K-th API request; FAULT is one of {', '.join(FAULT_KINDS)} (repeatable)",
    )
    faults.add_argument("--retry-after", type=int, default=1, help="Retry-After of a --fault-at 429 (seconds)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl-C or SIGTERM); 0 on a clean stop."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    state_dir = Path(args.state_dir)
    try:
        # a standalone server listens once it can answer: whoever waits for its port (make bench)
        # must not time its first requests against the reading of the state
        state = load_state(state_dir, wait=True)
        faults = {
            "error_rate": args.error_rate,
            "slow_rate": args.slow_rate,
            "slow_seconds": args.slow_seconds,
            "duplicate_rate": args.duplicate_rate,
            "seed": args.seed,
            "script": parse_script(args.fault_at),
            "retry_after": args.retry_after,
            "rate_limit": args.rate_limit,
            "rate_burst": args.rate_burst,
        }
        server = make_server(state, "127.0.0.1", args.port, resolve_token(state_dir, args.token), **faults)
    except StateError as exc:
        print(f"serve-sources: {exc}", file=sys.stderr)
        return 1
    except (ValueError, KeyError) as exc:
        print(f"serve-sources: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"serve-sources: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"simulated source APIs on {server.base_url} (state: {state_dir})")
    for (source, entity), state in server.state.items():
        api = api_of(source)
        print(f"  GET {api.path(entity):<42} {len(state.changes):>9,} changes  ({api.pagination} pagination)")
    print("stop with Ctrl-C")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salesdw serve-sources", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
