package main

import (
	"testing"

	"quiniela/env"
	"quiniela/supervisor"
)

func TestTheAgencysFloorsClearTheCentralsWinnersHold(t *testing.T) {
	t.Parallel()
	// An agency's reply timeout at its floor must outlast a held winners
	// query with room for the round trip, and its winners wait must cover
	// one held query: the env package cannot see the central's hold.
	if env.MinIOTimeout <= supervisor.DefaultWinnersHold {
		t.Errorf("env.MinIOTimeout %s does not exceed the central's winners hold %s", env.MinIOTimeout, supervisor.DefaultWinnersHold)
	}
	if env.MinWinnersTimeout < supervisor.DefaultWinnersHold {
		t.Errorf("env.MinWinnersTimeout %s is shorter than the central's winners hold %s", env.MinWinnersTimeout, supervisor.DefaultWinnersHold)
	}
}
