// Package scenarios holds the lab's built-in scenario files (*.yaml), embedded
// into the gatelab binary so "gatelab bench" runs them from anywhere. They are
// data: harness/scenario reads them, and "gatelab bench -scenario FILE" runs a
// user's own file the same way.
package scenarios

import "embed"

// FS holds every built-in scenario file.
//
//go:embed *.yaml
var FS embed.FS
