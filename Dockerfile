# salesdw image: Airflow 3.3.0 with the project (plugins/salesdw), its DAGs and dbt project,
# installed against requirements.lock so the container runs what CI tested.
# Build: docker compose build   (or: docker build -t salesdw-airflow .)
FROM apache/airflow:3.3.0-python3.11

# The base image's user is `airflow` (UID 50000, GID 0) and its docs ask for pip installs to run as
# that user, not root. Saying it explicitly keeps that true if a root step is added above later.
USER airflow
WORKDIR /opt/airflow

# Dependencies first: this layer is rebuilt only when the lock or the project metadata changes.
# requirements.lock is a full `pip freeze` (apache-airflow==3.3.0 included, so the base image's
# Airflow is never swapped out). Its editable/self lines ("-e /path", "salesdw==..."), if any, are
# dropped: pip refuses or cannot resolve them as constraints.
COPY --chown=airflow:0 requirements.lock pyproject.toml README.md /opt/airflow/
# the production package only: the simulator and the generator (plugins/salesdw_dev) stay out
COPY --chown=airflow:0 plugins/salesdw/ /opt/airflow/plugins/salesdw/
# Editable, so the installed `salesdw` package *is* /opt/airflow/plugins/salesdw: compose's bind
# mount of ./plugins over it is picked up without a rebuild, and there is only one copy.
RUN grep -vE '^[[:space:]]*(-e[[:space:]]|#|salesdw([[:space:]=@]|$))' requirements.lock \
        > /tmp/constraints.txt \
    && pip install --no-cache-dir -c /tmp/constraints.txt -e . \
    && rm /tmp/constraints.txt

# Fail the build, not the first DAG run, if the stack does not import: the project, what it uses,
# and the Celery and FAB providers docker-compose.yml relies on (from the base image, not the lock).
RUN python -c "import salesdw, cosmos, great_expectations, dbt.version, pymc_marketing.clv, \
airflow.providers.postgres, airflow.providers.celery.executors.celery_executor, \
airflow.providers.fab.auth_manager.fab_auth_manager"

# salesdw's paths (plugins/salesdw/paths.py) and no usage pings; docker-compose.yml sets the same.
ENV SALESDW_HOME=/opt/airflow \
    SALESDW_DATA_DIR=/opt/airflow/data \
    SALESDW_STATE_DIR=/opt/airflow/.salesdw \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__COSMOS__CACHE_DIR=/opt/airflow/cosmos_cache \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    GX_ANALYTICS_ENABLED=False \
    SCARF_ANALYTICS=false \
    DO_NOT_TRACK=1

# Writable folders, group-writable because the image runs under any UID with GID 0 (AIRFLOW_UID).
# Created here so the named volumes mounted on them start with these owners, not root.
RUN mkdir -p /opt/airflow/data /opt/airflow/.salesdw /opt/airflow/cosmos_cache \
    && chmod g+rwx /opt/airflow/data /opt/airflow/.salesdw /opt/airflow/cosmos_cache

# Baked in so the image runs without the compose bind mounts (e.g. on Kubernetes).
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 dbt_project/ /opt/airflow/dbt_project/
# The DAG renders dbt from target/manifest.json (cosmos LoadMode.DBT_MANIFEST). target/ is
# .dockerignored so a stale local build never ships: parse here (it needs no database).
RUN cd /opt/airflow/dbt_project \
    && dbt parse --profiles-dir . --quiet \
    && rm -rf logs
