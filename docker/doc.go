// Package docker holds the settings of a Docker deployment (server.env,
// client.env, healthcheck.env) and its end-to-end test: images built FROM
// scratch; the course's own commands on a fresh clone, as root and as a user
// who is not root; Compose files from generar-compose.sh, whole rounds with
// 1, 3 and 5 agencies, configuration changed without a rebuild, a plain
// deployment turned into a TLS one by make, the echo validation script, and
// a graceful `compose stop` mid-round.
package docker
