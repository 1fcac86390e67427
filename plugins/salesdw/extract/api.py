"""Extract an entity from a REST API for a data interval, as its profile in vendors.yml describes it.

One extractor for every API: the simulated CRM and service desk (salesdw_crm, salesdw_service),
Salesforce, HubSpot, Zoho and Zendesk. It is built on dlt's RESTClient: its paginators (a cursor in
the query or the body, a next-page URL, page numbers with a has-more flag), its auth (bearer,
OAuth 2.0 client credentials, an API-key header) and its session, which retries 429, 5xx, timeouts
and dropped connections with exponential backoff, honouring Retry-After. Here, on top of it:

- every answer is checked before a record is read: a rejected token (401/403) names the Airflow
  connection to fix; another 4xx is not retried; a body that is not JSON, or lacks the profile's
  records list, names the URL (an API that changed shape must not land an empty day as "ok");
- a next page that points outside the configured host is not followed (the token goes only where it
  was configured for), and a next page asked for twice is a pagination loop;
- the window comes from extract/windows.py: the whole history on the first run, then each night
  from the watermark; a rerun of a day reuses its recorded window;
- each record is mapped onto the contract's columns (the profile's fields under the deployment's
  own: extract/mapping.py) and landed with the URL and page it came from (extract/landing.py), the
  deletions beside it; numbers keep their decimal text, never a binary float;
- fields a `fields_drift` API's records gained or lost against the contract are logged and
  recorded in audit.schema_changes, and the extraction goes on.

A vendor answers with each record's current version only. So a rerun of a past day replays the
extract landed for that day instead of asking again (which would move records changed since into
the wrong day); `refetch` (salesdw run --refetch, SALESDW_REFETCH=1) asks the API again. An API that
answers a past window as it was then (`answers_past_windows`, the simulated ones) is asked again.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from salesdw import config
from salesdw.extract import stores, vendors, windows
from salesdw.extract.landing import api_extract, api_paths
from salesdw.extract.mapping import record_mapper

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_PAGE_SIZE = 500
USER_AGENT = "salesdw-extract/0.2"
# dlt's anonymous usage telemetry would call out to the internet, which our machines do not reach
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# credentials come from Airflow connections, passed in: dlt's own probe of an Airflow Variable
# (dlt_secrets_toml) is a metadata query per config lookup, and outside a task it logs tracebacks
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")


class ExtractError(RuntimeError):
    """An extraction failed; the message names the source, entity, URL and what went wrong."""


class TokenRejectedError(ExtractError):
    """The API refused the token (401/403): fix the Airflow connection, retrying will not help."""


@dataclass(frozen=True)
class RetryPolicy:
    """dlt's retry settings for one extraction."""

    max_attempts: int = 6  # per request, the first try included
    backoff: float = 1.0  # seconds before the second try, doubled each time
    max_backoff: float = 120.0  # the longest wait, a 429's Retry-After included


def iso(ts: datetime) -> str:
    """A timestamp as the APIs take it: UTC, `Z` (naive means UTC)."""
    ts = _utc(ts)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if ts.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _excerpt(text: str, size: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size] + "..."


# -- the HTTP side: dlt's client, our checks ---------------------------------------------------------
def _paginator(spec: dict):
    from dlt.sources.helpers.rest_client import paginators

    class EndOfStream(paginators.JSONLinkPaginator):
        """Zendesk's incremental exports: the next URL is always there; `end_of_stream` says stop."""

        def update_state(self, response, data=None) -> None:
            super().update_state(response, data)
            if response.json().get("end_of_stream"):
                self._has_next_page = False

    kinds = {
        "json_link": paginators.JSONLinkPaginator,
        "json_response_cursor": paginators.JSONResponseCursorPaginator,
        "page_number": paginators.PageNumberPaginator,
        "end_of_stream": EndOfStream,
    }
    return kinds[spec["type"]](**{k: v for k, v in spec.items() if k != "type"})


def _auth(spec: dict, base_url: str, login: str | None, secret: str):
    from dlt.sources.helpers.rest_client import auth

    if spec["type"] == "bearer":
        return auth.BearerTokenAuth(token=secret)
    if spec["type"] == "oauth2_client_credentials":
        return auth.OAuth2ClientCredentials(
            access_token_url=base_url + spec["token_path"], client_id=login, client_secret=secret
        )
    return auth.APIKeyAuth(name=spec["name"], api_key=spec.get("prefix", "") + secret, location="header")


