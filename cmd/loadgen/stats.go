package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// summary is what a run reports.
type summary struct {
	Label     string
	Rate      int
	Scheduled int // rate x duration
	Sent      int
	Unsent    int // never left the generator: the run ended first
	OK        int // 2xx
	ByCode    map[int]int
	Errors    map[string]int
	Elapsed   time.Duration
	// Throughput is responses (any status) per second of the run; OKRate
	// counts 2xx only.
	Throughput, OKRate float64
	// Latency is from when a request was due (coordinated-omission
	// corrected); Service is from when it actually left.
	Latency, Service percentiles
}

type percentiles struct {
	P50, P90, P99, Max time.Duration
}

func summarize(label string, rate int, r *result) summary {
	s := summary{Label: label, Rate: rate, Scheduled: len(r.outcomes), ByCode: map[int]int{}, Errors: r.errs, Elapsed: r.elapsed}
	var lat, svc []time.Duration
	answered := 0
	for _, o := range r.outcomes {
		switch {
		case o.status < 0:
			s.Unsent++
			continue
		case o.status == 0:
		case o.status >= 200 && o.status < 300:
			s.OK++
			answered++
		default:
			s.ByCode[o.status]++
			answered++
		}
		s.Sent++
		lat = append(lat, o.latency)
		svc = append(svc, o.service)
	}
	if secs := r.elapsed.Seconds(); secs > 0 {
		s.Throughput = float64(answered) / secs
		s.OKRate = float64(s.OK) / secs
	}
	s.Latency, s.Service = quantiles(lat), quantiles(svc)
	return s
}

// quantiles sorts every recorded duration and reads the ranks off: exact,
// and cheap at the sizes one run records.
func quantiles(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(ds))+0.5) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ds[len(ds)-1]}
}

func (s summary) print(w io.Writer) {
	fmt.Fprintf(w, "== %s @ %d/s\n", s.Label, s.Rate)
	fmt.Fprintf(w, "scheduled %d  sent %d  unsent %d  ok(2xx) %d  non-2xx %s  errors %s\n",
		s.Scheduled, s.Sent, s.Unsent, s.OK, codes(s.ByCode), errList(s.Errors))
	fmt.Fprintf(w, "elapsed %s  throughput %.0f/s  ok %.0f/s\n", s.Elapsed.Round(time.Millisecond), s.Throughput, s.OKRate)
	fmt.Fprintf(w, "latency (from due time)  p50 %s  p90 %s  p99 %s  max %s\n", ms(s.Latency.P50), ms(s.Latency.P90), ms(s.Latency.P99), ms(s.Latency.Max))
	fmt.Fprintf(w, "service (from send)      p50 %s  p90 %s  p99 %s  max %s\n", ms(s.Service.P50), ms(s.Service.P90), ms(s.Service.P99), ms(s.Service.Max))
}

// row is one line of a Markdown table, for docs/performance.md.
func (s summary) row() string {
	return fmt.Sprintf("| %s | %d | %d | %d | %s | %d | %.0f | %s | %s | %s | %s |", s.Label, s.Rate, s.Sent, s.OK, codes(s.ByCode),
		s.Unsent+errCount(s.Errors), s.OKRate, ms(s.Latency.P50), ms(s.Latency.P99), ms(s.Service.P99), ms(s.Latency.Max))
}

const tableHeader = "| target | rate/s | sent | 2xx | non-2xx | errors+unsent | 2xx/s | p50 | p99 | p99 (service) | max |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|"

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func codes(m map[int]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func errList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func errCount(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
