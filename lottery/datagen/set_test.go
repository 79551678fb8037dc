package datagen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestASetIsWrittenOnceWithItsSummaryAndNeverWrittenOver(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := WriteSet(dir, 7, 2, 300, 2, false); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Agencies) != 2 {
		t.Fatalf("summary of %d agencies, want 2", len(s.Agencies))
	}
	for _, a := range s.Agencies {
		file, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("agency-%d.csv", a.Agency)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(file)
		if lines := strings.Count(string(file), "\n"); lines != 300 || a.Bets != 300 || a.Winners != 2 || a.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("agency %d: %d lines, summary %+v, file's SHA-256 %x", a.Agency, lines, a, sum)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "agency-1.csv"))
	if err := WriteSet(dir, 8, 2, 300, 2, false); err == nil {
		t.Fatal("a second set was written over the first")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "agency-1.csv")); string(after) != string(before) {
		t.Fatal("a refused second set changed agency-1.csv")
	}
}
