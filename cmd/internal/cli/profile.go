//go:build pprof

package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Profile, in a binary built with -tags pprof and run with PPROF_PREFIX
// set, writes the process's CPU profile to PREFIX.<pid>.cpu and its
// allocations to PREFIX.<pid>.alloc when the returned stop is called (make
// bench's profiles: cmd/internal/roundbench -profile). Binaries built
// without the tag have no such code.
func Profile() (stop func()) {
	prefix := os.Getenv("PPROF_PREFIX")
	if prefix == "" {
		return func() {}
	}
	runtime.MemProfileRate = 4096
	path := fmt.Sprintf("%s.%d", prefix, os.Getpid())
	cpu, err := os.Create(path + ".cpu")
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		alloc, err := os.Create(path + ".alloc")
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		defer alloc.Close()
		if err := pprof.Lookup("allocs").WriteTo(alloc, 0); err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
		}
	}
}
