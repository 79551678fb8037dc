package e2e

import (
	"quiniela/lottery/logattr"
	"syscall"
	"testing"
	"time"
)

func TestSIGHUPOnAStandbyReloadsAndItStillTakesOver(t *testing.T) {
	t.Parallel()
	r := newPostgresRound(t, nil, 100, 1)
	active, standby, _ := r.startActiveAndStandby()
	standby.Cmd.Process.Signal(syscall.SIGHUP)
	standby.WaitFor(t, `action: reload \| result: success \| changed: none \| restart_needed: none`)

	// The active central gives its lease up on SIGTERM: the standby that
	// reloaded takes over, and stops as any central does.
	active.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := active.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("the active central exited %d:\n%s", code, active.Log())
	}
	standby.WaitFor(t, leadershipLine)
	standby.WaitFor(t, listenSuccess)
	standby.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := standby.Wait(t, 10*time.Second); code != 0 || len(standby.Find(t, logattr.Shutdown, logattr.Success)) == 0 {
		t.Fatalf("the central that took over exited %d:\n%s", code, standby.Log())
	}
}
