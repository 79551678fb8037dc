package cli

import (
	"strings"
	"testing"
)

func TestWordsLeftAfterTheFlagsAreRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		settings bool
		want     string // "" when the command line is taken
	}{
		{"flags alone are taken", nil, true, ""},
		{"a stray word is named with the usage hint", []string{"extra-arg"}, true,
			`unexpected argument "extra-arg": server takes no arguments, only flags; its settings come from the environment or --env-file (server -h lists both)`},
		{"a setting given as an argument is named as it was typed", []string{"SERVER_PORT=4000"}, true,
			`unexpected argument "SERVER_PORT=4000"`},
		{"every stray word is named", []string{"a", "--env-file", "b c"}, true,
			`unexpected arguments "a" "--env-file" "b c"`},
		{"a binary without settings points at its flags only", []string{"out"}, false,
			`unexpected argument "out": server takes no arguments, only flags (server -h lists them)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := noArguments("server", tt.args, tt.settings)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want it to say %q", err, tt.want)
			}
		})
	}
}
