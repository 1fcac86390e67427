"""Extract an API entity for a data interval into the landing folder.

`extract_entity` pulls the records changed in the batch's window (see extract/windows.py) and the
deletions in it, page by page, and writes

    <landing>/<source>/<YYYY-MM-DD>/<entity>.jsonl          the API's records, plus "_origin"
    <landing>/<source>/<YYYY-MM-DD>/<entity>.deleted.jsonl  {"<primary key>": id, "deleted_at": ts, "_origin"}

each through a `.part` file renamed at the end, so a feed appears whole or not at all. A record
sent twice (an API serving a page again, or a record moving between pages) is kept once, its last
version. Every request has a timeout; 5xx, timeouts and connection errors are retried with
exponential backoff and jitter, a 429 waits its Retry-After; a 401 or a malformed answer stops at
once with what to check. The window is recorded in audit.extract_windows on success, and fields
the API added or dropped compared with sources.yml in audit.schema_changes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

import httpx

from salesdw import config, paths
from salesdw.extract import windows
from salesdw.extract.endpoints import CURSOR, Api, api_of, entity_by_name

log = logging.getLogger("salesdw.extract.api")

DEFAULT_PAGE_SIZE = 500
RETRY_STATUSES = {500, 502, 503, 504}
USER_AGENT = "salesdw-extract/0.1"


class ExtractError(RuntimeError):
    """An extraction failed; the message names the source, entity, URL and what went wrong."""


class TokenRejectedError(ExtractError):
    """The API refused the token (401/403): fix the Airflow connection, retrying will not help."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # per request, the first try included
    backoff: float = 1.0  # seconds before the second try; doubled each time, with jitter
    max_backoff: float = 60.0
    max_retry_after: float = 900.0  # a 429 asking for a longer wait fails the extraction instead

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Before try `attempt + 1`: exponential, 'equal jitter' (between half and all of it)."""
        cap = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return rng.uniform(cap / 2, cap)


@dataclass
class ExtractResult:
    source: str
    entity: str
    batch_date: date
    window_start: datetime | None
    window_end: datetime
    window_reused: bool
    path: Path
    deleted_path: Path
    records: int
    deleted: int
    pages: int
    duplicates: int
    added_fields: list[str] = field(default_factory=list)
    removed_fields: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe (for XCom and logs)."""
        data = dict(self.__dict__)
        for key in ("batch_date", "window_start", "window_end"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        data["path"], data["deleted_path"] = str(self.path), str(self.deleted_path)
        return data


@dataclass(frozen=True)
class Page:
    url: str
    number: int
    items: list


def iso(ts: datetime) -> str:
    """A timestamp as the APIs take it: UTC, `Z` (naive means UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if ts.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _excerpt(text: str, size: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size] + "..."


class ApiClient:
    """One source API for one entity: auth, timeouts, retries, pagination. Use as a context manager."""

    def __init__(
        self,
        api: Api,
        entity: config.Entity,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        connection_id: str | None = None,
        sleep=time.sleep,
    ) -> None:
        self.api, self.entity = api, entity
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.connection_id = connection_id or api.connection_id
        self.label = f"{entity.source}.{entity.name}"
        self._sleep = sleep
        self._rng = random.Random()
        self._origin = urlsplit(self.base_url)[:2]
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self._http.close()

    # -- one request ---------------------------------------------------------------------------
    def get_json(self, url: str, params: dict | None = None) -> tuple[dict, str]:
        """GET `url`, retried as the policy says; the JSON object and the URL it came from."""
        shown = str(httpx.URL(url, params=params)) if params else url
        last = "no answer"
        for attempt in range(1, self.retry.max_attempts + 1):
            wait = None
            try:
                response = self._http.get(url, params=params)
            except httpx.TimeoutException as exc:
                last = f"timed out after {self.timeout:g} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                last = f"connection error: {type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status == 200:
                    return self._parse(response, shown), shown
                if status in (401, 403):
                    raise TokenRejectedError(
                        f"{self.label}: token rejected by {shown} (HTTP {status}: {_excerpt(response.text)}): "
                        f"check Airflow connection {self.connection_id!r} (its password is the API token)"
                    )
                last = f"HTTP {status}: {_excerpt(response.text)}"
                if status == 429:
                    wait = self._retry_after(response, shown)
                elif status not in RETRY_STATUSES:
                    raise ExtractError(f"{self.label}: GET {shown} answered {last}; not retried (a client error)")
            if attempt == self.retry.max_attempts:
                break
            wait = self.retry.delay(attempt, self._rng) if wait is None else wait
            log.warning(
                "%s: GET %s: %s; try %d of %d in %.2f s",
                self.label,
                shown,
                last,
                attempt + 1,
                self.retry.max_attempts,
                wait,
            )
            self._sleep(wait)
        raise ExtractError(f"{self.label}: GET {shown} failed after {self.retry.max_attempts} attempts; last: {last}")

    def _retry_after(self, response: httpx.Response, url: str) -> float:
        header = response.headers.get("Retry-After", "").strip()
        if not header:
            return self.retry.delay(1, self._rng)
        try:
            seconds = float(header)
        except ValueError:
            try:
                seconds = (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                return self.retry.delay(1, self._rng)
        seconds = max(0.0, seconds)
        if seconds > self.retry.max_retry_after:
            raise ExtractError(
                f"{self.label}: GET {url} is rate limited for {seconds:.0f} s (Retry-After), longer than the "
                f"{self.retry.max_retry_after:.0f} s an extraction waits; rerun later or raise the API quota"
            )
        return seconds + self._rng.uniform(0, min(1.0, seconds * 0.1))  # never earlier than asked

    def _parse(self, response: httpx.Response, url: str) -> dict:
        try:
            body = response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise ExtractError(
                f"{self.label}: unexpected answer from {url}: expected JSON, got {kind}: {_excerpt(response.text)!r}"
            ) from None
        if not isinstance(body, dict):
            raise ExtractError(
                f"{self.label}: unexpected answer from {url}: expected a JSON object, got {type(body).__name__}"
            )
        return body

    # -- pagination ----------------------------------------------------------------------------
    def pages(
        self, deleted: bool, since: datetime | None, before: datetime, page_size: int, max_pages: int = 1_000_000
    ) -> Iterator[Page]:
        """Every page of the listing for `[since, before)`, following the API's next pointers."""
        items_key, next_key = self.api.items_key, self.api.next_key
        url = self.base_url + self.api.path(self.entity.name, deleted)
        params: dict | None = {"modified_before": iso(before)}
        if since is not None:
            params["modified_since"] = iso(since)
        params["limit" if self.api.pagination == CURSOR else "per_page"] = page_size
        if self.api.pagination != CURSOR:
            params["page"] = 1
        followed: set[str] = set()
        for number in range(1, max_pages + 1):
            body, shown = self.get_json(url, params)
            items = body.get(items_key)
            if not isinstance(items, list) or next_key not in body:
                raise ExtractError(
                    f"{self.label}: unexpected answer from {shown}: expected a JSON object with {items_key!r} "
                    f"(a list) and {next_key!r}, got keys {sorted(body)}"
                )
            yield Page(shown, number, items)
            pointer = body[next_key]
            if pointer is None:
                return
            if not isinstance(pointer, str) or not pointer:
                raise ExtractError(
                    f"{self.label}: unexpected answer from {shown}: expected {next_key!r} to be a string or null, "
                    f"got {pointer!r}"
                )
            if pointer in followed:
                raise ExtractError(
                    f"{self.label}: pagination loop at {shown}: {next_key} {pointer!r} was followed before"
                )
            followed.add(pointer)
            if self.api.pagination == CURSOR:
                params = dict(params) | {"cursor": pointer}
            else:
                if urlsplit(pointer)[:2] != self._origin:  # the token goes only where it was configured for
                    raise ExtractError(
                        f"{self.label}: {shown} points next_page to {pointer}, outside {self.base_url}; not followed"
                    )
                url, params = pointer, None
        raise ExtractError(f"{self.label}: more than {max_pages} pages from {url}; stopped")


class DedupFile:
    """Lines written as they come; on close, only each key's last line is kept (keys held in memory)."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.part = target.with_name(target.name + ".part")
        self._out = self.part.open("w", encoding="utf-8")
        self._last: dict = {}
        self.lines = 0

    def write(self, key, obj: dict) -> None:
        self._out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._last[key if isinstance(key, (str, int, float, bool)) or key is None else json.dumps(key)] = self.lines
        self.lines += 1

    @property
    def count(self) -> int:
        return len(self._last)

    @property
    def duplicates(self) -> int:
        return self.lines - len(self._last)

    def close(self) -> None:
        """Flush and drop the superseded lines, still as the .part file."""
        self._out.close()
        if not self.duplicates:
            return
        keep = set(self._last.values())
        compact = self.part.with_name(self.part.name + "2")
        with self.part.open(encoding="utf-8") as src, compact.open("w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i in keep:
                    dst.write(line)
        os.replace(compact, self.part)

    def publish(self) -> None:
        os.replace(self.part, self.target)

    def discard(self) -> None:
        self._out.close()
        for path in (self.part, self.part.with_name(self.part.name + "2")):
            path.unlink(missing_ok=True)


@contextmanager
def extract_files(folder: Path, name: str) -> Iterator[tuple[DedupFile, DedupFile]]:
    """The records and deleted-records files of one extract, published together when the block ends
    (the records file last: its presence means the extract is complete), discarded if it fails."""
    records, deletions = DedupFile(folder / f"{name}.jsonl"), DedupFile(folder / f"{name}.deleted.jsonl")
    try:
        yield records, deletions
        records.close()
        deletions.close()
        deletions.publish()
        records.publish()
    except BaseException:
        records.discard()
        deletions.discard()
        raise


def record_extract(conn, entity: config.Entity, batch_date: date, window, records, deletions, pages: int) -> None:
    """The extract's window and counts (extract/windows.py), the next night's watermark."""
    windows.record_window(
        conn,
        entity.source,
        entity.name,
        batch_date,
        window,
        records=records.count,
        deleted=deletions.count,
        pages=pages,
        duplicates=records.duplicates + deletions.duplicates,
    )


def extract_entity(
    entity: config.Entity | str,
    base_url: str,
    token: str,
    interval_start: datetime,
    interval_end: datetime,
    *,
    warehouse_url: str,
    landing: Path | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
    connection_id: str | None = None,
) -> ExtractResult:
    """Extract `entity` (an Entity, `name` or `source.name`) for the data interval; see the module docstring."""
    import psycopg

    entity = entity_by_name(entity) if isinstance(entity, str) else entity
    api = api_of(entity.source)
    interval_start, interval_end = _utc(interval_start), _utc(interval_end)
    if interval_end <= interval_start:
        raise ValueError(f"{entity.source}.{entity.name}: empty data interval {interval_start} .. {interval_end}")
    batch_date = interval_start.date()
    folder = (landing or paths.LANDING_DIR) / entity.source / batch_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    label = f"{entity.source}.{entity.name}"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        windows.ensure_tables(conn)
        # one extraction of an entity at a time: the window of one depends on the others' records
        conn.execute("select pg_advisory_lock(hashtext(%s))", [f"salesdw.extract.{label}"])
        window = windows.plan_window(conn, entity.source, entity.name, batch_date, interval_start, interval_end)
        what = "full extract" if window.start is None else f"{iso(window.start)} .. {iso(window.end)}"
        log.info(
            "%s %s: %s%s%s",
            label,
            batch_date,
            what,
            " (recorded window, a rerun)" if window.reused else "",
            " (catching up from the watermark)" if window.catch_up else "",
        )
        drift = _Drift(entity)
        pages = 0
        with extract_files(folder, entity.name) as (records, deletions):
            with ApiClient(
                api, entity, base_url, token, timeout=timeout, retry=retry, connection_id=connection_id
            ) as client:
                for page in client.pages(False, window.start, window.end, page_size):
                    pages += 1
                    origin = f"{page.url} page {page.number}"
                    for item in page.items:
                        if not isinstance(item, dict) or entity.primary_key not in item:
                            raise ExtractError(
                                f"{label}: unexpected record from {page.url}: expected a JSON object with "
                                f"{entity.primary_key!r}, got {_excerpt(json.dumps(item))}"
                            )
                        drift.check(item, page.url)
                        records.write(item[entity.primary_key], item | {"_origin": origin})
                for page in client.pages(True, window.start, window.end, page_size):
                    pages += 1
                    origin = f"{page.url} page {page.number}"
                    for item in page.items:
                        if not isinstance(item, dict) or "id" not in item or "deleted_at" not in item:
                            raise ExtractError(
                                f"{label}: unexpected deletion from {page.url}: expected a JSON object with "
                                f"'id' and 'deleted_at', got {_excerpt(json.dumps(item))}"
                            )
                        deletions.write(
                            item["id"],
                            {entity.primary_key: item["id"], "deleted_at": item["deleted_at"], "_origin": origin},
                        )
        duplicates = records.duplicates + deletions.duplicates
        with conn.transaction():
            record_extract(conn, entity, batch_date, window, records, deletions, pages)
            windows.record_schema_change(
                conn, entity.source, entity.name, batch_date, sorted(drift.added), sorted(drift.removed)
            )
        conn.execute("select pg_advisory_unlock(hashtext(%s))", [f"salesdw.extract.{label}"])
    if duplicates:
        log.warning("%s %s: %d record(s) were sent more than once; kept once (the last)", label, batch_date, duplicates)
    log.info(
        "%s %s: %d records, %d deletions in %d pages -> %s",
        label,
        batch_date,
        records.count,
        deletions.count,
        pages,
        records.target,
    )
    return ExtractResult(
        source=entity.source,
        entity=entity.name,
        batch_date=batch_date,
        window_start=_utc(window.start) if window.start else None,
        window_end=_utc(window.end),
        window_reused=window.reused,
        path=records.target,
        deleted_path=deletions.target,
        records=records.count,
        deleted=deletions.count,
        pages=pages,
        duplicates=duplicates,
        added_fields=sorted(drift.added),
        removed_fields=sorted(drift.removed),
    )


class _Drift:
    """Fields the API's records have beyond, or lack from, the entity's declared columns."""

    def __init__(self, entity: config.Entity) -> None:
        self.entity = entity
        self.columns = frozenset(entity.columns)
        self.added: set[str] = set()
        self.removed: set[str] = set()
        self._shapes: set[frozenset] = set()

    def check(self, record: dict, url: str) -> None:
        shape = frozenset(record)
        if shape in self._shapes:
            return
        self._shapes.add(shape)
        added, removed = shape - self.columns - self.added, self.columns - shape - self.removed
        if added or removed:
            self.added |= added
            self.removed |= removed
            log.warning(
                "%s.%s: the API's records changed shape at %s: new field(s) %s, missing field(s) %s; "
                "loading the columns in sources.yml (recorded in audit.schema_changes)",
                self.entity.source,
                self.entity.name,
                url,
                sorted(added) or "none",
                sorted(removed) or "none",
            )


def extract_source(
    source: str, base_url: str, token: str, interval_start: datetime, interval_end: datetime, **kwargs
) -> list[ExtractResult]:
    """Every entity of an API source, one after the other (same keyword arguments as extract_entity)."""
    return [
        extract_entity(e, base_url, token, interval_start, interval_end, **kwargs)
        for e in config.entities_of(source)
        if e.delivery == "api"
    ]


def api_connection(conn_id: str) -> tuple[str, str]:
    """(base URL, token) of an Airflow connection (see connection_parts); password = token."""
    base, _, token = connection_parts(conn_id)
    return base, token


def connection_parts(conn_id: str, default_scheme: str = "http") -> tuple[str, str | None, str]:
    """(base URL, login, password) of an Airflow connection: host, port and schema (the URL scheme, http
    or https, as Airflow's HTTP connections use it; anything else is taken as a base path). The login is
    an OAuth client id where the API takes one; the password its token, or the client secret."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if not conn.host or not conn.password:
        raise ExtractError(
            f"Airflow connection {conn_id!r}: expected a host (and port) and the API token as its password"
        )
    if "://" in conn.host:
        base = conn.host.rstrip("/")
    else:
        scheme, path = default_scheme, ""
        if conn.schema in ("http", "https"):
            scheme = conn.schema
        elif conn.schema:
            path = "/" + conn.schema.strip("/")
        base = f"{scheme}://{conn.host}" + (f":{conn.port}" if conn.port else "") + path
    return base, conn.login or None, conn.password