def _session(policy: RetryPolicy, timeout: float, label: str):
    """dlt's retrying session; each retry is logged (dlt decides it, this only tells the operator)."""
    from dlt.sources.helpers.requests import Client
    from requests import ConnectionError, Timeout

    tries: dict[str, int] = {}

    def log_retry(response, exception) -> bool:
        if response is not None and (response.status_code == 429 or response.status_code >= 500):
            what, url = f"HTTP {response.status_code}", response.url
        elif isinstance(exception, (Timeout, ConnectionError)) and exception.request is not None:
            what, url = f"{type(exception).__name__}: {exception}", exception.request.url
        else:
            return False
        tries[url] = tries.get(url, 1) + 1
        if tries[url] <= policy.max_attempts:
            log.warning("%s: %s: %s; try %d of %d", label, url, _excerpt(what), tries[url], policy.max_attempts)
        return False  # dlt's own rules decide what is retried

    session = Client(
        request_timeout=timeout,
        raise_for_status=False,
        request_max_attempts=policy.max_attempts,
        request_backoff_factor=policy.backoff,
        request_max_retry_delay=policy.max_backoff,
        retry_condition=log_retry,
    ).session
    session.headers["User-Agent"] = USER_AGENT
    return session


def _checked(request: dict, label: str, connection_id: str):
    """A response hook: every answer checked, and parsed once (decimals as text), before dlt reads it."""
    records, no_content = request["records"], request.get("no_content")

    def check(response, *args, **kwargs):
        shown, status = f"{response.request.method} {response.url}", response.status_code
        if status == 204 and no_content is not None:  # Zoho: nothing changed, no body
            body = no_content
        elif status in (401, 403):
            raise TokenRejectedError(
                f"{label}: token rejected by {shown} (HTTP {status}: {_excerpt(response.text)}): "
                f"check Airflow connection {connection_id!r} (its password is the API token or client secret)"
            )
        elif status == 429 or status >= 500:
            response.raise_for_status()  # an HTTPError, which dlt's session retries
        elif status != 200:
            raise ExtractError(
                f"{label}: {shown} answered HTTP {status}: {_excerpt(response.text)}; not retried (a client error)"
            )
        else:
            try:
                body = json.loads(response.text, parse_float=str)
            except ValueError:
                kind = response.headers.get("Content-Type", "no content type")
                raise ExtractError(
                    f"{label}: unexpected answer from {shown}: expected JSON, got {kind}: {_excerpt(response.text)!r}"
                ) from None
            found = vendors.field(body, records) if isinstance(body, dict) else None
            if not isinstance(found, list):
                got = f"keys {sorted(body)}" if isinstance(body, dict) else type(body).__name__
                raise ExtractError(
                    f"{label}: unexpected answer from {shown}: expected a JSON object with {records!r} (a list), "
                    f"got {got}"
                )
        response.json = lambda **_: body
        return response

    return check


def _render(template, values: dict):
    """The request's templates with the window and the object's fields filled in."""
    if isinstance(template, dict):
        return {k: _render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, values) for v in template]
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1] in values:
            return values[template[1:-1]]  # a whole value: keeps its type (a list of properties)
        return template.format(**values)
    return template


@dataclass
class _Api:
    """One entity's API: dlt's client, and what its messages name."""

    client: object  # dlt's RESTClient
    label: str
    connection_id: str
    retry: RetryPolicy
    timeout: float

    def pages(self, request: dict, values: dict):
        """(origin, records) per page of one listing; a failure as one sentence with the URL."""
        from requests import ConnectionError, HTTPError, Timeout

        method, base = request.get("method", "GET"), self.client.base_url
        origin, asked, shown = urlsplit(base)[:2], set(), f"{method} {base}"
        attempts = self.retry.max_attempts
        try:
            listing = self.client.paginate(
                path=_render(request["path"], values),
                method=method,
                params=_render(request.get("params"), values),
                json=_render(request.get("json"), values),
                headers=_render(request.get("headers"), values),
                paginator=_paginator(request["paginator"]),
                data_selector=request["records"],
                hooks={"response": [_checked(request, self.label, self.connection_id)]},
            )
            for number, page in enumerate(listing, start=1):
                shown = f"{method} {page.response.url}"
                yield f"{shown} page {number}", page
                if not page.paginator.has_next_page:
                    return
                following = page.request  # the next page's request, as the paginator set it
                if urlsplit(following.url)[:2] != origin:
                    raise ExtractError(
                        f"{self.label}: {shown} points to {following.url} for its next page, outside {base};"
                        " not followed"
                    )
                key = json.dumps([following.url, following.params, following.json], sort_keys=True, default=str)
                if key in asked:
                    raise ExtractError(f"{self.label}: pagination loop at {shown}: its next page was asked for before")
                asked.add(key)
        except HTTPError as exc:
            response = exc.response
            last = f"HTTP {response.status_code}: {_excerpt(response.text)}" if response is not None else str(exc)
            url = f"{method} {response.url}" if response is not None else shown
            raise ExtractError(f"{self.label}: {url} failed after {attempts} attempts; last: {last}") from None
        except Timeout as exc:
            url = f"{method} {exc.request.url}" if exc.request is not None else shown
            raise ExtractError(
                f"{self.label}: {url} failed after {attempts} attempts; last: timed out after {self.timeout:g} s"
                f" ({type(exc).__name__})"
            ) from None
        except ConnectionError as exc:
            url = f"{method} {exc.request.url}" if exc.request is not None else shown
            raise ExtractError(
                f"{self.label}: {url} failed after {attempts} attempts; last: connection error: {exc}"
            ) from None


