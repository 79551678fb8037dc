package supervisor

import (
	"fmt"

	"github.com/thejerf/suture/v4"
)

// eventHook logs the tree's events. It runs on suture's loop, so it only
// writes a line.
func (s *Server) eventHook(e suture.Event) {
	switch ev := e.(type) {
	case suture.EventServicePanic:
		s.log.Error("service_panic", "result", "fail", "service", serviceName(ev.Service, ev.ServiceName), "panic", ev.PanicMsg, "restarting", ev.Restarting)
	case suture.EventServiceTerminate:
		cause := ev.Err
		if cause == nil {
			cause = "returned no error, which suture counts as a failure"
		}
		s.log.Warn("service_terminate", "result", "fail", "service", serviceName(ev.Service, ev.ServiceName), "error", fmt.Sprint(cause), "restarting", ev.Restarting)
	case suture.EventStopTimeout:
		s.log.Error("stop_service", "result", "fail", "service", serviceName(ev.Service, ev.ServiceName), "error", "did not stop in time")
	case suture.EventBackoff:
		s.log.Warn("supervisor_backoff", "result", "in_progress", "supervisor", ev.SupervisorName)
	case suture.EventResume:
		s.log.Info("supervisor_resume", "result", "success", "supervisor", ev.SupervisorName)
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
