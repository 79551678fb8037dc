// The central's suture tree: the root ("central") holds the acceptor, the
// agencies' supervisor with one service per session, and the admin
// endpoint; this file builds it, runs it, stops it and logs its events.

package supervisor

import (
	"context"
	"fmt"
	"net"

	"github.com/thejerf/suture/v4"

	"quiniela/lottery/logattr"
)

// startTree builds the tree over ln and starts it. Suture's timeouts nest
// inside the shutdown bound: sessions drain first, the agencies supervisor
// waits a little longer, the root longer still. The agencies have a
// supervisor of their own, so that the backoff of a flapping agency never
// delays the acceptor. The tree runs on a context of its own: the shutdown,
// not the caller's context, says when it stops (after the listener).
func (s *Server) startTree(ln net.Listener) *runningTree {
	drain := s.cfg.ShutdownTimeout / 2
	agencies := suture.New("agencies", suture.Spec{
		EventHook:      s.eventHook,
		Timeout:        drain + s.cfg.ShutdownTimeout/6,
		FailureBackoff: sessionFailureBackoff,
	})
	root := suture.New("central", suture.Spec{
		EventHook: s.eventHook,
		Timeout:   drain + s.cfg.ShutdownTimeout/3,
	})
	root.Add(&acceptor{srv: s, ln: ln, agencies: agencies, drain: drain, limited: newLogLimit()})
	root.Add(agencies)
	if r := s.book.open(); s.continuous || !r.closingInstant().IsZero() && !r.done() {
		root.Add(&keeper{srv: s})
	}
	if s.cfg.Admin != nil {
		root.Add(&adminServer{srv: s, ln: s.cfg.Admin})
		s.log.Info(logattr.AdminListen, logattr.ResultKey, logattr.Success, logattr.NetAddr("", s.cfg.Admin.Addr()))
	}
	ctx, stop := context.WithCancel(context.Background())
	return &runningTree{stop: stop, done: root.ServeBackground(ctx)}
}

// runningTree is the tree once started: stop cancels it, done reports its
// end (nil once that end was received).
type runningTree struct {
	stop context.CancelFunc
	done <-chan error
}

// wait returns when ctx ends (false), or when the tree stops by itself,
// which only a failure does (true, and the tree's error).
func (t *runningTree) wait(ctx context.Context) (failed bool, err error) {
	select {
	case <-ctx.Done():
		return false, nil
	case err := <-t.done:
		t.done = nil
		return true, err
	}
}

// stopAndWait stops the tree and waits until it has stopped, which
// suture's timeouts bound.
func (t *runningTree) stopAndWait() {
	t.stop()
	if t.done != nil {
		<-t.done
	}
}

// eventHook logs the tree's events. It runs on suture's loop, so it only
// writes a line.
func (s *Server) eventHook(e suture.Event) {
	switch ev := e.(type) {
	case suture.EventServicePanic:
		s.log.Error(logattr.ServicePanic, logattr.ResultKey, logattr.Fail, "service", serviceName(ev.Service, ev.ServiceName), "panic", ev.PanicMsg, "restarting", ev.Restarting)
	case suture.EventServiceTerminate:
		cause := ev.Err
		if cause == nil {
			cause = "returned no error, which suture counts as a failure"
		}
		s.log.Warn(logattr.ServiceTerminate, logattr.ResultKey, logattr.Fail, "service", serviceName(ev.Service, ev.ServiceName), logattr.ErrorKey, fmt.Sprint(cause), "restarting", ev.Restarting)
	case suture.EventStopTimeout:
		s.log.Error(logattr.StopService, logattr.ResultKey, logattr.Fail, "service", serviceName(ev.Service, ev.ServiceName), logattr.ErrorKey, "did not stop in time")
	case suture.EventBackoff:
		s.log.Warn(logattr.SupervisorBackoff, logattr.ResultKey, logattr.InProgress, "supervisor", ev.SupervisorName)
	case suture.EventResume:
		s.log.Info(logattr.SupervisorResume, logattr.ResultKey, logattr.Success, "supervisor", ev.SupervisorName)
	}
}

// serviceName names a service as it is now: suture fixes a service's name
// when it is added, before a session knows its agency.
func serviceName(svc suture.Service, atAdd string) string {
	if named, ok := svc.(fmt.Stringer); ok {
		return named.String()
	}
	return atAdd
}