class _Drift:
    """Fields the API's records have beyond, or lack from, the entity's declared columns."""

    def __init__(self, entity: config.Entity, label: str) -> None:
        self.label = label
        self.columns = frozenset(entity.columns)
        self.added: set[str] = set()
        self.removed: set[str] = set()
        self._shapes: set[frozenset] = set()

    def check(self, record: dict, origin: str) -> None:
        shape = frozenset(record)
        if shape in self._shapes:
            return
        self._shapes.add(shape)
        added, removed = shape - self.columns - self.added, self.columns - shape - self.removed
        if added or removed:
            self.added |= added
            self.removed |= removed
            log.warning(
                "%s: the API's records changed shape at %s: new field(s) %s, missing field(s) %s; "
                "loading the columns in sources.yml (recorded in audit.schema_changes)",
                self.label,
                origin,
                sorted(added) or "none",
                sorted(removed) or "none",
            )


# -- one entity, one day ---------------------------------------------------------------------------
def _values(entity: config.Entity, since: datetime, before: datetime, page_size: int) -> dict:
    mapped = [path or "" for _, path in entity.mapping] or list(entity.columns)
    fields = sorted({path.split(".")[0] for path in mapped if path})
    properties = sorted({path.split(".", 1)[1] for path in mapped if path.startswith("properties.")})
    return {
        "object": entity.api_object,
        "page_size": str(page_size),
        "fields": ",".join(fields),
        "properties": properties,
        "since": iso(since),
        "before": iso(before),
        "since_ms": str(int(since.timestamp() * 1000)),
        "before_ms": str(int(before.timestamp() * 1000)),
        "since_unix": str(int(since.timestamp())),
    }


def _when(value) -> datetime | None:
    if not value:
        return None
    ts = datetime.fromisoformat(str(value))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _in_window(value, since: datetime, before: datetime, kind: str) -> bool:
    """The bounds the API did not apply itself (`window`: server, since or none)."""
    if kind == "server":
        return True
    ts = _when(value)
    return ts is not None and ts < before and (kind == "since" or ts >= since)


