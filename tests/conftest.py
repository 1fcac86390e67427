"""Shared fixtures: an isolated state folder and a real, ephemeral embedded PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

# Isolate everything the package writes before it is imported (salesdw.paths reads these once).
SESSION_DIR = Path(tempfile.mkdtemp(prefix="salesdw-tests-"))
os.environ["SALESDW_STATE_DIR"] = str(SESSION_DIR / "state")
os.environ["SALESDW_DATA_DIR"] = str(SESSION_DIR / "data")
os.environ["AIRFLOW_HOME"] = str(SESSION_DIR / "state" / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"
os.environ["AIRFLOW__COSMOS__CACHE_DIR"] = str(SESSION_DIR / "state" / "cosmos")
os.environ.pop("WAREHOUSE_URL", None)
# A server's logins are the cluster's, and tests set them up from several secrets dirs (each test
# server's own, STATE_DIR/roles under WAREHOUSE_URL): one password per login for the whole session
# keeps every set-up and every role URL agreeing (warehouse/roles.py reads these first).
for _login in ("loader", "transformer", "bi", "airflow"):
    os.environ.setdefault(f"SALESDW_{_login.upper()}_PASSWORD", f"test-{_login}-{uuid.uuid4().hex}")

from salesdw.warehouse.embedded import EmbeddedPostgres, free_port  # noqa: E402


@pytest.fixture(scope="session")
def warehouse():
    server = EmbeddedPostgres(SESSION_DIR / "pg", port=free_port())
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def fresh_db(warehouse):
    """A new, empty database in the test server; its URL."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    warehouse.ensure_database(name)
    yield warehouse.url(name)
    warehouse.drop_database(name)


@pytest.fixture
def set_up_db(fresh_db):
    """A new database set up as `salesdw db init` sets up a warehouse (roles, schemas, the tables of
    audit and ml); its admin URL."""
    from salesdw.warehouse import roles

    roles.set_up(fresh_db)
    return fresh_db


@pytest.fixture(scope="session")
def dbt_manifest(warehouse):
    from salesdw.orchestrate.runner import build_manifest

    build_manifest(warehouse.url())


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


@pytest.fixture
def deployed(tmp_path, monkeypatch):
    """Write a deployment file (salesdw.yml) into tmp_path and use it; returns a function giving the
    entities it configures. The demo's deployment comes back afterwards."""
    from salesdw import config, deployment, paths

    def write(text: str):
        (tmp_path / "salesdw.yml").write_text(text)
        monkeypatch.setattr(paths, "DEPLOYMENT_FILE", tmp_path / "salesdw.yml")
        deployment.settings.cache_clear()
        config.entities.cache_clear()
        return config.entities()

    yield write
    deployment.settings.cache_clear()
    config.entities.cache_clear()


class Browser:
    """Debian's headless chromium, with every host name unresolvable: a page that needs the network
    to draw cannot draw here."""

    def __init__(self, executable: str, profile: Path):
        self.executable, self.profile = executable, profile

    def dom(self, page: Path) -> str:
        """The page's DOM once its scripts ran (virtual time: chromium waits for the page's work, not a clock)."""
        import subprocess

        command = [
            self.executable,
            "--headless",
            "--no-sandbox",  # as root (CI), chromium refuses to start with its sandbox
            "--disable-gpu",
            f"--user-data-dir={self.profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.resolve().as_uri(),
        ]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0 and proc.stdout, f"chromium could not open {page}:\n{proc.stderr[-3000:]}"
        return proc.stdout

    @staticmethod
    def drawn(dom: str) -> dict:
        """What a dashboard page (publish/dashboard/) drew: `charts`, for each chart div (id chart-KEY),
        how many elements inside it (itself included) have each class; `totals`, what its script read
        back from plotly (#chart-totals); `body`, the body's attributes."""
        import json
        from collections import Counter
        from html.parser import HTMLParser

        class Page(HTMLParser):
            VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

            def __init__(self):
                super().__init__()
                self.charts, self.body, self.open, self.totals, self.in_totals = {}, {}, [], "", False

            def handle_starttag(self, tag, attrs):
                attrs = dict(attrs)
                classes = set((attrs.get("class") or "").split())
                if tag == "body":
                    self.body = attrs
                if (attrs.get("id") or "").startswith("chart-") and tag == "div":
                    self.charts[attrs["id"].removeprefix("chart-")] = Counter()
                    self.open.append((tag, attrs["id"].removeprefix("chart-")))
                elif tag not in self.VOID:
                    self.open.append((tag, None))
                for _, key in self.open:
                    if key:
                        self.charts[key].update(classes)
                self.in_totals = attrs.get("id") == "chart-totals"

            def handle_startendtag(self, tag, attrs):
                for _, key in self.open:
                    if key:
                        self.charts[key].update((dict(attrs).get("class") or "").split())

            def handle_endtag(self, tag):
                while self.open and self.open.pop()[0] != tag:
                    pass
                self.in_totals = False

            def handle_data(self, data):
                if self.in_totals:
                    self.totals += data

        page = Page()
        page.feed(dom)
        return {"charts": page.charts, "totals": json.loads(page.totals or "{}"), "body": page.body}


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Headless chromium; without it the test skips, unless SALESDW_REQUIRE_CHROMIUM=1 (CI installs it)."""
    from salesdw_dev.tools import required_tool

    executable = required_tool("chromium", "chromium", "to test the dashboard in a browser", "SALESDW_REQUIRE_CHROMIUM")
    return Browser(executable, tmp_path_factory.mktemp("chromium-profile"))
