"""Airflow DAG factory: GitLab-style postgres_pipeline manifests, one task
per table and load type, each running ``singer-run`` (tap-postgres in
manifest mode into a Singer target) with the job's state in PostgreSQL.

Drop this file in the DAGs folder and point ``SINGER_DAGS_CONFIG`` at a
YAML or JSON file; every manifest it lists becomes one DAG per load type:

.. code-block:: yaml

    manifests:
      - /opt/manifests/el_gitlab_com_db_manifest.yaml
    load_types: [incremental, full]        # and `deletes` (see below)
    singer_run: singer-run                 # the binaries, on PATH or as paths
    tap: tap-postgres
    tap_config: /etc/singer/tap.json       # sslmode, timeouts... (optional)
    target: target-snowflake --config /etc/singer/target.json
    state_backend: postgresql://etl@statedb:5432/etl
    state_table: singer_state              # optional
    schedules: {incremental: "0 */6 * * *", full: "0 2 * * *", deletes: "0 4 1 * *"}
    pool: postgres_gitlab_com              # an Airflow pool bounds concurrent tasks
    max_active_tasks: 8                    # per DAG
    retries: 2
    env: {GITLAB_COM_DB_HOST: ..., ...}    # for the manifest's connection_info
    operator: bash                         # or kubernetes (GitLab's setup)
    kubernetes: {image: registry/singer:1.0, namespace: airflow, ...}

The DAG id is ``<manifest file stem>_<load type>`` and the task id is the
manifest's table key. Which tables each load type takes follows the
pipeline (and ``tap-postgres --manifest``): ``incremental`` takes tables
whose query has ``{BEGIN_TIMESTAMP}`` or ``{EXECUTION_DATE}`` or that set
``incremental_type``; ``full`` the others; ``deletes`` every table without
``deletes_exempt: true`` (it runs ``--load-type deletes``, which needs a
tap-postgres that has it). A task runs::

    singer-run --job <manifest stem>.<table> \\
      --tap 'tap-postgres --manifest M --load-type T --table KEY
             --execution-date <data interval end> [--config TAP_CONFIG]' \\
      --target TARGET --state-backend STATE_BACKEND

The job id is per table, not per load type: the incremental and backfill
loads of a table share its bookmark (as the pipeline's state does), and the
job's lock keeps two loads of one table from running at once (the second
fails fast with "already running" and Airflow retries it).

``operator: kubernetes`` builds ``KubernetesPodOperator`` tasks (from
``apache-airflow-providers-cncf-kubernetes``) running the same command in
``kubernetes.image``; every other key of ``kubernetes`` is passed to the
operator as is (``namespace``, ``env_vars``, ``secrets``,
``container_resources``, ...), as GitLab runs one pod per table.
"""

from __future__ import annotations

import json
import os
import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

LOAD_TYPES = ("incremental", "full", "deletes")
DEFAULT_SCHEDULES = {
    "incremental": "0 */6 * * *",
    "full": "0 2 * * *",
    "deletes": "0 4 1 * *",
}


def table_load_types(spec: dict[str, Any]) -> set[str]:
    """The load types that take a manifest table (as tap-postgres decides)."""
    query = str(spec.get("import_query", ""))
    incremental = (
        "{BEGIN_TIMESTAMP}" in query
        or "{EXECUTION_DATE}" in query
        or spec.get("incremental_type") is not None
    )
    types = {"incremental" if incremental else "full"}
    if not spec.get("deletes_exempt", False):
        types.add("deletes")
    return types


def task_command(config: dict[str, Any], manifest: Path, table: str, load_type: str) -> list[str]:
    """The singer-run command (program and arguments) of one task."""
    tap = [
        config.get("tap", "tap-postgres"),
        "--manifest",
        str(manifest),
        "--load-type",
        load_type,
        "--table",
        table,
        "--execution-date",
        "{{ data_interval_end | ts }}",
    ]
    if config.get("tap_config"):
        tap += ["--config", str(config["tap_config"])]
    command = [
        config.get("singer_run", "singer-run"),
        "--job",
        f"{manifest.stem}.{table}",
        "--tap",
        shlex.join(tap),
        "--target",
        config["target"],
        "--state-backend",
        config["state_backend"],
    ]
    if config.get("state_table"):
        command += ["--state-table", config["state_table"]]
    return command


def _operator(config: dict[str, Any], task_id: str, command: list[str], dag: DAG):
    common = {
        "task_id": task_id,
        "dag": dag,
        "retries": int(config.get("retries", 2)),
        "retry_delay": timedelta(minutes=int(config.get("retry_delay_minutes", 5))),
    }
    if config.get("pool"):
        common["pool"] = config["pool"]
    if config.get("operator", "bash") == "kubernetes":
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

        options = dict(config.get("kubernetes", {}))
        image = options.pop("image")
        return KubernetesPodOperator(
            name=task_id.replace("_", "-"),
            image=image,
            cmds=[command[0]],
            arguments=command[1:],
            **options,
            **common,
        )
    try:  # Airflow 3 (the standard provider)
        from airflow.providers.standard.operators.bash import BashOperator
    except ImportError:  # Airflow 2
        from airflow.operators.bash import BashOperator
    env = {str(k): str(v) for k, v in (config.get("env") or {}).items()}
    return BashOperator(
        bash_command=shlex.join(command),
        env=env or None,
        append_env=True,
        **common,
    )


def create_dags(config: dict[str, Any]) -> dict[str, DAG]:
    """One DAG per manifest and load type, one task per table it takes."""
    dags: dict[str, DAG] = {}
    schedules = {**DEFAULT_SCHEDULES, **(config.get("schedules") or {})}
    load_types = config.get("load_types", ["incremental", "full"])
    for name in load_types:
        if name not in LOAD_TYPES:
            raise ValueError(f"unknown load type {name!r}: one of {', '.join(LOAD_TYPES)}")
    for manifest_path in config["manifests"]:
        manifest = Path(manifest_path)
        tables = (yaml.safe_load(manifest.read_text()) or {}).get("tables") or {}
        for load_type in load_types:
            dag_id = f"{manifest.stem}_{load_type}"
            dag = DAG(
                dag_id=dag_id,
                schedule=schedules[load_type],
                start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
                catchup=False,
                max_active_runs=1,
                max_active_tasks=int(config.get("max_active_tasks", 8)),
                tags=["singer", "postgres_pipeline", load_type],
                doc_md=f"`{manifest.name}`, `--load-type {load_type}`, one task per table.",
            )
            for table, spec in tables.items():
                if load_type in table_load_types(spec or {}):
                    _operator(config, table, task_command(config, manifest, table, load_type), dag)
            dags[dag_id] = dag
    return dags


def load_config(path: str) -> dict[str, Any]:
    """Reads the factory's configuration (YAML or JSON)."""
    text = Path(path).read_text()
    return json.loads(text) if path.endswith(".json") else yaml.safe_load(text)


if os.environ.get("SINGER_DAGS_CONFIG"):
    globals().update(create_dags(load_config(os.environ["SINGER_DAGS_CONFIG"])))
