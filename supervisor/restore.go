package supervisor

// announceDraw logs the draw (docs/logs.md), then records that it was announced,
// so that a restart reopens it silently. A crash between the two can only
// repeat the announcement, never lose it; the draw's result is the same.
func (s *Server) announceDraw(winners int, afterRestart bool) {
	s.log.Info("sorteo", "result", "success", "agencias", s.cfg.Agencies, "ganadores", winners, "tras_reinicio", afterRestart)
	if err := s.store.RecordDraw(); err != nil {
		s.log.Error("record_draw", "result", "fail", "error", err)
	}
}
