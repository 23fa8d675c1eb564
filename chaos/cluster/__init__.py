"""A PostgreSQL cluster on loopback ports: three etcd members, three PostgreSQL nodes
managed by Patroni (a primary and two standbys, one synchronous), and HAProxy in front
of the primary and of the caja hosts. Configuration: deploy/cluster/; how and why:
docs/deployment.md."""

from chaos.cluster.cluster import Cluster, ClusterError
from chaos.cluster.layout import Layout, Node

__all__ = ["Cluster", "ClusterError", "Layout", "Node"]
