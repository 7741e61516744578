package budget

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse: Parse never panics; an error is a *SyntaxError (or several)
// with a column inside the text and a zero Expr; an expression that parses
// is in the catalogue, finite, reads back from its canonical form, and
// evaluates and formats.
func FuzzParse(f *testing.F) {
	for _, c := range okCases {
		f.Add(c.text)
	}
	for _, c := range errCases {
		f.Add(c.text)
	}
	f.Add("latency.p99{route:\xff} < 1ms")
	f.Add("latency.p99 < 1\u00b5s")
	f.Fuzz(func(t *testing.T, text string) {
		e, err := Parse(text)
		if err != nil {
			if !reflect.DeepEqual(e, Expr{}) {
				t.Fatalf("error with a non-zero Expr %#v", e)
			}
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			runes := utf8.RuneCountInString(strings.TrimSpace(text))
			for _, err := range errs {
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("%T is not a *SyntaxError: %v", err, err)
				}
				if se.Col < 1 || se.Col > runes+1 || se.Msg == "" {
					t.Fatalf("col %d outside 1..%d or empty message: %v", se.Col, runes+1, err)
				}
			}
			return
		}
		if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
			t.Fatalf("non-finite value %v", e.Value)
		}
		fam, _, ok := Lookup(e.Metric)
		if !ok || fam.Kind != e.Kind {
			t.Fatalf("parsed %q: family %v %v, kind %v", text, fam.Name, ok, e.Kind)
		}
		if e.Text != strings.TrimSpace(text) {
			t.Fatalf("Text %q", e.Text)
		}
		back, err := Parse(e.String())
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", e.String(), text, err)
		}
		if back.Metric != e.Metric || back.Op != e.Op || back.Kind != e.Kind || back.Unit != e.Unit || !slices.Equal(back.Tags, e.Tags) ||
			!(approxEqual(back.Value, e.Value) || math.Abs(back.Value-e.Value) < 1e-300) {
			t.Fatalf("canonical %q reads back as %#v, want %#v", e.String(), back, e)
		}
		v := Evaluate(e, SourceFunc(func(Expr) (float64, bool, error) { return e.Value, true, nil }))
		wantPass := e.Op == Le || e.Op == Ge || e.Op == Eq
		if (v.Result == Pass) != wantPass || v.ObservedText() == "" || v.String() == "" {
			t.Fatalf("observed == limit: %v (%q)", v, v.ObservedText())
		}
	})
}
