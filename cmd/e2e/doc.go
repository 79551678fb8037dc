// Package e2e holds the whole-system tests: each builds the real binaries
// (once, in TestMain) and plays them as processes, as a user would: whole
// rounds, failover between centrals, faults and attacks, TLS, the status
// page in a browser, logs read back as the course reads them, SIGHUP and
// SIGTERM. The scenarios that read like a user's session are scripts in
// testdata/*.txtar, run by testscript; the rest are Go tests. A package's
// own unit tests stay beside it.
package e2e
