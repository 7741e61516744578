//go:build !unix

package redistest

// lockMachine: without flock, concurrent test binaries may each build the
// local image; the last import wins and the result is the same.
func lockMachine(name string) (unlock func()) { return func() {} }
