package alerts

// Metrics observes the intake. Implementations must be safe for concurrent
// use; the lead wires Prometheus counters behind it. Labels are small fixed
// sets (sources, reasons and stages named in this package), never payload
// values, so they cannot blow up cardinality.
type Metrics interface {
	// Received counts events accepted and stored.
	Received(source string)
	// Duplicate counts events refused as already seen (still answered 202).
	Duplicate(source string)
	// Rejected counts requests refused: "unauthorized", "too_large",
	// "malformed", "method", "unavailable".
	Rejected(source, reason string)
	// Ignored counts events or alerts deliberately dropped: "event_type",
	// "unknown_service", "no_source", "inconclusive".
	Ignored(source, reason string)
	// Processed counts alerts handed to the Sink successfully.
	Processed(source string)
	// Failed counts errors by stage: "store", "claim", "decode", "sink",
	// "ack", "query", "lease". Reading the inbox itself fails with source
	// "inbox".
	Failed(source, stage string)
}

// Reasons and stages used with Metrics.
const (
	ReasonUnauthorized   = "unauthorized"
	ReasonTooLarge       = "too_large"
	ReasonMalformed      = "malformed"
	ReasonMethod         = "method"
	ReasonUnavailable    = "unavailable"
	ReasonEventType      = "event_type"
	ReasonUnknownService = "unknown_service"
	ReasonNoSource       = "no_source"
	ReasonInconclusive   = "inconclusive"

	StageStore  = "store"
	StageClaim  = "claim"
	StageDecode = "decode"
	StageSink   = "sink"
	StageAck    = "ack"
	StageQuery  = "query"
	StageLease  = "lease"
)

// NopMetrics records nothing.
type NopMetrics struct{}

func (NopMetrics) Received(string)         {}
func (NopMetrics) Duplicate(string)        {}
func (NopMetrics) Rejected(string, string) {}
func (NopMetrics) Ignored(string, string)  {}
func (NopMetrics) Processed(string)        {}
func (NopMetrics) Failed(string, string)   {}
