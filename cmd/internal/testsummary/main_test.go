package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func TestTheSummaryKeepsFailuresAndBuildErrorsAndNamesEverySkip(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "test", "-json", "-count=1", "./...")
	cmd.Dir = "testdata/sample"
	raw, _ := cmd.Output() // it fails: a test fails and a package does not build
	var out bytes.Buffer
	failed, err := summarize(bytes.NewReader(raw), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Errorf("a failing test and a broken package were summarized as a success:\n%s", out.String())
	}
	got := out.String()
	for _, want := range []string{
		"ok  \tsample/good",
		"--- FAIL: TestFails",
		"what led up to it",
		"the reason it failed",
		"FAIL\tsample/bad",
		"undefinedName",
		"skipped: 2 tests\n",
		"  sample/good TestNeedsATool: SKIP: frobnicator is not installed\n",
		"  sample/good TestWithSubtests/one_skips: SKIP: no browser\n",
		"failed: 1 test\n  sample/bad TestFails: failed\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary lacks %q:\n%s", want, got)
		}
	}
	for _, noise := range []string{"=== RUN", "noise of a passing test", "--- PASS"} {
		if strings.Contains(got, noise) {
			t.Errorf("the summary shows %q, which a plain go test does not:\n%s", noise, got)
		}
	}
}

func TestATestThatNeverEndsIsShownAndNamedLast(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "test", "-json", "-count=1", "-timeout=1s", ".")
	cmd.Dir = "testdata/timeout"
	raw, _ := cmd.Output() // it fails: the package times out
	var out bytes.Buffer
	failed, err := summarize(bytes.NewReader(raw), &out)
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !failed {
		t.Errorf("a package that timed out was summarized as a success:\n%s", got)
	}
	for _, want := range []string{
		"what it did before it hung",
		"panic: test timed out after 1s",
		"FAIL\ttimeout",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary lacks %q:\n%s", want, got)
		}
	}
	if want := "failed: 1 test\n  timeout TestNeverEnds: " + unfinished + "\n"; !strings.HasSuffix(got, want) {
		t.Errorf("the summary does not end naming the test that never ended, %q:\n%s", want, got)
	}
}

func TestARunWithNothingSkippedSaysSo(t *testing.T) {
	t.Parallel()
	in := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.01s\n"}
{"Action":"pass","Package":"p"}
`
	var out bytes.Buffer
	failed, err := summarize(strings.NewReader(in), &out)
	if err != nil || failed || out.String() != "ok  \tp\t0.01s\nskipped: none\n" {
		t.Fatalf("failed %v, err %v, output:\n%s", failed, err, out.String())
	}
}
