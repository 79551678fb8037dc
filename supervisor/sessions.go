package supervisor

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/thejerf/suture/v4"
)

// sessions is the keyed map of live sessions, after syncthing's service
// map: every connection with the suture token of its service, and the
// session that speaks for each agency. A session replaced by a newer one
// of its agency is removed from the tree with RemoveAndWait.
type sessions struct {
	agencies *suture.Supervisor // the child supervisor the sessions run in
	max      int                // open connections at most (0: no bound)

	mu       sync.Mutex
	all      map[*session]*suture.ServiceToken // nil until the acceptor has added it
	byAgency map[uint16]*session
	// unnamed holds the connections in the order accepted, to find the
	// oldest one that has not yet spoken for an agency; entries that have
	// since spoken or gone are skipped when met.
	unnamed []*session
}

func newSessions(max int) *sessions {
	return &sessions{max: max, all: map[*session]*suture.ServiceToken{}, byAgency: map[uint16]*session{}}
}

// admit registers s before it is handed to the supervisor, so that the
// shutdown's last step finds it whatever happens. When the connections are
// at their bound, it makes room by taking out the oldest connection that
// has not yet spoken for an agency, which the caller closes; if every one
// has, s is refused (ok false), so a flood of silent sockets can never
// lock agencies out, nor push a connected agency off.
func (m *sessions) admit(s *session) (evicted *session, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.max > 0 && len(m.all) >= m.max {
		if evicted = m.oldestUnnamedLocked(); evicted == nil {
			return nil, false
		}
		delete(m.all, evicted)
	}
	m.all[s] = nil
	m.unnamed = append(m.unnamed, s)
	return evicted, true
}

func (m *sessions) oldestUnnamedLocked() *session {
	for len(m.unnamed) > 0 {
		s := m.unnamed[0]
		m.unnamed[0] = nil
		m.unnamed = m.unnamed[1:]
		if _, live := m.all[s]; live && s.agency.Load() == 0 && s.certAgency.Load() == 0 {
			return s
		}
	}
	m.unnamed = nil // let the backing array go
	return nil
}

// started keeps the token suture gave s's service.
func (m *sessions) started(s *session, tok suture.ServiceToken) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, live := m.all[s]; live {
		m.all[s] = &tok
	}
}

// count is the number of open connections.
func (m *sessions) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.all)
}

// speaksFor reports whether a connection speaks for the agency.
func (m *sessions) speaksFor(agency uint16) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byAgency[agency] != nil
}

// bind makes s the session of agency and returns the one it replaces, if
// any.
func (m *sessions) bind(agency uint16, s *session) (replaced *session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.byAgency[agency]
	m.byAgency[agency] = s
	if old == s {
		return nil
	}
	return old
}

func (m *sessions) remove(s *session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.all, s)
	if a := uint16(s.agency.Load()); a != 0 && m.byAgency[a] == s {
		delete(m.byAgency, a)
	}
}

// replace stops an older session of an agency and waits, at most timeout
// or until ctx ends, until it has finished the frame in hand and closed its
// connection: its agency's next bets must not race its last ones.
// RemoveAndWait itself gives up when the tree is stopping.
func (m *sessions) replace(ctx context.Context, old *session, timeout time.Duration) {
	m.mu.Lock()
	tok := m.all[old]
	m.mu.Unlock()
	if tok != nil && m.agencies.RemoveAndWait(*tok, timeout) == nil {
		return
	}
	// Not handed to suture yet, or suture is stopping: stop it by hand.
	old.interrupt(old.drain)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-old.done:
	case <-ctx.Done():
	case <-t.C:
	}
}

// closeAll closes the connection of every session still registered.
func (m *sessions) closeAll(log *slog.Logger) {
	m.mu.Lock()
	left := make([]*session, 0, len(m.all))
	for s := range m.all {
		left = append(left, s)
	}
	m.mu.Unlock()
	for _, s := range left {
		s.closeConn(log, "forced")
	}
}
