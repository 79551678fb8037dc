//go:build !pprof

package cli

// Profile does nothing: the binary was built without -tags pprof.
func Profile() (stop func()) { return func() {} }
