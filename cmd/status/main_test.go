package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTheTableShowsEachAgencyAndTheDraw(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"agencies":[{"agency":1,"stored":200,"ended":true,"connected":false},
			{"agency":2,"stored":100,"ended":false,"connected":true,"last_seen":"2026-11-28T21:00:00Z"}],
			"draw_done":false}`))
	}))
	defer srv.Close()
	var out strings.Builder
	if err := run(&out, srv.URL+"/status"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[1], "[####################]") || !strings.Contains(lines[1], "200  yes") {
		t.Errorf("an ended agency: %q", lines[1])
	}
	if !strings.Contains(lines[2], "[##########..........]") || !strings.Contains(lines[2], "yes") {
		t.Errorf("an agency halfway, connected: %q", lines[2])
	}
	if lines[3] != "draw: pending" {
		t.Errorf("the draw: %q", lines[3])
	}
	if err := run(&out, srv.URL+"/nothing"); err == nil {
		t.Error("a 404 was read as a status")
	}
}
