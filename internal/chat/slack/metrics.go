package slack

// Metrics counts what goes wrong talking to Slack. The lead wires Prometheus
// counters behind it; the adapter only needs these two verbs.
type Metrics interface {
	// APIError counts one failed Web API attempt (after which we may retry).
	APIError(method string)
	// RateLimited counts one HTTP 429 answer from Slack.
	RateLimited(method string)
}

// NopMetrics discards every count.
type NopMetrics struct{}

// APIError does nothing.
func (NopMetrics) APIError(string) {}

// RateLimited does nothing.
func (NopMetrics) RateLimited(string) {}

func metricsOrNop(m Metrics) Metrics {
	if m == nil {
		return NopMetrics{}
	}
	return m
}
