// Package env loads the settings of each binary: a `.env` file
// read with godotenv (./.env when present, or the file named by --env-file),
// under the real environment, which wins. It never changes the process
// environment. Every missing, unknown or malformed key, every value below
// its floor, and every file named that the binary could not use, is
// reported in one error that names the key and the bad value, so nothing
// starts half-configured. Of the project it imports only what fixes a
// setting's bounds or its form in the config line (protocol's frame sizes,
// lottery/logattr); the binaries hand its typed settings on.
package env

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"quiniela/lottery/logattr"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	cenv "github.com/caarlos0/env/v11"
	"github.com/joho/godotenv"
)

// DefaultFile is loaded when no file is named and it exists.
const DefaultFile = ".env"

// Level is a logging level: DEBUG, INFO, WARNING (or WARN) or ERROR, in any
// case.
type Level slog.Level

// UnmarshalText parses a level name.
func (l *Level) UnmarshalText(b []byte) error {
	switch strings.ToUpper(string(b)) {
	case "DEBUG":
		*l = Level(slog.LevelDebug)
	case "INFO":
		*l = Level(slog.LevelInfo)
	case "WARNING", "WARN":
		*l = Level(slog.LevelWarn)
	case "ERROR":
		*l = Level(slog.LevelError)
	default:
		return errors.New("want DEBUG, INFO, WARNING or ERROR")
	}
	return nil
}

func (l Level) String() string {
	switch slog.Level(l) {
	case slog.LevelDebug:
		return "DEBUG"
	case slog.LevelWarn:
		return "WARNING"
	case slog.LevelError:
		return "ERROR"
	}
	return "INFO"
}

// LogFormat is how the binaries write their logs: course (the default,
// one line per event, which the course's tools parse) or json (log/slog's
// JSON handler, the same keys).
type LogFormat string

// The log formats.
const (
	LogCourse LogFormat = "course"
	LogJSON   LogFormat = "json"
)

// UnmarshalText parses a log format.
func (f *LogFormat) UnmarshalText(b []byte) error {
	switch LogFormat(strings.ToLower(string(b))) {
	case LogCourse:
		*f = LogCourse
	case LogJSON:
		*f = LogJSON
	default:
		return errors.New("want course or json (until then every binary logs in the course format)")
	}
	return nil
}

// Setting is one setting of a binary, for its -h: the variable, its
// default and what it means, from the same definitions load parses.
type Setting struct{ Key, Default, Help string }

// Settings lists the settings of cfg (a pointer to Server, Client or
// Healthcheck), in declaration order.
func Settings(cfg any) []Setting {
	t := reflect.TypeOf(cfg).Elem()
	var out []Setting
	for i := range t.NumField() {
		f := t.Field(i)
		if key := envKey(f); key != "" {
			def := f.Tag.Get("envDefault")
			if strings.Contains(f.Tag.Get("env"), ",required") {
				def = "(required)"
			}
			out = append(out, Setting{Key: key, Default: def, Help: f.Tag.Get("help")})
		}
	}
	return out
}

// Error lists every problem found in a configuration.
type Error struct {
	Source   string   // the .env file read, if any
	Problems []string // one per key, each naming the key and the value
}

func (e *Error) Error() string {
	src := "environment"
	if e.Source != "" {
		src = "environment and " + e.Source
	}
	return fmt.Sprintf("configuration (%s): %s", src, strings.Join(e.Problems, "; "))
}

// validator is implemented by settings with rules beyond their types.
type validator interface {
	validate(p *problems)
}

// machineChecker is implemented by settings that name what must already be
// right on this machine when the binary starts: a file to read, a file to
// append to. It is checked once the values themselves are sound.
type machineChecker interface {
	validator
	checkMachine(p *problems)
}

// problems gathers every problem of a configuration, one per key: a key
// that could not be read is not judged again on the zero value it left.
type problems struct {
	list []string
	keys map[string]bool
}

func (p *problems) addf(key, value, format string, args ...any) {
	if p.keys[key] {
		return
	}
	p.note(key)
	p.list = append(p.list, fmt.Sprintf("%s=%q: %s", key, value, fmt.Sprintf(format, args...)))
}

func (p *problems) note(key string) {
	if p.keys == nil {
		p.keys = map[string]bool{}
	}
	p.keys[key] = true
}

// load fills cfg from the .env file at path (or DefaultFile when path is
// empty and it exists) under the real environment (environ, as os.Environ
// gives it). One file may hold the settings of every binary (the central's
// and the agencies' in one ./.env): each reads its own and ignores the
// others'. A key in the file that no binary reads is an error: it is most
// often a typo. It judges the values alone, never the machine: see
// loadForStart.
func load(cfg validator, path string, environ []string) error {
	return loadChecking(cfg, path, environ, nil)
}

// loadForStart loads as load does and, when every value is sound, checks
// what they name on this machine (the files the binary will open), in the
// same error: what cannot work is refused at start, not after it.
func loadForStart(cfg machineChecker, path string, environ []string) error {
	return loadChecking(cfg, path, environ, cfg.checkMachine)
}

