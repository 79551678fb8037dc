package logattr

// The vocabulary of the log lines: every action a binary logs, the results
// a line may have, and the keys that tools and tests read. Other tools
// parse these words, so each is written here once; docs/logs.md lists the
// same actions (a test holds the two together).
//
// Action, Result and Key are aliases of string, not types of their own:
// slog takes a record's message and its keys as strings, and a key of
// another type would be logged as !BADKEY rather than fail to build. The
// keys are untyped constants: go vet's slog check takes only a string, not
// an alias of it, as a key.

// Action is the name a line reports, the record's message.
type Action = string

// Result is a line's result: Success, Fail or InProgress.
type Result = string

// Key is the key of a detail of a line.
type Key = string

// The results.
const (
	Success    Result = "success"     // the action is done
	Fail       Result = "fail"        // the action failed
	InProgress Result = "in_progress" // the action goes on, or waits
)

// Every binary.
const (
	Config Action = "config" // the settings loaded (success), or not (fail, exit 2)
)

// The central.
const (
	Listen            Action = "listen"             // the agencies' port open, or not (exit 1)
	AdminListen       Action = "admin_listen"       // the admin endpoint open, or not
	TLSDisabled       Action = "tls_disabled"       // listening beyond loopback without TLS
	ConnectionLimit   Action = "connection_limit"   // the bound lowered at start; a connection evicted or refused at it
	AdminLimit        Action = "admin_limit"        // the oldest admin connection closed at its bound
	LogSuppressed     Action = "log_suppressed"     // warnings of a connection held back by the rate limit
	OpenStore         Action = "open_store"         // the store could not be opened (exit 1)
	StoreRecover      Action = "store_recover"      // a torn last line cut off the bet file or the journal
	MigrateStore      Action = "migrate_store"      // PostgreSQL: the schema migrated
	RestoreState      Action = "restore_state"      // the round read back from the store at start
	RoundFinished     Action = "round_finished"     // the store holds a finished round
	Accept            Action = "accept"             // a connection accepted; an accept error backed off
	TLSIdentity       Action = "tls_identity"       // a TLS peer without an agency certificate
	SessionReplaced   Action = "session_replaced"   // a newer connection of an agency replaced the older one
	ApuestaRecibida   Action = "apuesta_recibida"   // a batch stored (acknowledged) or refused
	ApuestaAlmacenada Action = "apuesta_almacenada" // each bet of a stored batch, at DEBUG
	FinApuestas       Action = "fin_apuestas"       // an agency's end recorded or refused
	ConsultaEstado    Action = "consulta_estado"    // a status query answered or refused
	ConsultaGanadores Action = "consulta_ganadores" // a winners query answered, early or refused; the agency's winners received
	Request           Action = "request"            // a malformed frame; a request whose handler panicked
	Session           Action = "session"            // a connection's read or handshake failed
	SessionPanic      Action = "session_panic"      // a panic while reading or handling a frame, recovered
	CloseConnection   Action = "close_connection"   // a connection closed (the central's or the agency's own)
	Cierre            Action = "cierre"             // betting closes at the closing time (in_progress: when, at start)
	Sorteo            Action = "sorteo"             // the draw, once every agency has ended or betting has closed
	Ronda             Action = "ronda"              // continuous rounds: the next round opened after a draw, or not yet
	RecordDraw        Action = "record_draw"        // the draw's announcement could not be recorded
	ServicePanic      Action = "service_panic"      // suture: a service panicked
	ServiceTerminate  Action = "service_terminate"  // suture: a service returned
	StopService       Action = "stop_service"       // suture: a service did not stop in time
	SupervisorBackoff Action = "supervisor_backoff" // suture backs a flapping supervisor off
	SupervisorResume  Action = "supervisor_resume"  // suture resumes a supervisor it backed off
	Supervisor        Action = "supervisor"         // the tree failed: shutdown, exit 1
	Reload            Action = "reload"             // SIGHUP: the settings read again
	Shutdown          Action = "shutdown"           // the first signal (in_progress); the end (success or fail)
	CloseListener     Action = "close_listener"     // the shutdown closed a port
	FlushStore        Action = "flush_store"        // the store's last batches synced
	UnlockStore       Action = "unlock_store"       // the bet file's lock released
	ReleaseLease      Action = "release_lease"      // PostgreSQL: the lease given up at shutdown
	Standby           Action = "standby"            // PostgreSQL: another central holds the lease; this one waits
	Leadership        Action = "leadership"         // PostgreSQL: this central took the lease, or lost it
	LeaseRenew        Action = "lease_renew"        // PostgreSQL: a renewal failed
	StepDown          Action = "step_down"          // PostgreSQL: after losing the lease, stands by again
	StoreCommit       Action = "store_commit"       // PostgreSQL: a commit whose outcome was unknown, being resolved
	Database          Action = "database"           // PostgreSQL: the database went away, or answers again
)

