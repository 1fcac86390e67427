"""The simulated sources in the vendors' own API shapes (extract/vendors.yml), for the tests.

Salesforce (OAuth 2.0 client credentials token, SOQL `query` / `queryAll` with `nextRecordsUrl`),
HubSpot CRM v3 (search by POST with `paging.next.after` in the body; archived listing), Zoho CRM v7
(`page` / `info.more_records`, `If-Modified-Since`, 204 when nothing changed, `/deleted`) and the
Zendesk incremental ticket export (`after_url` until `end_of_stream`, deleted tickets in it). Each
answers as a real API does, with every record's current version only (a record changed after the
asked window is not in it: the generic simulated API, by contrast, answers a past window as it was
then). Records are the source state's, renamed with the profile's field map, the modstamp field
from the state's change time in the vendor's format.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

from salesdw.extract import vendors

from salesdw_dev.simulate.state import EntityState, parse_ts

SF_QUERY = re.compile(r"^/services/data/v[\d.]+/(?P<kind>query|queryAll)(?:/(?P<cursor>[\w=-]+))?$")
SOQL = re.compile(
    r"^SELECT (?P<fields>.+) FROM (?P<object>\w+) WHERE (?P<deleted>IsDeleted = TRUE AND )?"
    r"SystemModstamp >= (?P<since>\S+) AND SystemModstamp < (?P<before>\S+)"
)
HS_SEARCH = re.compile(r"^/crm/v3/objects/(?P<object>\w+)/search$")
HS_LIST = re.compile(r"^/crm/v3/objects/(?P<object>\w+)$")
ZOHO = re.compile(r"^/crm/v[2-8]/(?P<object>\w+)(?P<deleted>/deleted)?$")  # not /crm/v1: the generic simulated CRM
ZENDESK = re.compile(r"^/api/v2/incremental/(?P<object>\w+)/cursor\.json$")
PAGE_SIZES = {"salesforce": 2000, "hubspot": 100, "zoho": 200, "zendesk": 1000}
STAMPS = {  # each vendor's timestamp format
    "salesforce": "%Y-%m-%dT%H:%M:%S.000+0000",
    "hubspot": "%Y-%m-%dT%H:%M:%S.000Z",
    "zoho": "%Y-%m-%dT%H:%M:%S+00:00",
    "zendesk": "%Y-%m-%dT%H:%M:%SZ",
}


class VendorApiError(Exception):
    def __init__(self, status: int, payload: dict):
        super().__init__(payload)
        self.status, self.payload = status, payload


def _stamp(vendor: str, micros: int) -> str:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC).strftime(STAMPS[vendor])


def _encode(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _decode(text: str) -> dict:
    try:
        return json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        raise VendorApiError(400, {"error": "INVALID_QUERY_LOCATOR", "message": f"bad cursor {text!r}"}) from None


def _set(record: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for step in parents:
        record = record.setdefault(step, {})
    record[last] = value


class VendorApis:
    """Answers the vendors' routes of one simulated server from its source state."""

    def __init__(self, state: dict[tuple[str, str], EntityState], token: str, page_size: int | None = None):
        self.state, self.token, self.page_size = state, token, page_size

    # -- which entity, in which shape -----------------------------------------------------------
    def _entity(self, vendor: str, obj: str) -> tuple[EntityState, dict]:
        for name, spec in vendors.profile(vendor)["entities"].items():
            source, entity = name.split(".")
            if spec["object"].lower() == obj.lower() and (source, entity) in self.state:
                return self.state[source, entity], spec
        raise VendorApiError(404, {"error": "NOT_FOUND", "message": f"no object {obj!r}"})

    def _shaped(self, vendor: str, spec: dict, body: str, at: int, wanted: set[str] | None = None) -> dict:
        record, out = json.loads(body), {}
        for column, path in spec["columns"].items():
            if path and (wanted is None or path.split(".")[-1] in wanted or not path.startswith("properties.")):
                value = record.get(column)
                if value is None and vendors.field(out, path) is not None:
                    continue  # one vendor field for two columns (Salesforce's CloseDate): the one with a value
                if vendor == "hubspot" and path.startswith("properties.") and value is not None:
                    value = str(value)  # HubSpot's properties are strings
                _set(out, path, value)
        _set(out, vendors.profile(vendor)["modstamp"], _stamp(vendor, at))
        return out

    def _current(self, state: EntityState, since: int | None, before: int | None, deleted: bool) -> list:
        """Each record's current version (its latest change of all), when that change is in the window."""
        changes, _ = state.query(since, None, deleted)
        return [c for c in changes if before is None or c.at < before]

    def _size(self, vendor: str, asked: int | None = None) -> int:
        return self.page_size or min(asked or PAGE_SIZES[vendor], PAGE_SIZES[vendor])

    # -- auth ----------------------------------------------------------------------------------
    def _check(self, headers, scheme: str = "Bearer") -> None:
        given = headers.get("Authorization", "")
        if not given.startswith(scheme + " ") or not hmac.compare_digest(
            given[len(scheme) + 1 :].strip().encode(), self.token.encode()
        ):
            raise VendorApiError(401, {"error": "INVALID_SESSION_ID", "message": "Session expired or invalid"})

    # -- routes --------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers, body: bytes, base_url: str) -> tuple[int, object] | None:
        """(status, JSON payload, or None for no body) for a vendor route; None when it is not one."""
        url = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if method == "POST" and url.path == "/services/oauth2/token":
                form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
                if form.get("grant_type") != "client_credentials" or not hmac.compare_digest(
                    form.get("client_secret", "").encode(), self.token.encode()
                ):
                    return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
                return 200, {"access_token": self.token, "instance_url": base_url, "token_type": "Bearer"}
            if method == "GET" and (match := SF_QUERY.match(url.path)):
                self._check(headers)
                return 200, self._salesforce(match, query)
            if method == "POST" and (match := HS_SEARCH.match(url.path)):
                self._check(headers)
                return 200, self._hubspot_search(match["object"], json.loads(body or b"{}"))
            if method == "GET" and (match := HS_LIST.match(url.path)) and query.get("archived") == "true":
                self._check(headers)
                return 200, self._hubspot_archived(match["object"], query)
            if method == "GET" and (match := ZOHO.match(url.path)):
                self._check(headers, "Zoho-oauthtoken")
                return self._zoho(match["object"], bool(match["deleted"]), query, headers)
            if method == "GET" and (match := ZENDESK.match(url.path)):
                self._check(headers)
                return 200, self._zendesk(match["object"], query, base_url + url.path)
        except VendorApiError as exc:
            return exc.status, exc.payload
        return None

    def _salesforce(self, match, query: dict) -> dict:
        if match["cursor"]:  # nextRecordsUrl: the query and where it had got to
            cursor = _decode(match["cursor"])
            soql, offset = cursor["q"], cursor["offset"]
        else:
            soql, offset = query.get("q", ""), 0
        parsed = SOQL.match(soql)
        if not parsed:
            raise VendorApiError(400, {"errorCode": "MALFORMED_QUERY", "message": f"unsupported query: {soql}"})
        state, spec = self._entity("salesforce", parsed["object"])
        since, before = parse_ts(parsed["since"]), parse_ts(parsed["before"])
        deleted = bool(parsed["deleted"])
        if deleted and match["kind"] != "queryAll":
            return {"totalSize": 0, "done": True, "records": []}  # query never sees the Recycle Bin
        changes = self._current(state, since, before, deleted)
        size = self._size("salesforce")
        page = changes[offset : offset + size]
        attributes = {"type": spec["object"]}
        if deleted:
            records = [
                {"attributes": attributes, "Id": c.key, "SystemModstamp": _stamp("salesforce", c.at)} for c in page
            ]
        else:
            records = [{"attributes": attributes} | self._shaped("salesforce", spec, c.body, c.at) for c in page]
        out = {"totalSize": len(changes), "done": offset + size >= len(changes), "records": records}
        if not out["done"]:
            version = "v59.0"
            out["nextRecordsUrl"] = f"/services/data/{version}/{match['kind']}/" + _encode(
                {"q": soql, "offset": offset + size}
            )
        return out

    def _hubspot_search(self, obj: str, body: dict) -> dict:
        state, spec = self._entity("hubspot", obj)
        bounds = {}
        for group in body.get("filterGroups", []):
            for f in group.get("filters", []):
                if f.get("propertyName") == "hs_lastmodifieddate":
                    bounds[f["operator"]] = int(f["value"]) * 1000
        changes = self._current(state, bounds.get("GTE"), bounds.get("LT"), False)
        offset = int(body.get("after") or 0)
        size = self._size("hubspot", body.get("limit"))
        wanted = set(body.get("properties") or [])
        page = changes[offset : offset + size]
        results = [
            {"id": str(c.key), "archived": False} | self._shaped("hubspot", spec, c.body, c.at, wanted) for c in page
        ]
        out = {"total": len(changes), "results": results}
        if offset + size < len(changes):
            out["paging"] = {"next": {"after": str(offset + size)}}
        return out

    def _hubspot_archived(self, obj: str, query: dict) -> dict:
        state, _ = self._entity("hubspot", obj)
        changes = self._current(state, None, None, True)
        offset, size = int(query.get("after") or 0), self._size("hubspot", int(query.get("limit") or 100))
        page = changes[offset : offset + size]
        results = [{"id": str(c.key), "archived": True, "archivedAt": _stamp("hubspot", c.at)} for c in page]
        out = {"results": results}
        if offset + size < len(changes):
            out["paging"] = {"next": {"after": str(offset + size), "link": f"?after={offset + size}"}}
        return out

    def _zoho(self, obj: str, deleted: bool, query: dict, headers) -> tuple[int, dict | None]:
        state, spec = self._entity("zoho", obj)
        since_text = headers.get("If-Modified-Since")
        since = parse_ts(since_text) if since_text else None
        changes = self._current(state, since, None, deleted)
        page_number, size = int(query.get("page") or 1), self._size("zoho", int(query.get("per_page") or 200))
        page = changes[(page_number - 1) * size : page_number * size]
        if not page:
            return 204, None  # Zoho: no records, no body
        if deleted:
            data = [{"id": c.key, "deleted_time": _stamp("zoho", c.at), "type": "recycle"} for c in page]
        else:
            data = [self._shaped("zoho", spec, c.body, c.at) for c in page]
        more = page_number * size < len(changes)
        return 200, {
            "data": data,
            "info": {"per_page": size, "count": len(data), "page": page_number, "more_records": more},
        }

    def _zendesk(self, obj: str, query: dict, url: str) -> dict:
        state, spec = self._entity("zendesk", obj)
        if "cursor" in query:
            cursor = _decode(query["cursor"])
            since, offset = cursor["since"], cursor["offset"]
        else:
            since, offset = int(query.get("start_time") or 0) * 1_000_000, 0
        live = self._current(state, since, None, False)
        gone = self._current(state, since, None, True)
        changes = sorted([(c, False) for c in live] + [(c, True) for c in gone], key=lambda x: x[0].order)
        size = self._size("zendesk")
        page = changes[offset : offset + size]
        tickets = []
        for change, deleted in page:
            if deleted:
                tickets.append({"id": change.key, "status": "deleted", "updated_at": _stamp("zendesk", change.at)})
            else:
                tickets.append(self._shaped("zendesk", spec, change.body, change.at))
        after = _encode({"since": since, "offset": offset + len(page)})
        return {
            "tickets": tickets,
            "after_cursor": after,
            "after_url": f"{url}?{urlencode({'cursor': after})}",
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": offset + size >= len(changes),
        }