func loadChecking(cfg validator, path string, environ []string, checkMachine func(*problems)) error {
	file, source, err := readFile(path)
	if err != nil {
		return err
	}
	merged := merge(file, environ)

	p := &problems{}
	known := keysOf(cfg)
	var unknown []string
	for k := range file {
		if !anyBinaryReads(k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		p.addf(k, file[k], "unknown key in %s (no binary of the lottery reads it)", source)
	}

	if err := cenv.ParseWithOptions(cfg, cenv.Options{Environment: merged}); err != nil {
		var agg cenv.AggregateError
		if !errors.As(err, &agg) {
			return fmt.Errorf("configuration: %w", err)
		}
		for _, e := range agg.Errors {
			var parse cenv.ParseError
			var unset cenv.VarIsNotSetError
			switch {
			case errors.As(e, &parse):
				key := known[parse.Name]
				p.addf(key, merged[key], "%v", unwrapParse(parse.Err))
			case errors.As(e, &unset):
				p.note(unset.Key)
				p.list = append(p.list, fmt.Sprintf("%s: required and not set", unset.Key))
			default:
				p.list = append(p.list, e.Error())
			}
		}
	}
	// Every value that was read is judged too, so that one start names
	// every problem of the file, not one at a time.
	cfg.validate(p)
	if len(p.list) == 0 && checkMachine != nil {
		checkMachine(p)
	}
	if len(p.list) > 0 {
		return &Error{Source: source, Problems: p.list}
	}
	return nil
}

// readFile reads the .env file at path, or DefaultFile when path is empty
// and it exists (none: an empty map), and names the file it read.
func readFile(path string) (file map[string]string, source string, err error) {
	file = map[string]string{}
	switch {
	case path != "":
		m, err := godotenv.Read(path)
		if err != nil {
			return nil, "", fmt.Errorf("configuration: reading env file %s: %w", path, err)
		}
		file, source = m, path
	default:
		if _, err := os.Stat(DefaultFile); err == nil {
			m, err := godotenv.Read(DefaultFile)
			if err != nil {
				return nil, "", fmt.Errorf("configuration: reading env file %s: %w", DefaultFile, err)
			}
			file, source = m, DefaultFile
		}
	}
	return file, source, nil
}

// merge lays the environment (as os.Environ gives it) over the file's
// settings: the environment wins.
func merge(file map[string]string, environ []string) map[string]string {
	merged := make(map[string]string, len(file)+len(environ))
	for k, v := range file {
		merged[k] = v
	}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			merged[k] = v
		}
	}
	return merged
}

// LogFormatOf is the log format LOG_FORMAT asks for, read alone from the
// .env file at path (or ./.env) under the environment, as the binaries
// read it: a binary whose other settings are wrong, or that cannot read
// its file at all, still writes its config fail line in the format asked
// for. ok is false when LOG_FORMAT is set to neither course nor json: the
// format is then LogCourse, the default.
func LogFormatOf(path string) (f LogFormat, ok bool) {
	return logFormatOf(path, os.Environ())
}

func logFormatOf(path string, environ []string) (LogFormat, bool) {
	file, _, err := readFile(path)
	if err != nil {
		file = nil // the environment alone
	}
	v, set := merge(file, environ)["LOG_FORMAT"]
	if !set {
		return LogCourse, true
	}
	var f LogFormat
	if err := f.UnmarshalText([]byte(v)); err != nil {
		return LogCourse, false
	}
	return f, true
}

// unwrapParse keeps the reason of a parse error and drops the parser's
// function name, which means nothing to an operator.
func unwrapParse(err error) error {
	var num *strconv.NumError
	if errors.As(err, &num) {
		if errors.Is(num.Err, strconv.ErrRange) {
			return errors.New("out of range")
		}
		return errors.New("not a whole number")
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// keysOf maps every env key of cfg's struct to itself and every field name to
// its key (caarlos0/env reports parse errors by field name).
func keysOf(cfg any) map[string]string {
	keys := map[string]string{}
	t := reflect.TypeOf(cfg).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		key := envKey(f)
		if key == "" {
			continue
		}
		keys[key] = key
		keys[f.Name] = key
	}
	return keys
}

// anyBinaryReads reports whether key is a setting of any of the binaries.
func anyBinaryReads(key string) bool {
	for _, cfg := range []any{&Server{}, &Client{}, &Healthcheck{}} {
		if keysOf(cfg)[key] == key {
			return true
		}
	}
	return false
}

// envKey is the variable a settings field is read from ("" for none).
func envKey(f reflect.StructField) string {
	key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return key
}

// Attrs lists every effective setting of cfg as slog key/value pairs, keys
// in lower case, in declaration order, for the `config` log line. Values
// keep their kinds: numbers are ints, durations time.Duration, a database
// URL its DatabaseURL (which prints without its password), levels and
// formats their names, the rest strings. A setting that cfg does not use
// (STORAGE_FILEPATH when STORAGE_URL names the store) is left out, so that
// the line shows the store really used.
func Attrs(cfg any) []any {
	v := reflect.ValueOf(cfg)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	unused := func(string) bool { return false }
	if u, ok := v.Interface().(interface{ unused(key string) bool }); ok {
		unused = u.unused
	}
	t := v.Type()
	var attrs []any
	for i := range t.NumField() {
		key := envKey(t.Field(i))
		if key == "" || unused(key) {
			continue
		}
		var value any
		switch f := v.Field(i).Interface().(type) {
		case time.Duration, DatabaseURL:
			value = f
		case string:
			value = f
			if strings.HasSuffix(key, "_ADDRESS") && f != "" {
				value = logattr.Addresses(f)
			}
		case fmt.Stringer:
			value = f.String()
		default:
			value = f
		}
		attrs = append(attrs, strings.ToLower(key), value)
	}
	return attrs
}
