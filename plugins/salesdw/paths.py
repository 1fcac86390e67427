"""Where salesdw keeps things. Everything local lives under the project, git-ignored."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# plugins/salesdw -> project root; SALESDW_HOME overrides it for installed copies.
ROOT = Path(os.environ.get("SALESDW_HOME", PACKAGE_DIR.parents[1])).resolve()
STATE_DIR = Path(os.environ.get("SALESDW_STATE_DIR", ROOT / ".salesdw")).resolve()
DATA_DIR = Path(os.environ.get("SALESDW_DATA_DIR", ROOT / "data")).resolve()
LANDING_DIR = DATA_DIR / "landing"
SOURCE_STATE_DIR = DATA_DIR / "sources"  # what the simulated API sources hold
DROP_DIR = DATA_DIR / "drop"  # where ERPs drop their daily exports
ARCHIVE_DIR = DATA_DIR / "archive"  # processed drop files
AIRFLOW_HOME = Path(os.environ.get("AIRFLOW_HOME", STATE_DIR / "airflow")).resolve()
DBT_PROJECT_DIR = ROOT / "dbt_project"
DBT_MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
DAGS_DIR = ROOT / "dags"
GX_DIR = STATE_DIR / "gx"
DATA_DOCS_DIR = STATE_DIR / "data_docs"
# where the nightly DAG writes the dashboard after each publication (publish/dashboard/)
DASHBOARD_DIR = Path(os.environ.get("SALESDW_DASHBOARD_DIR", STATE_DIR / "dashboard")).resolve()
SOURCES_FILE = PACKAGE_DIR / "sources.yml"  # the record contract, and the demo's deliveries
# A deployment's own file (docs/bring-your-own-data.md): which feeds it has, how each arrives and maps
# onto the contract, its vocabulary and reporting currency. Unset: the demo's simulated sources.
DEPLOYMENT_FILE = Path(os.environ["SALESDW_CONFIG"]).resolve() if os.environ.get("SALESDW_CONFIG") else None
VOCABULARY_DIR = DBT_PROJECT_DIR / "seeds"  # the demo's; a deployment names its own (config.vocabulary_dir)