// An agency.
const (
	CapBatchMaxAmount Action = "cap_batch_max_amount" // CLI_BATCH_MAX_AMOUNT above the protocol's bound, capped
	Connect           Action = "connect"              // waiting for the central; connected
	Reconnect         Action = "reconnect"            // a session ended without finishing; the agency resumes
	Reanudar          Action = "reanudar"             // the status the central gave on (re)connecting
	RondaAnterior     Action = "ronda_anterior"       // the central holds this agency's end, or more bets than its file
	ApuestaInvalida   Action = "apuesta_invalida"     // a malformed or invalid line of the file, skipped
	ApuestaEnviada    Action = "apuesta_enviada"      // single-bet mode: the bet stored
	Progreso          Action = "progreso"             // every 5 s while sending
	Ganador           Action = "ganador"              // each winner's document, at DEBUG
	CloseFile         Action = "close_file"           // its bets file closed
	Resumen           Action = "resumen"              // the end of the run
)

// The health check.
const (
	TestEchoServer Action = "test_echo_server" // one check of the central
)

// Actions is every action, in the order docs/logs.md lists them.
var Actions = []Action{
	Config,
	Listen, AdminListen, TLSDisabled, ConnectionLimit, AdminLimit, LogSuppressed,
	OpenStore, StoreRecover, MigrateStore, RestoreState, RoundFinished,
	Accept, TLSIdentity, SessionReplaced,
	ApuestaRecibida, ApuestaAlmacenada, FinApuestas, ConsultaEstado, ConsultaGanadores,
	Request, Session, SessionPanic, CloseConnection,
	Cierre, Sorteo, Ronda, RecordDraw,
	ServicePanic, ServiceTerminate, StopService, SupervisorBackoff, SupervisorResume, Supervisor,
	Reload, Shutdown, CloseListener, FlushStore, UnlockStore, ReleaseLease,
	Standby, Leadership, LeaseRenew, StepDown, StoreCommit, Database,
	CapBatchMaxAmount, Connect, Reconnect, Reanudar, RondaAnterior,
	ApuestaInvalida, ApuestaEnviada, Progreso, Ganador, CloseFile, Resumen,
	TestEchoServer,
}

// Results is every result.
var Results = []Result{Success, Fail, InProgress}

// The keys that tools and tests read (each a Key).
const (
	ResultKey        = "result"         // every line: Success, Fail or InProgress
	ErrorKey         = "error"          // the cause, in words, of a fail (or of a warning)
	CodeKey          = "code"           // the protocol's result code a request was answered with
	ReasonKey        = "reason"         // why a connection closed, a batch was capped, a central stepped down
	AgencyKey        = "agency"         // the agency a connection of the central is about (0 until it names one)
	CantidadKey      = "cantidad"       // apuesta_recibida: the bets of the batch
	CantGanadoresKey = "cant_ganadores" // consulta_ganadores: how many winners
	DNIKey           = "dni"            // a bet's or a winner's document
	NumeroKey        = "numero"         // a bet's number
	AgenciasKey      = "agencias"       // sorteo: the agencies of the round
	GanadoresKey     = "ganadores"      // sorteo: the winners of the round
	TrasReinicioKey  = "tras_reinicio"  // sorteo: whether the draw was read back after a restart
	AusentesKey      = "ausentes"       // sorteo: the agencies that had not ended, comma-separated (empty: none)
	RondaKey         = "ronda"          // sorteo, ronda, consulta_estado, reanudar, restore_state: the round's number
	AlmacenadasKey   = "almacenadas"    // consulta_estado, reanudar, ronda_anterior: the bets the central holds
	FinalizoKey      = "finalizo"       // consulta_estado, reanudar: whether the agency's end is recorded
	ListenerKey      = "listener"       // close_listener: agencies or admin
	SignalKey        = "signal"         // shutdown: the signal received
	EpochKey         = "epoch"          // PostgreSQL: the lease's epoch
	BetsKey          = "bets"           // restore_state, round_finished, flush_store: the bets stored
	PathKey          = "path"           // the bet file or the journal
	FileKey          = "file"           // an agency's bets file
	LineKey          = "line"           // apuesta_invalida: the line of the file
)

// Keys is every key above.
var Keys = []Key{
	ResultKey, ErrorKey, CodeKey, ReasonKey, AgencyKey,
	CantidadKey, CantGanadoresKey, DNIKey, NumeroKey,
	AgenciasKey, GanadoresKey, TrasReinicioKey, AusentesKey, RondaKey, AlmacenadasKey, FinalizoKey,
	ListenerKey, SignalKey, EpochKey, BetsKey, PathKey, FileKey, LineKey,
}
