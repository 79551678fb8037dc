package supervisor

import (
	"container/list"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/thejerf/suture/v4"
)

// sessions is the keyed map of live sessions, after syncthing's service
// map: every connection with the suture token of its service, and the
// session that speaks for each agency. A session replaced by a newer one
// of its agency is stopped and waited for.
//
// Connections that do not speak for an agency wait in queues, oldest
// first, to be evicted when room is needed: strangers (no identity at
// all), then, under TLS, the connections of each certificate's agency.
// Every entry leaves its queue when its session binds or ends, so a closed
// connection leaves nothing behind.
type sessions struct {
	max int // open connections at most (0: no bound)

	mu        sync.Mutex
	all       map[*session]*suture.ServiceToken // nil until the acceptor has added it
	byAgency  map[uint16]*session
	strangers list.List             // of *session: no certificate's agency, not bound
	idle      map[uint16]*list.List // of *session, by the agency its certificate names: not bound
	queued    map[*session]place    // where each queued session waits
}

// place is where a session waits in a queue: its element, and the agency
// of the queue (0: the strangers).
type place struct {
	e      *list.Element
	agency uint16
}

func newSessions(max int) *sessions {
	return &sessions{
		max: max, all: map[*session]*suture.ServiceToken{}, byAgency: map[uint16]*session{},
		idle: map[uint16]*list.List{}, queued: map[*session]place{},
	}
}

// admit registers s before it is handed to the supervisor, so that the
// shutdown's last step finds it whatever happens. When the connections are
// at their bound, it makes room by taking out the oldest connection that
// does not speak for an agency (a stranger first), which the caller
// closes; if every one does, s is refused (ok false), so a flood of silent
// sockets can never lock agencies out, nor push a connected agency off.
func (m *sessions) admit(s *session) (evicted *session, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.max > 0 && len(m.all) >= m.max {
		if evicted = m.oldestIdleLocked(); evicted == nil {
			return nil, false
		}
		m.dropLocked(evicted)
	}
	m.all[s] = nil
	m.queued[s] = place{e: m.strangers.PushBack(s)}
	return evicted, true
}

// oldestIdleLocked returns the oldest stranger or, when there is none, the
// oldest connection among those of every certificate's agency.
func (m *sessions) oldestIdleLocked() *session {
	if e := m.strangers.Front(); e != nil {
		return e.Value.(*session)
	}
	var oldest *session
	for _, q := range m.idle {
		if s := q.Front().Value.(*session); oldest == nil || s.accepted.Before(oldest.accepted) {
			oldest = s
		}
	}
	return oldest
}

// identified moves s, whose certificate names agency, from the strangers
// to that agency's queue. Past maxIdlePerIdentity it returns that queue's
// oldest connection, taken out, for the caller to close.
func (m *sessions) identified(s *session, agency uint16) (evicted *session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, live := m.all[s]; !live {
		return nil
	}
	m.unqueueLocked(s)
	q := m.idle[agency]
	if q == nil {
		q = list.New()
		m.idle[agency] = q
	}
	m.queued[s] = place{e: q.PushBack(s), agency: agency}
	if q.Len() <= maxIdlePerIdentity {
		return nil
	}
	evicted = q.Front().Value.(*session)
	m.dropLocked(evicted)
	return evicted
}

// unqueueLocked takes s out of whichever queue it waits in.
func (m *sessions) unqueueLocked(s *session) {
	at, ok := m.queued[s]
	if !ok {
		return
	}
	delete(m.queued, s)
	if at.agency == 0 {
		m.strangers.Remove(at.e)
		return
	}
	q := m.idle[at.agency]
	if q.Remove(at.e); q.Len() == 0 {
		delete(m.idle, at.agency) // an identity with nothing waiting costs nothing
	}
}

// dropLocked forgets s entirely.
func (m *sessions) dropLocked(s *session) {
	m.unqueueLocked(s)
	delete(m.all, s)
	if a := uint16(s.agency.Load()); a != 0 && m.byAgency[a] == s {
		delete(m.byAgency, a)
	}
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
// any. A session that speaks for an agency is never evicted.
func (m *sessions) bind(agency uint16, s *session) (replaced *session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unqueueLocked(s)
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
	m.dropLocked(s)
}

// replace stops an older session of an agency and waits, at most timeout
// or until ctx ends, until it has finished the frame in hand and closed its
// connection: its agency's next bets must not race its last ones. The old
// session ends by itself once interrupted (suture then forgets it); waiting
// on it here, rather than in suture's RemoveAndWait, leaves no goroutine
// behind when the wait gives up.
func (m *sessions) replace(ctx context.Context, old *session, timeout time.Duration) {
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
