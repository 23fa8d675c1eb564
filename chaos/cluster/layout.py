"""Where the cluster lives: its loopback ports and its files, and the configuration files
rendered from the templates in deploy/cluster/.

Every port is below 32768: above it, the kernel hands out ports to outgoing connections,
and a node whose port was taken by one cannot start again (it shows as running while
broken).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NODES", "TEMPLATES", "Layout", "Node", "check_config", "check_pgpass"]

TEMPLATES = Path(__file__).resolve().parents[2] / "deploy" / "cluster"
NODES = 3
HIGHEST_PORT = 32767
DATABASE = "caja"
BIN_DIR = "/usr/lib/postgresql/15/bin"


@dataclass(frozen=True, slots=True)
class Node:
    """One PostgreSQL node and its Patroni, and one etcd member: ``n`` is 1, 2 or 3."""

    n: int
    home: Path
    pg_port: int
    rest_port: int
    etcd_client_port: int
    etcd_peer_port: int

    @property
    def name(self) -> str:
        return f"pg{self.n}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"


@dataclass(frozen=True, slots=True)
class Layout:
    """Ports from ``base`` up, files under ``state``.

    base+0..2 etcd clients, base+3..5 etcd peers, base+10..12 PostgreSQL,
    base+20..22 Patroni's REST API, base+30 HAProxy's write port, base+31 its HTTP
    port, base+32 its statistics, base+40.. the caja hosts a run starts.
    """

    state: Path
    base: int

    def __post_init__(self) -> None:
        if not 1024 <= self.base <= HIGHEST_PORT - 50:
            raise ValueError(f"base port {self.base}: give one from 1024 to {HIGHEST_PORT - 50}")

    @property
    def nodes(self) -> list[Node]:
        return [
            Node(
                n,
                self.state / f"pg{n}",
                self.base + 9 + n,
                self.base + 19 + n,
                self.base - 1 + n,
                self.base + 2 + n,
            )
            for n in range(1, NODES + 1)
        ]

    @property
    def write_port(self) -> int:
        return self.base + 30

    @property
    def http_port(self) -> int:
        return self.base + 31

    @property
    def stats_port(self) -> int:
        return self.base + 32

    def caja_ports(self, hosts: int) -> list[int]:
        return [self.base + 40 + index for index in range(hosts)]

    @property
    def operator_port(self) -> int:
        return self.base + 49

    def ports(self, caja_hosts: int) -> list[int]:
        """Every port the cluster (and ``caja_hosts`` caja hosts) listens on."""
        per_node = [
            port
            for node in self.nodes
            for port in (node.pg_port, node.rest_port, node.etcd_client_port, node.etcd_peer_port)
        ]
        own = [self.write_port, self.http_port, self.stats_port, self.operator_port]
        return per_node + own + self.caja_ports(caja_hosts)

    def password(self, role: str) -> str:
        """The password of ``role``: made once, kept in the state directory."""
        path = self.state / f"{role}.password"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(18))
            path.chmod(0o600)
        return path.read_text().strip()

    def write_url(self, database: str = DATABASE) -> str:
        """The URL through HAProxy's write port: always the current primary."""
        secret = self.password("superuser")
        return f"postgresql://postgres:{secret}@127.0.0.1:{self.write_port}/{database}"

    def multi_host_url(self, database: str = DATABASE) -> str:
        """A libpq multi-host URL listing every node; the client picks the writable one."""
        secret = self.password("superuser")
        hosts = ",".join(f"127.0.0.1:{node.pg_port}" for node in self.nodes)
        return f"postgresql://postgres:{secret}@{hosts}/{database}?target_session_attrs=read-write"


def _render(template: str, values: dict[str, object]) -> str:
    text = (TEMPLATES / template).read_text()
    return string.Template(text).substitute({key: str(value) for key, value in values.items()})


def etcd_config(layout: Layout, node: Node) -> str:
    members = ",".join(
        f"e{other.n}=http://127.0.0.1:{other.etcd_peer_port}" for other in layout.nodes
    )
    return _render(
        "etcd.yml.in",
        {
            "name": f"e{node.n}",
            "data_dir": node.home / "etcd",
            "client_port": node.etcd_client_port,
            "peer_port": node.etcd_peer_port,
            "initial_cluster": members,
        },
    )


def patroni_config(layout: Layout, node: Node) -> str:
    hosts = ",".join(f"127.0.0.1:{other.etcd_client_port}" for other in layout.nodes)
    return _render(
        "patroni.yml.in",
        {
            "name": node.name,
            "rest_port": node.rest_port,
            "etcd_hosts": hosts,
            "pg_port": node.pg_port,
            "data_dir": node.data_dir,
            "bin_dir": BIN_DIR,
            "home": node.home,
            "superuser_password": layout.password("superuser"),
            "replication_password": layout.password("replication"),
            "rewind_password": layout.password("rewind"),
        },
    )


def haproxy_config(layout: Layout, caja_hosts: int) -> str:
    postgres = "\n".join(
        f"    server {node.name} 127.0.0.1:{node.pg_port} check" for node in layout.nodes
    )
    caja = "\n".join(
        f"    server caja{index + 1} 127.0.0.1:{port} check"
        for index, port in enumerate(layout.caja_ports(caja_hosts))
    )
    return _render(
        "haproxy.cfg.in",
        {
            "write_port": layout.write_port,
            "http_port": layout.http_port,
            "stats_port": layout.stats_port,
            "check_command": layout.state / "primary-check.sh",
            "postgres_servers": postgres,
            "caja_servers": caja,
        },
    )


def check_config(layout: Layout) -> str:
    """primary-check.conf: etcd's URLs, the password file, each node's Patroni API."""
    return _render(
        "primary-check.conf.in",
        {
            "etcd_urls": " ".join(
                f"http://127.0.0.1:{node.etcd_client_port}" for node in layout.nodes
            ),
            "pgpass": layout.state / "check.pgpass",
            "rest_urls": "\n".join(f"REST_{node.name}={node.rest_url}" for node in layout.nodes),
        },
    )


def check_pgpass(layout: Layout) -> str:
    """The check's password file: the superuser's password for every node."""
    return f"127.0.0.1:*:postgres:postgres:{layout.password('superuser')}\n"
