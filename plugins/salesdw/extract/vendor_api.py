"""Extract an entity from a vendor's REST API (Salesforce, HubSpot, Zoho, Zendesk: vendors.yml).

Built on dlt's RESTClient: its paginators (next-record URLs, response cursors in the query or the
body, page numbers with a has-more flag), its auth (bearer, OAuth 2.0 client credentials, an API key
header) and its session, which retries 429 and 5xx answers with backoff (Retry-After honoured).
The window comes from extract/windows.py, as for the simulated API: the whole history on the
first run, then each night from the watermark. Each record is mapped onto the contract's columns
(the profile's fields under the deployment's own: extract/mapping.py) and written, with the URL and
page it came from, to `<landing>/<source>/<day>/<entity>.jsonl`; the deleted records to
`<entity>.deleted.jsonl`; a record sent twice (a page re-read while the source changed) is kept once.

A vendor answers with each record's current version only. So a rerun of a past day replays the
extract landed for that day instead of asking again (which would move records changed since into
the wrong day); `refetch` (salesdw run --refetch, SALESDW_REFETCH=1) asks the API again.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from salesdw import config, paths
from salesdw.extract import vendors, windows
from salesdw.extract.api import ExtractError, extract_files, iso, record_extract
from salesdw.extract.mapping import record_mapper

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# dlt's anonymous usage telemetry would call out to the internet, which our machines do not reach
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


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
    args = {k: v for k, v in spec.items() if k != "type"}
    return kinds[spec["type"]](**args)


def _auth(spec: dict, base_url: str, login: str | None, secret: str):
    from dlt.sources.helpers.rest_client import auth

    if spec["type"] == "bearer":
        return auth.BearerTokenAuth(token=secret)
    if spec["type"] == "oauth2_client_credentials":
        return auth.OAuth2ClientCredentials(
            access_token_url=base_url + spec["token_path"], client_id=login, client_secret=secret
        )
    return auth.APIKeyAuth(name=spec["name"], api_key=spec.get("prefix", "") + secret, location="header")


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


def _values(entity: config.Entity, since: datetime, before: datetime) -> dict:
    fields = sorted({path.split(".")[0] for _, path in entity.mapping if path})
    properties = sorted(
        {path.split(".", 1)[1] for _, path in entity.mapping if path and path.startswith("properties.")}
    )
    return {
        "object": entity.api_object,
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


def _pages(client, request: dict, values: dict, label: str):
    """(origin, records) per page of one listing; an HTTP error as one sentence with the URL."""
    from requests import HTTPError

    hooks = {}
    if request.get("no_content") is not None:  # Zoho answers 204 with no body for an empty listing
        empty = json.dumps(request["no_content"]).encode()

        def no_content(response, *args, **kwargs):
            if response.status_code == 204:
                response._content = empty

        hooks = {"response": [no_content]}
    try:
        for number, page in enumerate(
            client.paginate(
                path=_render(request["path"], values),
                method=request.get("method", "GET"),
                params=_render(request.get("params"), values),
                json=_render(request.get("json"), values),
                headers=_render(request.get("headers"), values),
                paginator=_paginator(request["paginator"]),
                data_selector=request["records"],
                hooks=hooks or None,
            ),
            start=1,
        ):
            yield f"{request.get('method', 'GET')} {page.request.url} page {number}", page
    except HTTPError as exc:
        response = exc.response
        body = (response.text or "")[:200] if response is not None else ""
        status = f"HTTP {response.status_code}" if response is not None else "no answer"
        raise ExtractError(f"{label}: {status} from {exc.request.url if exc.request else '?'}: {body}") from None


def extract_vendor(
    entity: config.Entity,
    base_url: str,
    login: str | None,
    secret: str,
    interval_start: datetime,
    interval_end: datetime,
    *,
    warehouse_url: str,
    landing: Path | None = None,
    refetch: bool | None = None,
) -> dict:
    """Land `entity` for the data interval from its vendor's API; what the load step needs."""
    import psycopg
    from dlt.sources.helpers.rest_client import RESTClient

    refetch = os.environ.get("SALESDW_REFETCH") == "1" if refetch is None else refetch
    spec = vendors.profile(entity.api_profile)
    label = f"{entity.source}.{entity.name} ({entity.api_profile} {entity.api_object})"
    batch_date = interval_start.date()
    folder = (landing or paths.LANDING_DIR) / entity.source / batch_date.isoformat()
    target, deleted_target = folder / f"{entity.name}.jsonl", folder / f"{entity.name}.deleted.jsonl"
    if target.is_file() and deleted_target.is_file() and not refetch:
        note = f"replays the extract landed for {batch_date} (the API holds only current versions; --refetch asks it)"
        log.info("%s %s: %s", label, batch_date, note)
        return {"entity": entity.name, "path": str(target), "deleted_path": str(deleted_target), "status": "replayed"}
    folder.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        windows.ensure_tables(conn)
        conn.execute("select pg_advisory_lock(hashtext(%s))", [f"salesdw.extract.{entity.source}.{entity.name}"])
        window = windows.plan_window(conn, entity.source, entity.name, batch_date, interval_start, interval_end)
        since, before = window.start or EPOCH, window.end
        values = _values(entity, since, before)
        mapped = record_mapper(entity, batch_date)
        client = RESTClient(base_url=base_url, auth=_auth(spec["auth"], base_url, login, secret))
        pages = 0
        deleted_spec = spec["deleted"]
        gone = deleted_spec.get("from_changed")  # deletions within the changes listing (Zendesk)
        with extract_files(folder, entity.name) as (records, deletions):
            for origin, page in _pages(client, spec["changed"], values, label):
                pages += 1
                for item in page:
                    if not _in_window(vendors.field(item, spec["modstamp"]), since, before, spec["changed"]["window"]):
                        continue  # changed since the window ended: the next night's
                    key = vendors.field(item, deleted_spec["key"]) if gone else None
                    if gone and vendors.field(item, gone["field"]) == gone["value"]:
                        at = vendors.field(item, deleted_spec["deleted_at"])
                        deletions.write(key, {entity.primary_key: key, "deleted_at": at, "_origin": origin})
                        continue
                    row = mapped(item)
                    records.write(row[entity.primary_key], row | {"_origin": origin})
            if not gone:
                for origin, page in _pages(client, deleted_spec, values, label):
                    pages += 1
                    for item in page:
                        at = vendors.field(item, deleted_spec["deleted_at"])
                        if not _in_window(at, since, before, deleted_spec["window"]):
                            continue
                        key = vendors.field(item, deleted_spec["key"])
                        deletions.write(key, {entity.primary_key: key, "deleted_at": at, "_origin": origin})
        with conn.transaction():
            record_extract(conn, entity, batch_date, window, records, deletions, pages)
        conn.execute("select pg_advisory_unlock(hashtext(%s))", [f"salesdw.extract.{entity.source}.{entity.name}"])
    log.info("%s %s: %d records, %d deletions in %d pages", label, batch_date, records.count, deletions.count, pages)
    return {
        "entity": entity.name,
        "path": str(target),
        "deleted_path": str(deleted_target),
        "status": "extracted",
        "records": records.count,
        "deleted": deletions.count,
        "pages": pages,
        "window_start": iso(since),
        "window_end": iso(before),
    }
