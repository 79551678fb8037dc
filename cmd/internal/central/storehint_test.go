package central

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestAStoreThatMayNotBeWrittenSaysWhatToDo(t *testing.T) {
	denied := &fs.PathError{Op: "open", Path: "/storage/bets.csv", Err: fs.ErrPermission}
	for _, tc := range []struct {
		name   string
		err    error
		docker bool
		want   []string // in the hint; none: no hint at all
	}{
		{"a permission error in Docker names the host folder, the uid and both fixes", fmt.Errorf("store - opening - %w", denied), true,
			[]string{"/storage", "uid 65532", "generar-compose.sh", "chown -R 65532 .storage"}},
		{"a permission error elsewhere names the file, its folder and the chown", denied, false,
			[]string{"/storage/bets.csv", "the folder /storage", "uid 65532", "chown -R 65532 /storage"}},
		{"another error gets no hint", errors.New("store: locked"), true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			detail := openStoreFailure("/storage/bets.csv", tc.err)
			if tc.want == nil {
				if len(detail) != 6 {
					t.Fatalf("got %v, want no hint", detail)
				}
				return
			}
			if len(detail) != 8 || detail[6] != "hint" {
				t.Fatalf("got %v, want a hint", detail)
			}
			hint := permissionHint("/storage/bets.csv", 65532, tc.docker)
			for _, w := range tc.want {
				if !strings.Contains(hint, w) {
					t.Errorf("the hint %q does not say %q", hint, w)
				}
			}
			// The course's parser splits on | and takes a key up to the last :.
			if strings.ContainsAny(hint, "|:\n") {
				t.Errorf("the hint %q holds a character the log format reserves", hint)
			}
		})
	}
	if uid := os.Getuid(); !strings.Contains(openStoreFailure("x", denied)[7].(string), fmt.Sprint("uid ", uid)) {
		t.Errorf("the hint does not name this process's uid %d", uid)
	}
}
