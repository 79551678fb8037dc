package datagen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// SummaryFile is the name of the summary datagen writes beside the agency
// files it generated.
const SummaryFile = "winners.json"

// Summary says what datagen generated: per agency file, its bets, its
// winners, and its SHA-256, so that a round is checked only against the
// files it describes (a user may have put other files in their place).
type Summary struct {
	Seed     uint64        `json:"seed"`
	Agencies []AgencyFacts `json:"agencies"`
}

// AgencyFacts describes one generated agency file.
type AgencyFacts struct {
	Agency  int    `json:"agency"`
	Bets    int    `json:"bets"`
	Winners int    `json:"winners"`
	SHA256  string `json:"sha256"`
}

// ReadSummary reads a summary file.
func ReadSummary(path string) (Summary, error) {
	var s Summary
	raw, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("reading %s: %w", path, err)
	}
	return s, nil
}

// Expect returns the facts of agency when the summary describes exactly the
// file at path (same SHA-256), and false otherwise.
func (s Summary) Expect(agency int, path string) (AgencyFacts, bool) {
	sum, err := FileSHA256(path)
	if err != nil {
		return AgencyFacts{}, false
	}
	for _, f := range s.Agencies {
		if f.Agency == agency && f.SHA256 == sum {
			return f, true
		}
	}
	return AgencyFacts{}, false
}

// FileSHA256 is the hex SHA-256 of a file's bytes.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
