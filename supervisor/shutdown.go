// The central's shutdown, in net/http's order (Server.Shutdown): mark,
// close the listener, drain, close what is left. Tests check the order
// through the log.

package supervisor

import (
	"errors"
	"net"

	"quiniela/lottery/logattr"
)

// shutdown stops serving in order, every wait bounded; the caller closes
// the store after it. Each step relies on the one before: the mark makes
// the acceptor take a closed listener for the normal way out and the
// sessions refuse new frames, so that draining the tree only waits for the
// frames in hand.
func (s *Server) shutdown(ln net.Listener, tree *runningTree) {
	// 1. Mark: from here on, no new session starts and no new frame is taken.
	s.shuttingDown.Store(true)
	// 2. Close the listener: wakes Accept.
	s.closeListener(ln)
	// 3. Stop the tree: each session finishes the frame in hand, then closes
	// its connection; suture bounds the wait.
	tree.stopAndWait()
	// 4. Whatever session did not stop in time loses its connection now.
	s.conns.closeAll(s.log)
}

// closeListener closes the agencies' listener and logs it (docs/logs.md);
// one the tree lost already is no failure of the shutdown.
func (s *Server) closeListener(ln net.Listener) {
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Error(logattr.CloseListener, logattr.ResultKey, logattr.Fail, logattr.ListenerKey, "agencies", logattr.NetAddr("", s.addr), logattr.ErrorKey, err)
	} else {
		s.log.Info(logattr.CloseListener, logattr.ResultKey, logattr.Success, logattr.ListenerKey, "agencies", logattr.NetAddr("", s.addr))
	}
}
