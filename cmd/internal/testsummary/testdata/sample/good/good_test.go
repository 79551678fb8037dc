package good

import "testing"

func TestPasses(t *testing.T) {}

func TestNeedsATool(t *testing.T) { t.Skip("SKIP: frobnicator is not installed") }

func TestWithSubtests(t *testing.T) {
	t.Run("one passes", func(t *testing.T) {})
	t.Run("one skips", func(t *testing.T) { t.Skip("SKIP: no browser") })
}
