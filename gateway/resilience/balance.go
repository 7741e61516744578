package resilience

// maxSeq bounds the round-robin cycle; larger weight sums are scaled down.
const maxSeq = 4096

// maxDraws bounds how many round-robin positions one pick consumes while
// skipping instances out of rotation before it scans for one.
const maxDraws = 32

// wrrSequence returns the smooth weighted round-robin order (nginx's) of
// instances with the given weights (each at least 1): instance i appears
// weights[i] times per cycle, interleaved with the others.
func wrrSequence(weights []int) []int32 {
	if len(weights) == 0 {
		return nil
	}
	g, total := 0, 0
	for _, w := range weights {
		g = gcd(g, w)
		total += w
	}
	w := make([]int, len(weights))
	for i := range weights {
		w[i] = weights[i] / g
	}
	if total /= g; total > maxSeq {
		// Scale down, keeping every instance in the cycle.
		sum := total
		total = 0
		for i := range w {
			w[i] = max(1, w[i]*maxSeq/sum)
			total += w[i]
		}
	}
	cur := make([]int, len(w))
	seq := make([]int32, 0, total)
	for range total {
		best := 0
		for i := range cur {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		seq = append(seq, int32(best))
	}
	return seq
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (b *Backend) pick() *Instance {
	if b.s.Balance == LeastOutstanding {
		return b.pickLeast()
	}
	return b.pickRR()
}

// pickRR walks the weighted order. A position whose instance is out of
// rotation is skipped by drawing the next one, so the others keep their
// relative shares exactly (the skipped instance's turns are spread over the
// others in their weighted order rather than given to its neighbour).
func (b *Backend) pickRR() *Instance {
	n := uint64(len(b.seq))
	if n == 0 {
		return nil
	}
	var pos uint64
	for range min(n, maxDraws) {
		pos = uint64(b.rr.v.Add(1) - 1)
		if inst := b.insts[b.seq[pos%n]]; b.available(inst) {
			return inst
		}
	}
	// Mostly out of rotation: walk the order from the last draw.
	for i := uint64(1); i <= n; i++ {
		if inst := b.insts[b.seq[(pos+i)%n]]; b.available(inst) {
			return inst
		}
	}
	return nil
}

// pickLeast returns the instance with the fewest requests in flight per unit
// of weight, starting the scan at a rotating offset so that ties are shared.
func (b *Backend) pickLeast() *Instance {
	n := len(b.insts)
	if n == 0 {
		return nil
	}
	start := int(uint64(b.rr.v.Add(1)-1) % uint64(n))
	var best *Instance
	var bestLoad, bestW int64
	for i, j := 0, start; i < n; i++ {
		inst := b.insts[j]
		if j++; j == n {
			j = 0
		}
		if !b.available(inst) {
			continue
		}
		load, w := inst.st.inflight.Load(), int64(inst.Weight)
		if best == nil || load*bestW < bestLoad*w {
			best, bestLoad, bestW = inst, load, w
		}
	}
	return best
}
