package validate

import (
	"math"
	"testing"
)

func TestMannWhitneyKnownValues(t *testing.T) {
	males := []float64{19, 22, 16, 29, 24}
	females := []float64{20, 11, 17, 12}
	// Hollander & Wolfe (1973) p. 69, the example of R's wilcox.test.
	hwX := []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	hwY := []float64{1.15, 0.88, 0.90, 0.74, 1.21}
	// Ties, worked by hand: combined 1x 2x 2x 2y 3x 3y 4y 5y gets ranks
	// 1, 3, 3, 3, 5.5, 5.5, 7, 8, so R1 = 12.5, U1 = 12.5 - 4*5/2 = 2.5 and
	// U2 = 13.5; tie term (27-3) + (8-2) = 30; variance
	// 4*4/12 * (9 - 30/56) = 11.285714...; z(13.5) = (13.5-8-0.5)/sd.
	tieX := []float64{1, 2, 2, 3}
	tieY := []float64{2, 3, 4, 5}
	sd := math.Sqrt(16.0 / 12 * (9 - 30.0/56))
	zHigh := 5 / sd
	zLow := (2.5 - 8 - 0.5) / sd
	sf := func(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

	cases := []struct {
		name      string
		x, y      []float64
		alt       Alternative
		wantU1    float64
		wantP     float64
		wantExact bool
	}{
		// scipy.stats.mannwhitneyu documentation: U1 = 17, exact p = 0.1111.
		{"scipy doc exact", males, females, TwoSided, 17, 14.0 / 126, true},
		{"scipy doc greater", males, females, Greater, 17, 7.0 / 126, true},
		// P(U >= 3) = 1 - P(U <= 2) = 1 - (1+1+2)/126.
		{"scipy doc less", males, females, Less, 17, 1 - 4.0/126, true},
		// R: W = 35, p-value = 0.1272 (382 of the 3003 arrangements).
		{"R wilcox.test greater", hwX, hwY, Greater, 35, 382.0 / 3003, true},
		{"ties two-sided", tieX, tieY, TwoSided, 2.5, 2 * sf(zHigh), false},
		{"ties less", tieX, tieY, Less, 2.5, sf(zHigh), false},
		{"ties greater", tieX, tieY, Greater, 2.5, sf(zLow), false},
		{"all equal", []float64{1, 1, 1}, []float64{1, 1}, TwoSided, 3, 1, false},
		{"complete separation", []float64{10, 11, 12}, []float64{1, 2, 3}, Greater, 9, 1.0 / 20, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MannWhitneyU(tc.x, tc.y, tc.alt)
			if err != nil {
				t.Fatal(err)
			}
			if got.U1 != tc.wantU1 || got.Exact != tc.wantExact || math.Abs(got.P-tc.wantP) > 1e-12 {
				t.Errorf("got U1=%v p=%.15g exact=%v; want U1=%v p=%.15g exact=%v", got.U1, got.P, got.Exact, tc.wantU1, tc.wantP, tc.wantExact)
			}
		})
	}
}

// TestMannWhitneyScipyAsymptotic checks the normal approximation against
// the value scipy's documentation prints for method="asymptotic".
func TestMannWhitneyScipyAsymptotic(t *testing.T) {
	p := 2 * normalSF(mwuZ(17, 5, 4, 0))
	if math.Abs(p-0.11134688653314041) > 1e-12 {
		t.Fatalf("asymptotic p = %.17g, want 0.11134688653314041", p)
	}
}

func TestMannWhitneyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y []float64
		alt  Alternative
	}{
		{"empty x", nil, []float64{1}, TwoSided},
		{"empty y", []float64{1}, nil, TwoSided},
		{"NaN", []float64{1, math.NaN()}, []float64{1}, TwoSided},
		{"bad alternative", []float64{1}, []float64{2}, Alternative(9)},
	} {
		if _, err := MannWhitneyU(tc.x, tc.y, tc.alt); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// TestExactSFMatchesEnumeration counts every arrangement of m values of x
// among m+n positions, independently of the recurrence.
func TestExactSFMatchesEnumeration(t *testing.T) {
	for m := 1; m <= 6; m++ {
		for n := m; n <= 7; n++ {
			counts := make([]float64, m*n+1)
			var total float64
			for mask := 0; mask < 1<<(m+n); mask++ {
				if popcount(mask) != m {
					continue
				}
				// Position i holds the i-th smallest value; U counts
				// pairs where an x is above a y.
				u, ys := 0, 0
				for i := 0; i < m+n; i++ {
					if mask&(1<<i) != 0 {
						u += ys
					} else {
						ys++
					}
				}
				counts[u]++
				total++
			}
			var tail float64
			for k := m * n; k >= 0; k-- {
				tail += counts[k]
				if got, want := exactSF(k, m, n), tail/total; math.Abs(got-want) > 1e-12 {
					t.Fatalf("exactSF(%d, %d, %d) = %v, want %v", k, m, n, got, want)
				}
			}
			if exactSF(m*n+1, m, n) != 0 || exactSF(-1, m, n) != 1 {
				t.Fatalf("exactSF out of range for m=%d n=%d", m, n)
			}
		}
	}
}

func popcount(x int) int {
	c := 0
	for ; x != 0; x &= x - 1 {
		c++
	}
	return c
}

// TestNormalApproximationIsClose: for 20 against 20 values without ties the
// approximation is within a fraction of a percent of the exact p-value.
func TestNormalApproximationIsClose(t *testing.T) {
	for u := 200; u <= 400; u += 20 {
		exact := exactSF(u, 20, 20)
		approx := normalSF(mwuZ(float64(u), 20, 20, 0))
		if math.Abs(exact-approx) > 0.003 {
			t.Errorf("U=%d: exact %.5f, normal %.5f", u, exact, approx)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

// FuzzMannWhitney checks invariants on arbitrary samples: the first byte
// splits the rest into x and y; values are small so ties are common.
func FuzzMannWhitney(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		split := 1 + int(data[0])%(len(data)-2)
		var x, y []float64
		for i, b := range data[1:] {
			v := float64(b%32) / 4
			if i < split {
				x = append(x, v)
			} else {
				y = append(y, v)
			}
		}
		two, err := MannWhitneyU(x, y, TwoSided)
		if err != nil {
			t.Fatal(err)
		}
		gt, _ := MannWhitneyU(x, y, Greater)
		lt, _ := MannWhitneyU(x, y, Less)
		swapped, _ := MannWhitneyU(y, x, Less)
		n1n2 := float64(len(x) * len(y))
		for _, r := range []MannWhitneyResult{two, gt, lt} {
			if !(r.P >= 0 && r.P <= 1) {
				t.Fatalf("p = %v out of [0, 1]", r.P)
			}
		}
		if two.U1 < 0 || two.U1 > n1n2 || two.U1 != gt.U1 {
			t.Fatalf("U1 = %v outside [0, %v] or inconsistent (%v)", two.U1, n1n2, gt.U1)
		}
		if math.Abs(swapped.U1-(n1n2-gt.U1)) > 1e-9 || math.Abs(swapped.P-gt.P) > 1e-9 {
			t.Fatalf("swapping x and y changed the test: %+v vs %+v", swapped, gt)
		}
		if want := math.Min(1, 2*math.Min(gt.P, lt.P)); math.Abs(two.P-want) > 1e-9 {
			t.Fatalf("two-sided p %v, want twice the smaller one-sided p %v", two.P, want)
		}
	})
}
