package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"quiniela/cmd/internal/proctest"
)

// TestScripts plays the scenarios of testdata/*.txtar, each a user's
// session: the binaries TestMain built are on the script's PATH, each
// reads no .env of its own (the scripts' folders hold none), and
// free-port VAR gives a loopback port for a central to come up on.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", filepath.Dir(bins["server"])+string(os.PathListSeparator)+e.Getenv("PATH"))
			e.Setenv("GORACE", "atexit_sleep_ms=0")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// free-port VAR sets VAR to a free loopback port.
			"free-port": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: free-port VAR")
				}
				port, err := proctest.Port()
				ts.Check(err)
				ts.Setenv(args[0], port)
			},
		},
	})
}
