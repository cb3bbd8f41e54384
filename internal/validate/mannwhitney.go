package validate

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Alternative is the hypothesis a Mann-Whitney U test accepts when it
// rejects "x and y come from the same distribution".
type Alternative int

// Alternatives, named as in scipy.stats.mannwhitneyu.
const (
	TwoSided Alternative = iota // x and y differ
	Greater                     // x tends to be larger than y
	Less                        // x tends to be smaller than y
)

func (a Alternative) String() string {
	switch a {
	case Greater:
		return "greater"
	case Less:
		return "less"
	}
	return "two-sided"
}

// MannWhitneyResult is the outcome of one test.
type MannWhitneyResult struct {
	U1    float64 // U statistic of x: pairs (x_i, y_j) with x_i > y_j, ties counting one half
	P     float64 // p-value for the alternative
	Exact bool    // P comes from the exact null distribution, not the normal approximation
}

// exactMaxN bounds the larger sample for the exact distribution; the table
// it builds grows with n1*n2*n2.
const exactMaxN = 200

// MannWhitneyU tests x against y. It follows scipy.stats.mannwhitneyu with
// method="auto": the exact null distribution when there are no ties and the
// smaller sample has at most 8 values (and the larger at most exactMaxN),
// otherwise the normal approximation with tie correction and continuity
// correction. The approximation is good once both samples have about 8
// values or more; below that with ties it is only a rough guide, which is
// why the canary checker reports too few samples as Inconclusive.
func MannWhitneyU(x, y []float64, alt Alternative) (MannWhitneyResult, error) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return MannWhitneyResult{}, errors.New("mann-whitney: both samples need at least one value")
	}
	all := make([]float64, 0, n1+n2)
	all = append(all, x...)
	all = append(all, y...)
	for _, v := range all {
		if math.IsNaN(v) {
			return MannWhitneyResult{}, errors.New("mann-whitney: samples contain NaN")
		}
	}
	ranks, tieTerm := rank(all)
	var r1 float64
	for _, r := range ranks[:n1] {
		r1 += r
	}
	u1 := r1 - float64(n1)*float64(n1+1)/2
	u2 := float64(n1)*float64(n2) - u1
	u, factor := u1, 1.0
	switch alt {
	case Less:
		u = u2
	case TwoSided:
		u, factor = math.Max(u1, u2), 2
	case Greater:
	default:
		return MannWhitneyResult{}, fmt.Errorf("mann-whitney: unknown alternative %d", alt)
	}
	res := MannWhitneyResult{U1: u1}
	if tieTerm == 0 && min(n1, n2) <= 8 && max(n1, n2) <= exactMaxN {
		res.Exact = true
		res.P = exactSF(int(math.Round(u)), min(n1, n2), max(n1, n2))
	} else {
		res.P = normalSF(mwuZ(u, n1, n2, tieTerm))
	}
	res.P = math.Min(math.Max(res.P*factor, 0), 1)
	return res, nil
}

// rank gives 1-based average ranks and the tie term sum(t^3 - t) over
// groups of t equal values.
func rank(v []float64) ([]float64, float64) {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	ranks := make([]float64, len(v))
	var tieTerm float64
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && v[idx[j]] == v[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // mean of ranks i+1 .. j
		for k := i; k < j; k++ {
			ranks[idx[k]] = avg
		}
		if t := float64(j - i); t > 1 {
			tieTerm += t*t*t - t
		}
		i = j
	}
	return ranks, tieTerm
}

// mwuZ is the continuity-corrected z score of U under the null hypothesis,
// with the variance reduced for ties.
func mwuZ(u float64, n1, n2 int, tieTerm float64) float64 {
	m1, m2 := float64(n1), float64(n2)
	n := m1 + m2
	mu := m1 * m2 / 2
	variance := m1 * m2 / 12 * ((n + 1) - tieTerm/(n*(n-1)))
	if variance <= 0 {
		// Every value is equal: nothing to tell apart.
		return math.Inf(-1)
	}
	return (u - mu - 0.5) / math.Sqrt(variance)
}

// normalSF is P(Z >= z) for a standard normal Z.
func normalSF(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// exactSF is P(U >= k) under the null hypothesis for samples of m <= n
// values without ties. The counts of arrangements with each U follow
// f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u): the largest value belongs to
// the first sample (beating all j of the second) or to the second.
func exactSF(k, m, n int) float64 {
	if k <= 0 {
		return 1
	}
	if k > m*n {
		return 0
	}
	size := m*n + 1
	// prev[j][u] holds f(i-1, j, u); cur[j][u] holds f(i, j, u).
	prev := make([][]float64, n+1)
	cur := make([][]float64, n+1)
	for j := range prev {
		prev[j] = make([]float64, size)
		cur[j] = make([]float64, size)
		prev[j][0] = 1 // f(0, j, u) = [u == 0]
	}
	for i := 1; i <= m; i++ {
		clear(cur[0])
		cur[0][0] = 1 // f(i, 0, u) = [u == 0]
		for j := 1; j <= n; j++ {
			for u := 0; u <= i*j; u++ {
				c := cur[j-1][u]
				if u >= j {
					c += prev[j][u-j]
				}
				cur[j][u] = c
			}
			clear(cur[j][i*j+1:])
		}
		prev, cur = cur, prev
	}
	counts := prev[n]
	var total, tail float64
	for u, c := range counts {
		total += c
		if u >= k {
			tail += c
		}
	}
	return tail / total
}

// median of v (which it sorts in place); NaN when v is empty.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	h := len(v) / 2
	if len(v)%2 == 1 {
		return v[h]
	}
	return (v[h-1] + v[h]) / 2
}
