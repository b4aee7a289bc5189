"""fakesnow behind a small wrapper, so snowflake-connector-rs can talk to it.

fakesnow (pinned: fakesnow[server]==0.12.1) emulates Snowflake on DuckDB and
serves Snowflake's HTTP API, but answers in ways the Rust crate does not
accept. This wrapper reuses fakesnow's own handlers and fixes, per
../../../shared/notes/snowflake-double.md (the project's measurements):

1. Arrow rowsets (`rowsetBase64`) are re-encoded as Snowflake's JSON rowset:
   every cell a string or null; timestamps `<epoch seconds>.<fraction>`
   (TIMESTAMP_TZ: followed by a space and the offset in minutes + 1440),
   DATE as days since the epoch, TIME as `<seconds>.<fraction>`, BOOLEAN as
   "1"/"0", BINARY as upper-case hex; `queryResultFormat: "json"`.
2. NULL timestamps (a struct whose `epoch` is null) render as null.
3. Error and PUT responses get a `queryId` (the crate requires one).
4. A login body without `SESSION_PARAMETERS` is accepted.
5. MERGE inside an explicit transaction (BEGIN ... MERGE ... COMMIT):
   fakesnow runs a MERGE through a temporary `merge_candidates` table and
   records that table's comment and text lengths in its `_fs_global`
   catalog, which DuckDB refuses inside a transaction that already wrote
   to the user's database. Those records are skipped for that table.
6. `COPY INTO t FROM @internal_stage[/path] FILES=(...)`: fakesnow builds
   each file's URL from the stage's location, which for an internal stage
   is a local directory with no URL scheme, and fails with "invalid URL
   prefix"; without FILES= it works. Scheme-less (internal) locations get
   the file names joined as paths.
7. `REMOVE @stage[/path]` (not in fakesnow): deletes the internal stage's
   files under that path and answers Snowflake's `name`/`result` rows.
8. A client killed inside a transaction: its session never ends in
   fakesnow, and DuckDB fails every later write to the rows it touched
   ("Conflict on update!"). Snowflake aborts such a transaction once its
   session is gone; here a login to an isolated database rolls back the
   open transactions of that database's sessions idle for over a second
   since their last statement ended (a live client inside a transaction
   sends its next statement sooner; a client that failed logs in again
   after its retry wait); a statement that fails with "Conflict on update!"
   (a bare HTTP 500 from fakesnow) also waits (up to 4 s) for such a
   transaction to go stale and rolls it back, so the client's retry on the
   same session finds the rows free.
9. `SHOW PARAMETERS LIKE '<name>' IN SESSION` (not in fakesnow): answers
   the session parameter its login set (such as QUERY_TAG), in Snowflake's
   columns (`key`, `value`, `default`, `level`, `description`, `type`).

Two test helpers, driven by login session parameters (ignored by fakesnow):

- `FAKESNOW_DB_PATH = ":isolated:<name>"`: an in-memory database private
  to the sessions that log in with the same `<name>` (a test that
  reconnects, or runs the target twice, keeps its data); plain
  `":isolated:"` is fakesnow's own: a fresh database per session.
- `SINGER_FAULTS = [{"match": REGEX, "status": 503, "code": "...",
  "message": "...", "times": 1, "skip": 0}]`: the session's statements
  matching REGEX (case-insensitive, searched) fail: after `skip` matches,
  the next `times` matches fail with HTTP `status` (200: a Snowflake error
  with `code`/`message`, `success: false`), without running. The counters
  belong to the database (the first login's list wins), so a client that
  logs in again after a failure does not meet the same faults anew.
- `SINGER_PUT_ANSWER = {"stageInfo": {...}, "encryptionMaterial": {...}}`:
  the database's PUT statements are answered with this stage (e.g. an S3
  stage on a local moto server, with a master key) instead of fakesnow's
  own, so a client's S3 upload path and client-side encryption run for
  real; files put there are not in fakesnow's stages (a COPY of them finds
  nothing).

Run: `python wrapper.py [--host 127.0.0.1] [--port 0]`. It prints
`READY <port>` on stdout once it listens (port 0: a free one), and exits when its stdin closes
(the test process that started it went away).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import importlib
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import pyarrow as pa
import uvicorn
from fakesnow.expr import normalise_ident
from fakesnow.instance import FakeSnow
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# `fakesnow.server` the attribute is a function; the module is what we need.
fs_server = importlib.import_module("fakesnow.server")
fs_info_schema = importlib.import_module("fakesnow.info_schema")

_NO_OP_SQL = "SELECT 1 WHERE FALSE"
_insert_text_lengths_sql = fs_info_schema.insert_text_lengths_sql
_insert_table_comment_sql = fs_info_schema.insert_table_comment_sql


def _text_lengths_sql(catalog: str, schema: str, table: str, *rest: Any) -> str:
    if table.lower() == "merge_candidates":
        return _NO_OP_SQL
    return _insert_text_lengths_sql(catalog, schema, table, *rest)


def _table_comment_sql(catalog: str, schema: str, table: str, *rest: Any) -> str:
    if table.lower() == "merge_candidates":
        return _NO_OP_SQL
    return _insert_table_comment_sql(catalog, schema, table, *rest)


# Fix 5 (see the module docs).
fs_info_schema.insert_text_lengths_sql = _text_lengths_sql
fs_info_schema.insert_table_comment_sql = _table_comment_sql

fs_copy_into = importlib.import_module("fakesnow.copy_into")
fs_stage = importlib.import_module("fakesnow.transforms.stage")
_source_urls = fs_copy_into._source_urls


def _internal_source_urls(source: str, files: list[str]) -> list[str]:
    if fs_stage.is_internal(source):
        return [os.path.join(source, f) for f in files] or [source]
    return _source_urls(source, files)


# Fix 6.
fs_copy_into._source_urls = _internal_source_urls

_REMOVE = re.compile(r"^\s*(?:REMOVE|RM)\s+@([^\s;]+)\s*;?\s*$", re.IGNORECASE)


def _remove(token: str, target: str) -> Response:
    """Fix 7: REMOVE @stage[/path] on an internal stage."""
    conn = fs_server.sessions[token]
    stage_var, _, path = target.partition("/")
    database, schema, name = fs_stage.parts_from_var(stage_var, conn.database, conn.schema)
    root = fs_stage.internal_dir(f"{database}.{schema}.{name}")
    removed = []
    for directory, _dirs, files in os.walk(root):
        for file in files:
            full = os.path.join(directory, file)
            relative = os.path.relpath(full, root)
            if relative.startswith(path):
                os.remove(full)
                removed.append([f"{name.lower()}/{relative}", "removed"])
    text = {"type": "text", "nullable": True, "database": "", "schema": "", "table": "",
            "byteLength": 16777216, "length": 16777216, "scale": None, "precision": None, "collation": None}
    return JSONResponse({
        "data": {
            "rowtype": [{**text, "name": "name"}, {**text, "name": "result"}],
            "rowset": removed, "total": len(removed), "returned": len(removed),
            "queryId": _query_id(), "queryResultFormat": "json",
        },
        "success": True,
    })

NAMED_DBS: dict[str, FakeSnow] = {}
NAMED_LOCK = threading.Lock()
# database key (the FAKESNOW_DB_PATH value, else the token) -> fault dicts
# (mutable counters), shared by every session of that database so a client
# that logs in again does not get the faults anew
FAULTS: dict[str, list[dict[str, Any]]] = {}
# token -> database key
SESSION_DB: dict[str, str] = {}
# token -> when its last statement came (time.monotonic())
LAST_SEEN: dict[str, float] = {}
# Sessions whose statement is running now.
EXECUTING: set[str] = set()
# database key -> the answer to PUT statements (SINGER_PUT_ANSWER)
PUT_ANSWERS: dict[str, dict[str, Any]] = {}
# token -> the session parameters its login set (SHOW PARAMETERS ... IN SESSION)
SESSION_PARAMS: dict[str, dict[str, Any]] = {}
_SHOW_PARAMETER = re.compile(r"\s*SHOW\s+PARAMETERS\s+LIKE\s+'([^']*)'\s+IN\s+SESSION\s*;?\s*$", re.IGNORECASE)


def _show_parameter(token: str, pattern: str) -> Response:
    """Fix 9: `SHOW PARAMETERS LIKE '<name>' IN SESSION` for parameters the
    session's login set (Snowflake's columns; fakesnow has no SHOW
    PARAMETERS). A test reads QUERY_TAG back this way, as on Snowflake."""
    params = SESSION_PARAMS.get(token, {})
    rows = [
        [name, str(value), "", "SESSION", "", "STRING"]
        for name, value in params.items()
        if name.upper() == pattern.upper()
    ]
    text = {"type": "text", "nullable": True, "database": "", "schema": "", "table": "",
            "byteLength": 16777216, "length": 16777216, "scale": None, "precision": None, "collation": None}
    names = ["key", "value", "default", "level", "description", "type"]
    return JSONResponse({
        "data": {
            "rowtype": [{**text, "name": n} for n in names],
            "rowset": rows, "total": len(rows), "returned": len(rows),
            "queryId": _query_id(), "queryResultFormat": "json",
        },
        "success": True,
    })


def _query_id() -> str:
    return f"wrapper-{uuid.uuid4()}"


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body) if body else {}


async def login_request(request: Request) -> Response:
    body_json = await _json_body(request)
    data = body_json.get("data") or {}
    params: dict[str, Any] = data.get("SESSION_PARAMETERS") or {}
    database = (d := request.query_params.get("databaseName")) and normalise_ident(d)
    schema = (s := request.query_params.get("schemaName")) and normalise_ident(s)
    nop_regexes = params.get("nop_regexes")
    autocommit = params.get("AUTOCOMMIT", True)
    db_path = params.get("FAKESNOW_DB_PATH")
    if db_path == ":isolated:":
        instance = FakeSnow()
    elif isinstance(db_path, str) and db_path.startswith(":isolated:"):
        with NAMED_LOCK:
            instance = NAMED_DBS.get(db_path)
            if instance is None:
                instance = NAMED_DBS[db_path] = FakeSnow()
    elif db_path:
        instance = FakeSnow(db_path=db_path)
    else:
        instance = fs_server.shared_fs
    # FakeSnow.connect creates the database and schema; one DuckDB instance
    # is not safe for concurrent DDL from two threads, so serialise logins.
    with NAMED_LOCK:
        conn = instance.connect(database, schema, nop_regexes=nop_regexes, autocommit=autocommit)
    token = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
    fs_server.sessions[token] = conn
    SESSION_PARAMS[token] = {k: v for k, v in params.items() if k.upper() == k}
    if isinstance(db_path, str) and db_path.startswith(":isolated:") and db_path != ":isolated:":
        # Fix 8.
        _abort_stale_transactions(db_path, token)
    faults = params.get("SINGER_FAULTS") or []
    if isinstance(faults, str):
        faults = json.loads(faults)
    key = db_path if isinstance(db_path, str) and db_path.startswith(":isolated:") and db_path != ":isolated:" else token
    SESSION_DB[token] = key
    with NAMED_LOCK:
        if key not in FAULTS:
            FAULTS[key] = [dict(f) for f in faults]
        put_answer = params.get("SINGER_PUT_ANSWER")
        if isinstance(put_answer, str):
            put_answer = json.loads(put_answer)
        if put_answer and key not in PUT_ANSWERS:
            PUT_ANSWERS[key] = put_answer
    return JSONResponse(
        {
            "data": {
                "token": token,
                "serverVersion": fs_server.SERVER_VERSION,
                "parameters": [
                    {"name": "AUTOCOMMIT", "value": autocommit},
                    {"name": "CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY", "value": 3600},
                    {"name": "CLIENT_STAGE_ARRAY_BINDING_THRESHOLD", "value": 0},
                ],
                "sessionInfo": {"databaseName": database, "schemaName": schema},
            },
            "success": True,
        }
    )


def _abort_stale_transactions(key: str, token: str) -> bool:
    """Fix 8: rolls back the open transactions of database `key`'s other
    sessions idle for over a second since their last statement ended and
    not running one (a killed client's; a live client inside a transaction
    sends its next statement sooner). Runs at every login, and when a
    statement meets such a transaction's rows ("Conflict on update!").
    Returns whether it rolled one back."""
    now = time.monotonic()
    aborted = False
    for other, other_key in list(SESSION_DB.items()):
        if other == token or other_key != key:
            continue
        old = fs_server.sessions.get(other)
        idle = now - LAST_SEEN.get(other, now)
        if old is None or other in EXECUTING or idle <= 1.0:
            continue
        # fakesnow tracks `_in_transaction` only for sessions that log in
        # with autocommit off; a client's explicit BEGIN in an autocommit
        # session opens a DuckDB transaction all the same. So try the
        # rollback: DuckDB refuses it when no transaction is open.
        try:
            old._duck_conn.rollback()
        except Exception:  # noqa: BLE001 - no transaction open: nothing to abort
            continue
        old._in_transaction = False
        aborted = True
    return aborted


def _fault_for(request: Request, sql: str) -> dict[str, Any] | None:
    auth = request.headers.get("Authorization") or ""
    token = auth[17:-1]
    for fault in FAULTS.get(SESSION_DB.get(token, token), []):
        if not re.search(fault.get("match", ""), sql, re.IGNORECASE | re.DOTALL):
            continue
        if fault.get("skip", 0) > 0:
            fault["skip"] -= 1
            continue
        if fault.get("times", 1) > 0:
            fault["times"] = fault.get("times", 1) - 1
            return fault
    return None


async def query_request(request: Request) -> Response:
    body_json = await _json_body(request)
    sql = body_json.get("sqlText") or ""
    fault = _fault_for(request, sql)
    if fault is not None:
        status = int(fault.get("status", 200))
        code = str(fault.get("code", "000603"))
        message = str(fault.get("message", "injected fault"))
        payload = {
            "data": {"queryId": _query_id(), "errorCode": code, "sqlState": "XX000"},
            "code": code,
            "message": message,
            "success": False,
        }
        return JSONResponse(payload, status_code=status)
    token = (request.headers.get("Authorization") or "")[17:-1]
    LAST_SEEN[token] = time.monotonic()
    put_answer = PUT_ANSWERS.get(SESSION_DB.get(token, token))
    if put_answer is not None and re.match(r"\s*PUT\s", sql, re.IGNORECASE):
        source = re.search(r"'file://([^']*)'", sql)
        data = {
            "command": "UPLOAD",
            "src_locations": [source.group(1) if source else ""],
            "parallel": 4,
            "autoCompress": False,
            "sourceCompression": "gzip",
            "overwrite": True,
            "queryId": _query_id(),
            **put_answer,
        }
        return JSONResponse({"data": data, "success": True})
    if (show := _SHOW_PARAMETER.match(sql)) is not None:
        return _show_parameter(token, show.group(1))
    if (remove := _REMOVE.match(sql)) is not None:
        auth = request.headers.get("Authorization") or ""
        return _remove(auth[17:-1], remove.group(1))
    # A session whose statement is running is not idle, however long the
    # statement (a killed client's MERGE runs to its end here).
    EXECUTING.add(token)
    try:
        response = await fs_server.query_request(request)
    finally:
        EXECUTING.discard(token)
        # Idle time counts from the end of a statement.
        LAST_SEEN[token] = time.monotonic()
    payload = json.loads(bytes(response.body))
    key = SESSION_DB.get(token, token)
    if response.status_code == 500 and key.startswith(":isolated:"):
        # fakesnow answers an unhandled DuckDB error (such as "Conflict on
        # update!") with a bare 500. When it comes from rows a killed
        # client's transaction holds, Snowflake would
        # have this statement wait until that transaction is aborted. Abort
        # it as soon as it is stale (fix 8), so that the client's retry
        # finds the rows free; this statement still fails.
        for _ in range(40):
            if _abort_stale_transactions(key, token):
                break
            await asyncio.sleep(0.1)
    data = payload.get("data")
    if not isinstance(data, dict):
        data = {}
        payload["data"] = data
    if not payload.get("success") or "queryId" not in data:
        data.setdefault("queryId", _query_id())
    if data.get("queryResultFormat") == "arrow":
        data["rowset"] = _arrow_to_json_rowset(data.get("rowsetBase64") or "", data.get("rowtype") or [])
        data["queryResultFormat"] = "json"
        data.pop("rowsetBase64", None)
        data["total"] = len(data["rowset"])
        data["returned"] = len(data["rowset"])
    return JSONResponse(payload, status_code=response.status_code)


def _arrow_to_json_rowset(b64: str, rowtype: list[dict[str, Any]]) -> list[list[str | None]]:
    if not b64:
        return []
    reader = pa.ipc.open_stream(base64.b64decode(b64))
    table = reader.read_all()
    columns = []
    for index, column in enumerate(table.columns):
        info = rowtype[index] if index < len(rowtype) else {}
        columns.append([_cell(v, info) for v in column.to_pylist()])
    return [list(row) for row in zip(*columns)] if columns else []


def _fraction(total_nanos: int, scale: int) -> str:
    sign = "-" if total_nanos < 0 else ""
    seconds, nanos = divmod(abs(total_nanos), 1_000_000_000)
    if scale <= 0:
        return f"{sign}{seconds}"
    digits = f"{nanos:09d}"[:scale].ljust(scale, "0")
    return f"{sign}{seconds}.{digits}"


def _cell(value: Any, info: dict[str, Any]) -> str | None:
    if value is None:
        return None
    kind = str(info.get("type", "")).lower()
    scale = info.get("scale")
    scale = 9 if scale is None else int(scale)
    if kind.startswith("timestamp"):
        if not isinstance(value, dict) or value.get("epoch") is None:
            return None
        total = int(value["epoch"]) * 1_000_000_000 + int(value.get("fraction") or 0)
        text = _fraction(total, scale)
        if kind == "timestamp_tz":
            text += f" {int(value.get('timezone') or 1440)}"
        return text
    if kind == "date":
        return str((value - _EPOCH_DATE).days)
    if kind == "time":
        # nanoseconds since midnight (an int), or a datetime.time
        if isinstance(value, int):
            return _fraction(value, scale)
        nanos = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000_000 + value.microsecond * 1000
        return _fraction(nanos, scale)
    if kind == "boolean":
        return "1" if value else "0"
    if kind == "binary":
        return bytes(value).hex().upper()
    if kind == "real":
        f = float(value)
        if f != f:
            return "NaN"
        if f in (float("inf"), float("-inf")):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if kind == "fixed":
        if isinstance(value, Decimal):
            return format(value, "f")
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


import datetime as _dt  # noqa: E402

_EPOCH_DATE = _dt.date(1970, 1, 1)


routes = [
    Route("/session/v1/login-request", login_request, methods=["POST"]),
    Route("/queries/v1/query-request", query_request, methods=["POST"]),
] + [r for r in fs_server.app.routes if r.path not in ("/session/v1/login-request", "/queries/v1/query-request")]

app = Starlette(debug=False, routes=routes)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port, reported on stdout")
    args = parser.parse_args()
    # Bind first (port 0 = a free one, no race), report, then serve: the
    # listening socket queues connections until uvicorn accepts them.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)

    def watch_stdin() -> None:
        # The test process holds our stdin; when it exits, stop.
        try:
            sys.stdin.read()
        finally:
            server.should_exit = True

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"READY {port}", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
