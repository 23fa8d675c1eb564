"""The whole cluster as one object: start it, ask who is primary, hurt a node, stop it.

Used in-process by ``python -m chaos failover`` and by the supervisor process that
``python -m chaos cluster up`` leaves running. Whoever holds a :class:`Cluster` is the
parent of its Patronis and, being a child subreaper (:mod:`chaos.cluster.reaper`), of
every PostgreSQL a killed Patroni leaves behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from typing import Any

import httpx

from chaos.cluster.layout import (
    DATABASE,
    TEMPLATES,
    Layout,
    Node,
    check_config,
    check_pgpass,
    etcd_config,
    haproxy_config,
    patroni_config,
)
from chaos.cluster.nodes import (
    Started,
    as_postgres,
    patroni_command,
    signal_postgres,
    stop_postgres,
)
from chaos.cluster.reaper import Reaper, become_subreaper

__all__ = ["Cluster", "ClusterError"]

HEALTHY_TIMEOUT_SECONDS = 90.0
HTTP_TIMEOUT_SECONDS = 1.0
POLL_SECONDS = 0.2


class ClusterError(RuntimeError):
    pass


def port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Cluster:
    """Three etcd members, three Patroni/PostgreSQL nodes and HAProxy, under
    ``layout.state``; HAProxy's HTTP port spreads over ``caja_hosts`` caja hosts."""

    def __init__(self, layout: Layout, caja_hosts: int = 2) -> None:
        self.layout = layout
        self.caja_hosts = caja_hosts
        self.logs = layout.state / "logs"
        self.etcd: dict[int, Started] = {}
        self.patroni: dict[int, Started] = {}
        self.haproxy: Started | None = None
        self._reaper = Reaper(self._owned)
        self._frozen: dict[int, list[int]] = {}

    def _owned(self) -> set[int]:
        started = [*self.etcd.values(), *self.patroni.values(), self.haproxy]
        return {program.pid for program in started if program is not None}

    # Start and stop.

    def start(self) -> None:
        """Start every process (ports must be free); return once they are started."""
        taken = [port for port in self.layout.ports(self.caja_hosts) if port_taken(port)]
        if taken:
            raise ClusterError(f"ports already in use: {taken}; choose another --base-port")
        become_subreaper()
        self._reaper.start()
        self._prepare()
        for node in self.layout.nodes:
            self._start_etcd(node)
        self._wait_etcd()
        for node in self.layout.nodes:
            self.start_patroni(node)
        self.haproxy = Started(
            "haproxy",
            ["haproxy", "-db", "-f", str(self.layout.state / "haproxy.cfg")],
            self.logs / "haproxy.log",
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            owner=False,
        )
        self._save_pids()

    def _prepare(self) -> None:
        state = self.layout.state
        self.logs.mkdir(parents=True, exist_ok=True)
        state.chmod(0o755)
        self.logs.chmod(0o777)
        for node in self.layout.nodes:
            node.home.mkdir(exist_ok=True)
            (node.home / "etcd").mkdir(exist_ok=True)
            (node.home / "etcd").chmod(0o700)
            (node.home / "patroni.yml").write_text(patroni_config(self.layout, node))
            (node.home / "etcd.yml").write_text(etcd_config(self.layout, node))
            if as_postgres():
                shutil.chown(node.home, "postgres", "postgres")
                shutil.chown(node.home / "patroni.yml", "postgres", "postgres")
            node.home.chmod(0o700 if as_postgres() else 0o755)
        (state / "haproxy.cfg").write_text(haproxy_config(self.layout, self.caja_hosts))
        self._prepare_check()

    def _prepare_check(self) -> None:
        """HAProxy's check of the write port: the script, its settings, its password file
        (read only by HAProxy's user, who runs it)."""
        state = self.layout.state
        script = state / "primary-check.sh"
        shutil.copyfile(TEMPLATES / "primary-check.sh", script)
        script.chmod(0o755)
        (state / "primary-check.conf").write_text(check_config(self.layout))
        pgpass = state / "check.pgpass"
        pgpass.write_text(check_pgpass(self.layout))
        pgpass.chmod(0o600)

    def _start_etcd(self, node: Node) -> None:
        self.etcd[node.n] = Started(
            f"etcd{node.n}",
            ["etcd", "--config-file", str(node.home / "etcd.yml")],
            self.logs / f"etcd{node.n}.log",
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            owner=False,
        )

    def _wait_etcd(self) -> None:
        deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
        for node in self.layout.nodes:
            url = f"http://127.0.0.1:{node.etcd_client_port}/health"
            while not self._answers(url, lambda body: body.get("health") == "true"):
                if not self.etcd[node.n].running():
                    raise ClusterError(f"etcd{node.n} exited; log: {self.etcd[node.n].log}")
                if time.monotonic() > deadline:
                    raise ClusterError("etcd not healthy in time")
                time.sleep(POLL_SECONDS)

    def start_patroni(self, node: Node) -> None:
        """Start (or start again) the Patroni of ``node``."""
        command, extra = patroni_command()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(node.home),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            **extra,
        }
        self.patroni[node.n] = Started(
            f"patroni{node.n}",
            [*command, str(node.home / "patroni.yml")],
            self.logs / f"patroni{node.n}.log",
            env=env,
            owner=True,
        )
        self._save_pids()

    def stop(self) -> None:
        """Stop everything started here, and any PostgreSQL left running; keep the files."""
        self.thaw_all()
        if self.haproxy is not None:
            self.haproxy.stop()
        for program in self.patroni.values():
            program.stop()
        for node in self.layout.nodes:
            stop_postgres(node.data_dir)
        for program in self.etcd.values():
            program.stop()
        self._reaper.reap_once()
        self._reaper.stop()
        (self.layout.state / "pids.json").unlink(missing_ok=True)

    def _save_pids(self) -> None:
        """The pids, so that ``cluster down`` can stop what a dead supervisor left."""
        pids = {program.name: program.pid for program in self._programs()}
        (self.layout.state / "pids.json").write_text(json.dumps(pids))

    def _programs(self) -> list[Started]:
        return [*self.etcd.values(), *self.patroni.values(), *filter(None, [self.haproxy])]

    # What the cluster says.

    @staticmethod
    def _answers(url: str, accept: Any) -> bool:
        try:
            answer = httpx.get(url, timeout=HTTP_TIMEOUT_SECONDS)
            return answer.status_code == 200 and bool(accept(answer.json()))
        except (httpx.HTTPError, ValueError):
            return False

    def members(self) -> list[dict[str, Any]]:
        """Patroni's ``GET /cluster`` members, from the first node that answers."""
        for node in self.layout.nodes:
            try:
                answer = httpx.get(f"{node.rest_url}/cluster", timeout=HTTP_TIMEOUT_SECONDS)
                members: list[dict[str, Any]] = answer.json().get("members", [])
                return members
            except (httpx.HTTPError, ValueError):
                continue
        return []

    def primary(self) -> Node | None:
        """The node whose Patroni answers ``GET /primary`` with 200, if exactly one does."""
        found = [
            node
            for node in self.layout.nodes
            if self._answers(f"{node.rest_url}/primary", lambda body: True)
        ]
        return found[0] if len(found) == 1 else None

    def healthy(self) -> bool:
        """A leader running, two streaming replicas of which one synchronous, and a
        writable primary behind HAProxy's write port."""
        members = self.members()
        roles = sorted(member.get("role", "") for member in members)
        states = {member.get("state") for member in members}
        if roles != ["leader", "replica", "sync_standby"]:
            return False
        return states <= {"running", "streaming"} and port_taken(self.layout.write_port)

    def wait_healthy(self, timeout: float = HEALTHY_TIMEOUT_SECONDS) -> float:
        """Wait until :meth:`healthy`; the seconds it took."""
        started = time.monotonic()
        while not self.healthy():
            for program in self._programs():
                if program.name.startswith(("etcd", "haproxy")) and not program.running():
                    raise ClusterError(f"{program.name} exited; log: {program.log}")
            if time.monotonic() - started > timeout:
                raise ClusterError(
                    f"cluster not healthy after {timeout:.0f} s: {self.members()}; "
                    f"logs: {self.logs}"
                )
            time.sleep(POLL_SECONDS)
        return time.monotonic() - started

    def ensure_database(self, name: str = DATABASE) -> None:
        """Create the database caja uses, through the write port, unless it exists."""
        import psycopg

        url = self.layout.write_url("postgres")
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            found = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if found is None:
                connection.execute(f'CREATE DATABASE "{name}"')

    # Faults.

    def node(self, n: int) -> Node:
        return self.layout.nodes[n - 1]

    def kill_postgres(self, node: Node) -> list[int]:
        """SIGKILL the postmaster of ``node`` (its backends exit on their own)."""
        return signal_postgres(node.data_dir, signal.SIGKILL)

    def kill_patroni(self, node: Node) -> None:
        """SIGKILL the Patroni of ``node``; its PostgreSQL goes on running."""
        self.patroni[node.n].kill()

    def freeze_postgres(self, node: Node) -> None:
        """SIGSTOP every process of ``node``'s PostgreSQL, as a paused machine would."""
        self._frozen[node.n] = signal_postgres(node.data_dir, signal.SIGSTOP, whole=True)

    def thaw(self, node: Node) -> None:
        for pid in self._frozen.pop(node.n, []):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def thaw_all(self) -> None:
        for n in list(self._frozen):
            self.thaw(self.node(n))
