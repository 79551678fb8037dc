#!/usr/bin/env bash
# Checks a running central from inside its Compose network: a throwaway
# container of the server image runs the echo health check against `server`
# with the message of $CONFIG_DIR/healthcheck.env. Nothing is published or
# installed on the host. Prints exactly one of
#   action: test_echo_server | result: success
#   action: test_echo_server | result: fail
# and exits 0 or 1 accordingly.
#
# Defaults: CONFIG_DIR=./docker SERVER_CONTAINER=server IMAGE_PREFIX=quiniela
# Against a mutual-TLS central the check speaks TLS too, verifying the
# central's certificate against the CA the central itself mounts (it presents
# none); TLS_DIR names another folder holding that ca.crt.
set -u

config=${CONFIG_DIR:-./docker}
container=${SERVER_CONTAINER:-server}
image=${IMAGE_PREFIX:-quiniela}-server:latest

fail() {
	echo "action: test_echo_server | result: fail"
	[ $# -gt 0 ] && echo "reason: $*" >&2
	exit 1
}

network=$(docker inspect "$container" \
	--format '{{range $name, $n := .NetworkSettings.Networks}}{{$name}} {{end}}' 2>/dev/null | awk '{print $1}')
[ -n "$network" ] || fail "no container named $container on a network"
[ -f "$config/healthcheck.env" ] || fail "no $config/healthcheck.env"

tls=()
if [ -n "${TLS_DIR:-}" ]; then
	[ -f "$TLS_DIR/ca.crt" ] || fail "no $TLS_DIR/ca.crt"
	tls=(-v "$(cd "$TLS_DIR" && pwd)/ca.crt:/certs/ca.crt:ro" -e HEALTHCHECK_TLS_CA=/certs/ca.crt)
else
	# A TLS central's own health check has HEALTHCHECK_TLS_CA: mount the same
	# host file at the same place.
	ca=$(docker inspect "$container" --format '{{range .Config.Env}}{{println .}}{{end}}' | sed -n 's/^HEALTHCHECK_TLS_CA=//p')
	if [ -n "$ca" ]; then
		source=$(docker inspect "$container" \
			--format "{{range .Mounts}}{{if eq .Destination \"$ca\"}}{{.Source}}{{end}}{{end}}")
		[ -n "$source" ] || fail "$container checks TLS against $ca, which it does not mount"
		tls=(-v "$source:$ca:ro" -e "HEALTHCHECK_TLS_CA=$ca")
	fi
fi

# One check, whatever interval the file sets for the long-running mode.
out=$(docker run --rm --network "$network" \
	-v "$(cd "$config" && pwd)/healthcheck.env:/config/healthcheck.env:ro" \
	"${tls[@]}" \
	-e HEALTHCHECK_INTERVAL=0s \
	--entrypoint /healthcheck "$image" --env-file /config/healthcheck.env 2>&1)
if grep -q 'action: test_echo_server | result: success' <<<"$out"; then
	echo "action: test_echo_server | result: success"
	exit 0
fi
fail "$out"
