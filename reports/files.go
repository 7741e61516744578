package reports

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Report file names in a run's directory.
const (
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
	CompareFile  = "compare.md"
)

// WriteReportFiles renders report.md and report.html of r into dir and
// returns their paths. A file is written whole or not at all (rendered in
// memory first), so a failed render never leaves half a report.
func WriteReportFiles(dir string, r *Results) ([]string, error) {
	var paths []string
	for _, f := range []struct {
		name   string
		render func(*bytes.Buffer) error
	}{
		{MarkdownFile, func(b *bytes.Buffer) error { return RenderMarkdown(b, r) }},
		{HTMLFile, func(b *bytes.Buffer) error { return RenderHTML(b, r) }},
	} {
		var b bytes.Buffer
		if err := f.render(&b); err != nil {
			return paths, fmt.Errorf("rendering %s: %w", f.name, err)
		}
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			return paths, fmt.Errorf("writing %s: %w", f.name, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
