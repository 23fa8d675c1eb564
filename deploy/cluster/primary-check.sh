#!/bin/sh
# HAProxy's check of a PostgreSQL node for the write port (option external-check).
# Exit 0: send writes to this node. Every setting and why: docs/deployment.md,
# "The write port's check".
#
# A node is the write target when
#   1. its Patroni answers GET /primary with 200; or
#   2. its Patroni's REST API does not answer at all (dead, or hung), AND the leader key
#      in etcd still names this node, AND its PostgreSQL answers that it is not in
#      recovery.
# Any other answer of Patroni (it is alive and says "not primary") is final: down.
#
# Why 2 is safe: while the leader key names this node no other node can be primary
# (a promotion takes the key first), and with synchronous_mode_strict every commit the
# node acknowledges is on the synchronous standby, the only node Patroni may promote.
# Once the key moves, the next check fails; commits in between wait for a standby that
# left and are never acknowledged.
#
# HAProxy runs it as: primary-check.sh <proxy_addr> <proxy_port> <server_addr> <server_port>
# with HAPROXY_SERVER_NAME (the Patroni member name) in its environment. Its settings
# are in primary-check.conf, next to it. Each call is bounded, so that a check ends
# well within HAProxy's "timeout check".
set -u
. "$(dirname "$0")/primary-check.conf"

name=${HAPROXY_SERVER_NAME:-}
address=$3
port=$4
case $name in
'' | *[!A-Za-z0-9_]*) exit 1 ;;
esac
eval "rest=\${REST_$name:-}"
[ -n "$rest" ] || exit 1

# 1. Patroni's own answer, when it gives one ("000": no HTTP answer at all).
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$CALL_SECONDS" "$rest/primary")
[ "$code" = 200 ] && exit 0
[ "$code" = 000 ] || exit 1

# 2. Patroni is silent: who holds the leader key? A linearizable read (etcd's default),
#    so a member cut off from the quorum cannot answer with a stale leader.
key=$(printf '%s' "$LEADER_KEY" | base64 | tr -d '\n')
leader=
for etcd in $ETCD_URLS; do
    answer=$(curl -s --fail --max-time "$CALL_SECONDS" -X POST \
        -H 'Content-Type: application/json' -d "{\"key\": \"$key\"}" "$etcd/v3/kv/range") ||
        continue
    value=$(printf '%s' "$answer" | sed -n 's/.*"value":"\([A-Za-z0-9+\/=]*\)".*/\1/p')
    leader=$(printf '%s' "$value" | base64 -d 2>/dev/null)
    break
done
[ "$leader" = "$name" ] || exit 1

# 3. Its PostgreSQL still runs as a primary (not demoted, not crashed, not frozen).
recovery=$(PGPASSFILE=$PGPASSFILE_CHECK PGCONNECT_TIMEOUT=2 \
    timeout "$CALL_SECONDS" psql -X -q -t -A -w -h "$address" -p "$port" -U "$CHECK_USER" \
    -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)
[ "$recovery" = f ]
