// Package cli is what every binary does the same way at start: its flags
// (--env-file where it has settings, --version, and -h listing every
// setting with its default and meaning, from the same definitions env
// parses) and its logger in the chosen format. It is wiring for cmd.
package cli

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"quiniela/cmd/internal/logline"
	"quiniela/env"
	"quiniela/lottery/logattr"
)

// Parse defines --version, and --env-file when settings (a pointer to the
// binary's settings struct) is not nil, sets -h to list the flags and the
// settings, and parses the command line. No binary takes arguments beyond
// its flags: one that is left over (a word that is no flag, or anything
// after it) exits 2 naming it, as the config fail line where the binary
// has settings, on stderr where it has none. --version prints the version
// and exits. It returns the --env-file value.
func Parse(about string, settings any) (envFile string) {
	var file *string
	if settings != nil {
		file = flag.String("env-file", "", "settings file to load instead of ./.env")
	}
	version := flag.Bool("version", false, "print the version and exit")
	flag.Usage = func() { Usage(flag.CommandLine.Output(), about, settings) }
	flag.Parse()
	if err := noArguments(filepath.Base(os.Args[0]), flag.Args(), settings != nil); err != nil {
		if settings != nil {
			ConfigFailed(*file, err)
		} else {
			fmt.Fprintf(flag.CommandLine.Output(), "%s: %v\n", filepath.Base(os.Args[0]), err)
		}
		os.Exit(2)
	}
	if *version {
		fmt.Println(os.Args[0], Version())
		os.Exit(0)
	}
	if file != nil {
		return *file
	}
	return ""
}

// noArguments refuses what is left on the command line once the flags are
// parsed: the binary named name would otherwise ignore it and run as if
// it had not been given (a central told `server 127.0.0.1` would still
// serve on every address). For a binary with settings the error says
// where they go: a word like SERVER_PORT=4000 is most often one of them
// given in the wrong place.
func noArguments(name string, args []string, settings bool) error {
	if len(args) == 0 {
		return nil
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = strconv.Quote(a)
	}
	what := "argument " + quoted[0]
	if len(args) > 1 {
		what = "arguments " + strings.Join(quoted, " ")
	}
	if !settings {
		return fmt.Errorf("unexpected %s: %s takes no arguments, only flags (%s -h lists them)", what, name, name)
	}
	return fmt.Errorf("unexpected %s: %s takes no arguments, only flags; its settings come from the environment or --env-file (%s -h lists both)", what, name, name)
}

// Usage writes the help text: what the binary is, its flags, and each
// setting with its default and meaning.
func Usage(w io.Writer, about string, settings any) {
	fmt.Fprintf(w, "%s\n\nFlags:\n", about)
	flag.CommandLine.SetOutput(w)
	flag.PrintDefaults()
	if settings == nil {
		return
	}
	fmt.Fprintf(w, "\nSettings (environment variables, or a .env file; the environment wins):\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range env.Settings(settings) {
		def := s.Default
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Key, def, s.Help)
	}
	tw.Flush()
}

// stamped is the version make build writes in (-ldflags -X), from git
// describe: builds may run with -buildvcs=false.
var stamped string

// Version is the build's version: the one make build stamped, else the
// module's tag, else the VCS revision and time Go recorded (and "dirty"
// for uncommitted changes).
func Version() string {
	if stamped != "" {
		return stamped
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	var rev, at, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " dirty"
			}
		}
	}
	if v != "" && v != "(devel)" {
		return v
	}
	if rev == "" {
		return "devel (no VCS information)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return fmt.Sprintf("devel %s %s%s", rev, at, dirty)
}

// Logger writes to stdout in the format chosen: the course's lines, or
// log/slog's JSON with the same keys (action for the message, the level
// named as in the lines). Addresses, durations and URLs logged through
// package logattr read the same in both, with the same keys.
func Logger(format env.LogFormat, level slog.Leveler) *slog.Logger {
	return LoggerTo(os.Stdout, format, level)
}

// LoggerTo is Logger writing to w.
func LoggerTo(w io.Writer, format env.LogFormat, level slog.Leveler) *slog.Logger {
	if format != env.LogJSON {
		return slog.New(logline.New(w, level))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.MessageKey:
				a.Key = "action"
			case slog.LevelKey:
				a.Value = slog.StringValue(logline.LevelName(a.Value.Any().(slog.Level)))
			}
			return a
		},
	}))
}

// ConfigFailed logs the `config` fail line of a binary whose settings
// could not be loaded, in the format LOG_FORMAT asks for (read alone from
// envFile, or ./.env, and the environment): a log pipeline that reads JSON
// reads this line too. A LOG_FORMAT that is neither course nor json gives
// the course's lines, and err names it.
func ConfigFailed(envFile string, err error) {
	format, _ := env.LogFormatOf(envFile)
	Logger(format, slog.LevelInfo).Error(logattr.Config, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
}

// LogConfig logs the `config` success line: every effective setting of
// cfg (env.Attrs), a duration as <key>_ms, a number of milliseconds (see
// logattr), and a database URL without its password.
func LogConfig(log *slog.Logger, cfg any) {
	args := []any{logattr.ResultKey, logattr.Success}
	attrs := env.Attrs(cfg)
	for i := 0; i < len(attrs); i += 2 {
		key := attrs[i].(string)
		switch v := attrs[i+1].(type) {
		case time.Duration:
			args = append(args, logattr.Millis(key+"_ms", v))
		case env.DatabaseURL:
			args = append(args, slog.Any(key, logattr.DatabaseURL(string(v))))
		default:
			args = append(args, key, v)
		}
	}
	log.Info(logattr.Config, args...)
}
