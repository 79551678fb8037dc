package bad

import "testing"

func TestPasses(t *testing.T) { t.Log("noise of a passing test") }

func TestFails(t *testing.T) {
	t.Log("what led up to it")
	t.Fatal("the reason it failed")
}
