#!/usr/bin/env bash
# Runs a local 3-node NATS cluster with JetStream (servers n1, n2, n3; cluster "jetray") from
# testdata/cluster/n{1,2,3}.conf, storing under ./tmp/cluster/n{1,2,3}, in the foreground until
# Ctrl-C. `make cluster` runs it from the repository root. Not for production (docs/deploy.md).
# A node that dies (kill -9 it to watch a failover) is reported and the others keep running;
# the printed command starts it again.
#
# Usage: scripts/cluster.sh [path to nats-server]   (default bin/nats-server)
set -euo pipefail

cd "$(dirname "$0")/.."
server=${1:-bin/nats-server}
urls=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224

pids=()
declare -A node # pid -> node name
stopping=
stop() {
	stopping=1
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait
}
trap stop INT TERM EXIT

for n in 1 2 3; do
	mkdir -p "tmp/cluster/n$n"
	"$server" -c "testdata/cluster/n$n.conf" -l "tmp/cluster/n$n.log" &
	pids+=($!)
	node[$!]=n$n
done

# Wait until every node is healthy: in a cluster, the monitoring endpoint /healthz answers 200
# once JetStream has a meta leader and the node is current with it.
deadline=$((SECONDS + 30))
for port in 8222 8223 8224; do
	until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
		if ((SECONDS > deadline)); then
			echo "cluster: node on monitor port $port not healthy after 30 s; see tmp/cluster/n*.log" >&2
			exit 1
		fi
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null || { echo "cluster: nats-server $pid exited; see tmp/cluster/n*.log" >&2; exit 1; }
		done
		sleep 0.2
	done
done

cat <<EOF
NATS cluster "jetray" running: n1 (pid ${pids[0]}), n2 (pid ${pids[1]}), n3 (pid ${pids[2]});
logs in tmp/cluster/n*.log, monitoring on http://127.0.0.1:8222-8224.
Client URLs:
  $urls
Try:
  bin/worker -nats $urls -replicas 3
  bin/driver call add '{"a":1,"b":2}' -nats $urls
Ctrl-C stops the cluster; its data stays in tmp/cluster (rm -rf tmp/cluster to start afresh).
EOF

# Run until Ctrl-C or until every node is gone, reporting nodes that exit.
alive=("${pids[@]}")
while ((${#alive[@]} > 0)); do
	wait -n "${alive[@]}" || true
	[[ -n $stopping ]] && exit 0
	still=()
	for pid in "${alive[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			still+=("$pid")
		else
			n=${node[$pid]}
			echo "cluster: $n exited (see tmp/cluster/$n.log); start it again with:" >&2
			echo "  $server -c testdata/cluster/$n.conf -l tmp/cluster/$n.log" >&2
		fi
	done
	alive=("${still[@]}")
done
echo "cluster: every node has exited" >&2
