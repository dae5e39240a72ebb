"""A team's tracking server, for real: PostgreSQL (backend store), an S3 server (moto) and
``mlflow server --serve-artifacts`` in front of both, all on 127.0.0.1, started once per session
and killed in teardown. docs/how-to/team-server.md gives the same commands by hand."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import wait_http

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUCKET = "nbgov-artifacts"
#: moto accepts any credentials; they only go to the S3 server, never to MLflow runs
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _port() -> int:
    from tests.conftest import free_port

    return free_port()


def pg_bin() -> Path | None:
    """Debian's versioned PostgreSQL bin folder (initdb and pg_ctl are not on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server's commands as the postgres user
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class TeamServer:
    """Where the team's services listen."""

    tracking_uri: str
    backend_uri: str
    s3_endpoint: str
    artifacts: str  # s3://bucket/prefix behind the tracking server
    startup_s: float

    def env(self) -> dict[str, str]:
        """What a client (nbgov, a notebook's kernel) needs: the tracking URI only; artifacts go
        through the tracking server."""
        return {"MLFLOW_TRACKING_URI": self.tracking_uri}


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="session")
def team_server():
    """PostgreSQL + moto S3 + mlflow server (served artifacts in s3://BUCKET/mlflow)."""
    pg = pg_bin()
    moto = BIN / "moto_server"
    if pg is None or not moto.exists():
        pytest.skip("needs PostgreSQL (apt-get install postgresql) and the team extra (pip install -e '.[team]')")
    started = time.monotonic()
    # pytest's tmp dirs are private to root; the postgres user needs its own folder
    base = Path(tempfile.mkdtemp(prefix="nbgov-team-"))
    data, logs = base / "pg", base / "logs"
    data.mkdir()
    logs.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    procs: list[subprocess.Popen] = []
    pg_port, s3_port, http_port = _port(), _port(), _port()
    pg_started = False
    try:
        # -N: no fsync; a test database need not survive a crash
        subprocess.run(_as_postgres([str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "mlflow", "-N"]),
                       check=True, capture_output=True)
        subprocess.run(_as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w",
                                     "-o", f"-p {pg_port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
                                     "start"]), check=True, capture_output=True)
        pg_started = True
        subprocess.run([str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "mlflow", "mlflow"],
                       check=True, capture_output=True)

        s3_log = logs / "moto.log"
        moto_proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(s3_port)], stdout=s3_log.open("w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(moto_proc)
        s3 = f"http://127.0.0.1:{s3_port}"
        wait_http(f"{s3}/moto-api/", moto_proc, 30, s3_log)
        import boto3

        boto3.client("s3", endpoint_url=s3, **{k.lower(): v for k, v in S3_ENV.items()
                                               if k != "AWS_DEFAULT_REGION"},
                     region_name="us-east-1").create_bucket(Bucket=BUCKET)

        backend = f"postgresql+psycopg2://mlflow@127.0.0.1:{pg_port}/mlflow"
        artifacts = f"s3://{BUCKET}/mlflow"
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        # job execution off: otherwise the server starts huey workers (8 processes, 2.4 GB)
        env.update({**S3_ENV, "MLFLOW_S3_ENDPOINT_URL": s3, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        mlflow_log = logs / "mlflow.log"
        server = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--backend-store-uri", backend, "--serve-artifacts",
             "--artifacts-destination", artifacts, "--host", "127.0.0.1", "--port", str(http_port),
             "--workers", "1"],
            env=env, stdout=mlflow_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(server)
        uri = f"http://127.0.0.1:{http_port}"
        wait_http(f"{uri}/health", server, 120, mlflow_log)
        yield TeamServer(uri, backend, s3, artifacts, time.monotonic() - started)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        if pg_started:
            subprocess.run(_as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def s3_keys(server: TeamServer) -> list[str]:
    """Every object key in the artifact bucket."""
    import boto3

    client = boto3.client("s3", endpoint_url=server.s3_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    keys, token = [], None
    while True:
        kwargs = {"Bucket": BUCKET, **({"ContinuationToken": token} if token else {})}
        page = client.list_objects_v2(**kwargs)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys
        token = page["NextContinuationToken"]
