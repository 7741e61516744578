package intmath

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestFloorDiv(t *testing.T) {
	for _, c := range []struct{ a, b, want int64 }{{7, 2, 3}, {-7, 2, -4}, {-8, 2, -4}, {0, 5, 0}, {-1, 10, -1}} {
		if got := FloorDiv(c.a, c.b); got != c.want {
			t.Errorf("FloorDiv(%d,%d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestAgainstBig checks the 128-bit helpers against math/big.
func TestAgainstBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		a, b, d := r.Uint64(), r.Uint64()>>1, r.Uint64()|1
		x := Mul(a, b)
		bx := new(big.Int).Mul(new(big.Int).SetUint64(a), new(big.Int).SetUint64(b))
		if x.Hi < d {
			q, m := new(big.Int).DivMod(bx, new(big.Int).SetUint64(d), new(big.Int))
			if m.Sign() != 0 {
				q.Add(q, big.NewInt(1))
			}
			if got := x.DivCeil(d); got != q.Uint64() {
				t.Fatalf("DivCeil(%d*%d, %d) = %d, want %s", a, b, d, got, q)
			}
		}
		y := Mul(r.Uint64()>>2, r.Uint64()>>2)
		by := new(big.Int).SetUint64(y.Hi)
		by.Lsh(by, 64).Add(by, new(big.Int).SetUint64(y.Lo))
		if x.Less(y) != (bx.Cmp(by) < 0) {
			t.Fatalf("Less mismatch")
		}
		if s := x.Add(y).Sub(y); s != x {
			t.Fatalf("Add/Sub round trip: %v != %v", s, x)
		}
	}
	if got := MulDivSat(math.MaxUint64, math.MaxUint64, 1, 1000); got != 1000 {
		t.Errorf("MulDivSat saturation = %d", got)
	}
	if got := MulDivSat(6, 7, 4, 1000); got != 10 {
		t.Errorf("MulDivSat(6,7,4) = %d, want 10", got)
	}
}
