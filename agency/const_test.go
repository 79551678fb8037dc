package agency

import (
	"testing"

	"quiniela/env"
	"quiniela/protocol"
)

// The settings' default batch is written as a number (env imports none of
// the project's packages): it must stay the protocol's cap, the most bets
// an 8 KiB frame holds.
func TestDefaultBatchIsTheProtocolsCap(t *testing.T) {
	t.Parallel()
	if env.DefaultBatchMaxAmount != protocol.MaxBatchCount {
		t.Fatalf("env.DefaultBatchMaxAmount = %d, protocol.MaxBatchCount = %d", env.DefaultBatchMaxAmount, protocol.MaxBatchCount)
	}
}
