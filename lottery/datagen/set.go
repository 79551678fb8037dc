package datagen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteSet writes agencies agency files into the folder out (made if
// missing), agency-1.csv and on, with bets each (0: sized like the
// official set for 5 agencies, else 1000) and winners each (-1: about one
// in 5000 bets, at least one), from seed, CRLF-ended when crlf; then
// SummaryFile, which gives each file's expected winners and its SHA-256.
// It never writes over an agency file already there: it fails instead.
func WriteSet(out string, seed uint64, agencies, bets, winners int, crlf bool) error {
	if agencies < 1 || agencies > 65535 {
		return fmt.Errorf("-agencies %d is not within 1..65535", agencies)
	}
	if bets < 0 || winners < -1 {
		return fmt.Errorf("-bets %d and -winners %d must not be negative", bets, winners)
	}
	// Agency files are the user's: an existing one is never written over,
	// and nothing is written unless every file can be.
	path := func(i int) string { return filepath.Join(out, fmt.Sprintf("agency-%d.csv", i)) }
	for i := 1; i <= agencies; i++ {
		if _, err := os.Lstat(path(i)); err == nil {
			return fmt.Errorf("%s exists: datagen never writes over agency files (choose another -out, or move them away)", path(i))
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	g := New(seed)
	summary := Summary{Seed: seed}
	for i := 1; i <= agencies; i++ {
		n := bets
		if n == 0 {
			n = 1000
			if agencies == len(OfficialSizes) {
				n = OfficialSizes[i-1]
			}
		}
		w := winners
		if w < 0 {
			w = DefaultWinners(n)
		}
		list, err := g.Bets(uint16(i), n, w)
		if err != nil {
			return err
		}
		h := sha256.New()
		err = writeFile(path(i), os.Link, func(f *os.File) error { return Write(io.MultiWriter(f, h), list, crlf) })
		if err != nil {
			return err
		}
		summary.Agencies = append(summary.Agencies, AgencyFacts{Agency: i, Bets: n, Winners: w, SHA256: hex.EncodeToString(h.Sum(nil))})
		fmt.Printf("agency: %d | bets: %d | winners: %d | file: %s\n", i, n, w, path(i))
	}
	raw, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(out, SummaryFile), os.Rename, func(f *os.File) error {
		_, err := f.Write(append(raw, '\n'))
		return err
	})
}

// writeFile writes through a temporary file and then puts it in place with
// os.Rename, or with os.Link, which fails rather than write over an
// existing file. An interrupted run never leaves a half-written file that
// looks whole.
func writeFile(path string, place func(tmp, path string) error, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes files for its owner only; data files are for anyone
	// who reads them, such as a container's unprivileged user.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return place(tmp.Name(), path)
}
