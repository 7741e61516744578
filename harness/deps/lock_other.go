//go:build !unix

package deps

// lockMachine: without flock, concurrent processes may each build an image;
// the last import wins and the result is the same.
func lockMachine(name string) (unlock func()) { return func() {} }
