// Package datagen writes realistic synthetic agency files, one bet per line
// as the course's are (first_name,last_name,document,birthdate,number),
// deterministically from a seed: Argentine first and last names (accents
// included), unique plausible documents, real birthdates, and an exact,
// known number of winning bets per agency, so that a round can be checked.
package datagen

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"quiniela/lottery"
)

// OfficialSizes are bets per agency shaped like the course's official set:
// five files from about 27,000 lines down to about 1,000, 79,000 in all.
var OfficialSizes = []int{27000, 22000, 17000, 12000, 1000}

var firstNames = []string{
	"Santiago Lionel", "María José", "Sofía", "Valentina", "Mateo", "Benjamín", "Martín", "Joaquín",
	"Lucía", "Agustina", "Camila", "Tomás", "Nicolás", "Facundo", "Julián", "Florencia", "Rocío",
	"Máximo", "Thiago", "Agustín", "Martina", "Catalina", "Emilia", "Ramón", "Héctor", "Inés",
	"Germán", "Sebastián", "Ana Belén", "Juan Ignacio", "Josefina", "Luciano", "Débora", "Iván",
}

var lastNames = []string{
	"Lorca", "González", "Rodríguez", "Gómez", "Fernández", "López", "Díaz", "Martínez", "Pérez",
	"García", "Sánchez", "Romero", "Sosa", "Álvarez", "Torres", "Ruiz", "Ramírez", "Flores",
	"Benítez", "Acosta", "Medina", "Herrera", "Suárez", "Aguirre", "Giménez", "Gutiérrez",
	"Fornerón", "Peñalba", "Ibáñez", "Muñoz", "Castaño", "Domínguez", "Ríos", "Núñez",
}

// Plausible ranges: documents of living adults, bettors born 1930 to 2005.
const (
	minDocument = 5_000_000
	maxDocument = 46_000_000
)

var (
	earliestBirth = time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC)
	latestBirth   = time.Date(2005, 12, 31, 0, 0, 0, 0, time.UTC)
)

// Generator produces the bets of every agency of one data set. Documents
// are unique across the whole set.
type Generator struct {
	rng  *rand.Rand
	docs map[uint32]struct{}
}

// New returns a generator seeded with seed: the same seed gives the same
// files.
func New(seed uint64) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), docs: map[uint32]struct{}{}}
}

// Bets returns n bets of agency, exactly winners of which play the winning
// number.
func (g *Generator) Bets(agency uint16, n, winners int) ([]lottery.Bet, error) {
	if winners < 0 || winners > n {
		return nil, fmt.Errorf("agency %d: %d winners among %d bets", agency, winners, n)
	}
	if len(g.docs)+n > (maxDocument-minDocument)/2 {
		return nil, fmt.Errorf("agency %d: too many bets for unique documents", agency)
	}
	win := map[int]bool{}
	for len(win) < winners {
		win[g.rng.IntN(n)] = true
	}
	days := int(latestBirth.Sub(earliestBirth).Hours() / 24)
	bets := make([]lottery.Bet, n)
	for i := range bets {
		number := uint16(g.rng.IntN(lottery.MaxNumber))
		if number >= lottery.WinningNumber {
			number++ // uniform over 0..9999 without the winning number
		}
		if win[i] {
			number = lottery.WinningNumber
		}
		bets[i] = lottery.Bet{
			Agency:    agency,
			FirstName: firstNames[g.rng.IntN(len(firstNames))],
			LastName:  lastNames[g.rng.IntN(len(lastNames))],
			Document:  g.document(),
			Birthdate: earliestBirth.AddDate(0, 0, g.rng.IntN(days+1)).Format(lottery.DateLayout),
			Number:    number,
		}
	}
	return bets, nil
}

func (g *Generator) document() uint32 {
	for {
		d := uint32(minDocument + g.rng.IntN(maxDocument-minDocument))
		if _, dup := g.docs[d]; !dup {
			g.docs[d] = struct{}{}
			return d
		}
	}
}

// Write writes bets as an agency file: one line per bet, no header, with
// CRLF line endings when crlf is set.
func Write(w io.Writer, bets []lottery.Bet, crlf bool) error {
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	cw.UseCRLF = crlf
	rec := make([]string, 0, lottery.AgencyFields)
	for _, b := range bets {
		if err := cw.Write(b.AppendAgencyRecord(rec[:0])); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// DefaultWinners is the number of winners an agency of n bets gets unless
// told otherwise: about one in five thousand, at least one.
func DefaultWinners(n int) int { return min(n, n/5000+1) }
