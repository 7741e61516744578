package regex

import (
	"testing"

	"github.com/gatelab/gatelab/engines/router/routertest"
)

func TestBehaviour(t *testing.T) { routertest.Run(t, New) }

func BenchmarkMatch50(b *testing.B)   { routertest.Bench(b, New, 50) }
func BenchmarkMatch500(b *testing.B)  { routertest.Bench(b, New, 500) }
func BenchmarkMatch5000(b *testing.B) { routertest.Bench(b, New, 5000) }
