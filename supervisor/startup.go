// The start-up checks of the central once it listens: the connection bound
// fitted to the open-files limit, and the lines that tell the operator
// where it listens and what is unsafe about it.

package supervisor

import (
	"net"
	"syscall"

	"quiniela/lottery/logattr"
)

// fitConnections lowers the connection bound to what the open-files limit
// leaves room for, saying so, and returns that limit. Go raises the soft
// limit of open files to the hard one at start. The agencies' connections
// keep their share of it whatever else happens: their bound is lowered to
// what the limit leaves beside the reserve and the admin endpoint's
// connections, so that at worst a connection is refused or evicted, and
// the listener never runs out of files.
func (s *Server) fitConnections() (openFiles uint64) {
	var files syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &files)
	room := int(min(files.Cur, 1<<30)) - filesReserve - maxAdminConns
	if s.cfg.MaxConnections == 0 || s.cfg.MaxConnections > room {
		s.conns.max = max(room, 1)
		s.log.Warn(logattr.ConnectionLimit, logattr.ResultKey, logattr.InProgress, "max_connections", s.conns.max, "configured", s.cfg.MaxConnections, "open_files_limit", files.Cur,
			logattr.ErrorKey, "lowered to fit the open-files limit (raise the hard limit, ulimit -Hn, for more)")
	}
	return files.Cur
}

// announceListen logs where the central listens, and warns when it takes
// agencies from beyond this machine without TLS, where any peer can act
// as any agency.
func (s *Server) announceListen(openFiles uint64) {
	s.log.Info(logattr.Listen, logattr.ResultKey, logattr.Success, logattr.NetAddr("", s.addr), "max_connections", s.conns.max, "open_files_limit", openFiles)
	if tcp, ok := s.addr.(*net.TCPAddr); ok && s.cfg.TLS == nil && !tcp.IP.IsLoopback() {
		s.log.Warn(logattr.TLSDisabled, logattr.ResultKey, logattr.InProgress, logattr.NetAddr("", s.addr),
			logattr.ErrorKey, "listening beyond loopback without TLS: any peer can act as any agency (set SERVER_TLS_CERT, SERVER_TLS_KEY and SERVER_TLS_CLIENT_CA)")
	}
}