def extract_api(
    entity: config.Entity,
    base_url: str,
    login: str | None,
    secret: str,
    interval_start: datetime,
    interval_end: datetime,
    *,
    warehouse_url: str,
    landing: Path | str | None = None,
    refetch: bool | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
) -> dict:
    """Land `entity` for the data interval from its API (see the module docstring); what the load step needs."""
    import psycopg
    from dlt.sources.helpers.rest_client import RESTClient

    interval_start, interval_end = _utc(interval_start), _utc(interval_end)
    if interval_end <= interval_start:
        raise ValueError(f"{entity.source}.{entity.name}: empty data interval {interval_start} .. {interval_end}")
    refetch = os.environ.get("SALESDW_REFETCH") == "1" if refetch is None else refetch
    spec = vendors.profile(entity.api_profile)
    generic = spec.get("source") == entity.source
    label = f"{entity.source}.{entity.name}" + ("" if generic else f" ({entity.api_profile} {entity.api_object})")
    batch_date = interval_start.date()
    folder = stores.landing(landing) / entity.source / batch_date.isoformat()
    target, deleted_target = api_paths(folder, entity.name)
    result = {
        "source": entity.source,
        "entity": entity.name,
        "batch_date": batch_date.isoformat(),
        "path": str(target),
        "deleted_path": str(deleted_target),
    }
    if target.is_file() and deleted_target.is_file() and not (refetch or spec.get("answers_past_windows")):
        note = f"replays the extract landed for {batch_date} (the API holds only current versions; --refetch asks it)"
        log.info("%s %s: %s", label, batch_date, note)
        return result | {"status": "replayed", "note": note}
    retry = retry or RetryPolicy()
    lock = f"salesdw.extract.{entity.source}.{entity.name}"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        windows.ensure_tables(conn)
        # one extraction of an entity at a time: the window of one depends on the others' records
        conn.execute("select pg_advisory_lock(hashtext(%s))", [lock])
        window = windows.plan_window(conn, entity.source, entity.name, batch_date, interval_start, interval_end)
        since, before = window.start or EPOCH, window.end
        what = "the whole history (a first extract)" if window.start is None else f"{iso(since)} .. {iso(before)}"
        log.info(
            "%s %s: %s%s%s",
            label,
            batch_date,
            what,
            " (recorded window, a rerun)" if window.reused else "",
            " (catching up from the watermark)" if window.catch_up else "",
        )
        values = _values(entity, since, before, page_size)
        mapped = record_mapper(entity, batch_date)
        client = RESTClient(
            base_url=base_url,
            auth=_auth(spec["auth"], base_url, login, secret),
            session=_session(retry, timeout, label),
        )
        api = _Api(client, label, entity.connection_id, retry, timeout)
        drift = _Drift(entity, label) if spec.get("fields_drift") else None
        key_path = dict(entity.mapping).get(entity.primary_key) or entity.primary_key
        deleted_spec = spec["deleted"]
        gone = deleted_spec.get("from_changed")  # deletions within the changes listing (Zendesk)
        pages = 0

        def deletion(item, origin: str) -> tuple:
            key, at = vendors.field(item, deleted_spec["key"]), vendors.field(item, deleted_spec["deleted_at"])
            if key is None or at is None:
                raise ExtractError(
                    f"{label}: unexpected deletion from {origin}: expected a JSON object with "
                    f"{deleted_spec['key']!r} and {deleted_spec['deleted_at']!r}, got {_excerpt(json.dumps(item))}"
                )
            return key, {entity.primary_key: key, "deleted_at": at, "_origin": origin}

        with api_extract(folder, entity.name) as (records, deletions):
            for origin, page in api.pages(spec["changed"], values):
                pages += 1
                for item in page:
                    if not isinstance(item, dict) or vendors.field(item, key_path) in (None, ""):
                        raise ExtractError(
                            f"{label}: unexpected record from {origin}: expected a JSON object with "
                            f"{key_path!r}, got {_excerpt(json.dumps(item))}"
                        )
                    if not _in_window(
                        vendors.field(item, spec.get("modstamp", "")), since, before, spec["changed"]["window"]
                    ):
                        continue  # changed since the window ended: the next night's
                    if gone and vendors.field(item, gone["field"]) == gone["value"]:
                        deletions.write(*deletion(item, origin))
                        continue
                    if drift:
                        drift.check(item, origin)
                    row = mapped(item)
                    records.write(row[entity.primary_key], row | {"_origin": origin})
            if not gone:
                for origin, page in api.pages(deleted_spec, values):
                    pages += 1
                    for item in page:
                        key, row = deletion(item, origin)
                        if _in_window(row["deleted_at"], since, before, deleted_spec["window"]):
                            deletions.write(key, row)
        added, removed = sorted(drift.added) if drift else [], sorted(drift.removed) if drift else []
        duplicates = records.duplicates + deletions.duplicates
        with conn.transaction():
            windows.record_window(
                conn,
                entity.source,
                entity.name,
                batch_date,
                window,
                records=records.count,
                deleted=deletions.count,
                pages=pages,
                duplicates=duplicates,
            )
            windows.record_schema_change(conn, entity.source, entity.name, batch_date, added, removed)
        conn.execute("select pg_advisory_unlock(hashtext(%s))", [lock])
    if duplicates:
        log.warning("%s %s: %d record(s) were sent more than once; kept once (the last)", label, batch_date, duplicates)
    log.info(
        "%s %s: %d records, %d deletions in %d pages -> %s",
        label,
        batch_date,
        records.count,
        deletions.count,
        pages,
        target,
    )
    return result | {
        "status": "extracted",
        "records": records.count,
        "deleted": deletions.count,
        "pages": pages,
        "duplicates": duplicates,
        "window_start": iso(window.start) if window.start else None,
        "window_end": iso(window.end),
        "window_reused": window.reused,
        "added_fields": added,
        "removed_fields": removed,
    }


def connection_parts(conn_id: str, default_scheme: str = "https") -> tuple[str, str | None, str]:
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
