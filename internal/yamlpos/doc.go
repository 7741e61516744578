// Package yamlpos gives strict YAML decoders their line numbers: where each
// key and item of a document is (Index), and the line and bare message of a
// go-yaml error (Line, Message), so every problem of a file can be listed
// with its line. Used by the scenario files and the conformance
// capabilities files.
package yamlpos
