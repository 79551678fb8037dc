package env

import (
	"slices"
	"testing"
)

func TestChangedNamesTheKeysThatDiffer(t *testing.T) {
	t.Parallel()
	var old, next Server
	if err := load(&old, writeFile(t, "SERVER_PORT=4000\nLOGGING_LEVEL=INFO\n"), nil); err != nil {
		t.Fatal(err)
	}
	if got := Changed(old, old); len(got) != 0 {
		t.Fatalf("the same settings: %v changed", got)
	}
	if err := load(&next, writeFile(t, "SERVER_PORT=4001\nLOGGING_LEVEL=DEBUG\nSTORAGE_URL=postgres://u:secret@db/q\n"), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := Changed(old, next), []string{"SERVER_PORT", "LOGGING_LEVEL", "STORAGE_URL"}; !slices.Equal(got, want) {
		t.Fatalf("changed %v, want %v", got, want)
	}
}
