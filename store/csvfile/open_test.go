package csvfile

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"quiniela/lottery"
)

func TestOpenRefusesAStorePathThatIsNotARegularFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// place makes the bad file in dir and returns the store's path
		// and the path Open must name.
		place func(t *testing.T, dir string) (store, bad string)
		kind  string
	}{
		{"/dev/null, which would take every bet and keep none", devicePath("/dev/null"), "a character device"},
		{"/dev/full, which would refuse every batch", devicePath("/dev/full"), "a character device"},
		{"a directory", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "bets.csv")
			mkdir(t, p)
			return p, p
		}, "a directory"},
		{"a named pipe", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "bets.csv")
			mkfifo(t, p)
			return p, p
		}, "a named pipe (FIFO)"},
		{"a socket", func(t *testing.T, _ string) (string, string) {
			p := unixSocket(t)
			return p, p
		}, "a socket"},
		{"a symbolic link to /dev/null", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "bets.csv")
			symlink(t, os.DevNull, p)
			return p, p
		}, "a character device"},
		{"a journal that is a directory", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "bets.csv")
			mkdir(t, p+EndsSuffix)
			return p, p + EndsSuffix
		}, "a directory"},
		{"a journal that is a named pipe", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "bets.csv")
			mkfifo(t, p+EndsSuffix)
			return p, p + EndsSuffix
		}, "a named pipe (FIFO)"},
		{"a journal linked to /dev/null", func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(dir, "bets.csv")
			symlink(t, os.DevNull, p+EndsSuffix)
			return p, p + EndsSuffix
		}, "a character device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, bad := tt.place(t, t.TempDir())
			_, journalBefore := os.Lstat(path + EndsSuffix)
			s, err := Open(path, nil)
			if err == nil {
				s.Close(bg)
				t.Fatalf("Open(%s) took %s", path, bad)
			}
			if want := fmt.Sprintf("store: %s is %s, not a regular file", bad, tt.kind); !strings.Contains(err.Error(), want) {
				t.Fatalf("Open(%s): %v, want it to say %q", path, err, want)
			}
			if _, err := os.Lstat(path + EndsSuffix); journalBefore != nil && err == nil {
				t.Fatalf("a journal %s was created beside a refused store", path+EndsSuffix)
			}
			if bad != path {
				// The bet file's lock was let go: with the journal
				// fixed, the store opens.
				if err := os.Remove(bad); err != nil {
					t.Fatal(err)
				}
				s, err := Open(path, nil)
				if err != nil {
					t.Fatalf("Open once the journal was removed: %v", err)
				}
				s.Close(bg)
			}
		})
	}
}

func TestASymbolicLinkToARegularFileIsAStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	real, link := filepath.Join(dir, "real.csv"), filepath.Join(dir, "bets.csv")
	if err := os.WriteFile(real, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	symlink(t, real, link)
	s, err := Open(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(bg, []lottery.Bet{bet(1, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordEnd(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(bg); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(real); string(raw) != "1,Ana,Pérez,1,1990-01-02,1\n" {
		t.Fatalf("the linked file holds %q", raw)
	}
	if raw, _ := os.ReadFile(link + EndsSuffix); string(raw) != "1\n" {
		t.Fatalf("the journal beside the link holds %q", raw)
	}
}

// devicePath places nothing: the store is the device itself, and Open must
// refuse it before making a journal beside it in /dev.
func devicePath(dev string) func(*testing.T, string) (string, string) {
	return func(t *testing.T, _ string) (string, string) {
		if _, err := os.Stat(dev); err != nil {
			t.Skipf("SKIP: %s: %v", dev, err)
		}
		return dev, dev
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t *testing.T, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// unixSocket listens on a Unix socket in a short folder of its own (a
// socket's path is limited to about 100 bytes) and returns its path.
func unixSocket(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "bets.csv")
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return p
}
