package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ProtocolVersion is the version of the request written to a plugin.
const ProtocolVersion = 1

// Request is the JSON object a plugin reads from stdin (see PROTOCOL.md).
type Request struct {
	Version  int               `json:"version"`
	Step     string            `json:"step"`
	Rollback string            `json:"rollback"`
	Service  string            `json:"service"`
	Params   map[string]string `json:"params"`
	Config   json.RawMessage   `json:"config"`
	Context  Context           `json:"context"`
	DryRun   bool              `json:"dry_run"`
}

// Context tells a plugin about the call itself.
type Context struct {
	Attempt   int    `json:"attempt"`
	TimeoutMS int64  `json:"timeout_ms"`
	BaseDir   string `json:"base_dir"`
}

// Response is the JSON object a plugin writes to stdout.
type Response struct {
	Status    string            `json:"status"` // "ok" or "failed"
	Output    string            `json:"output"`
	Retryable bool              `json:"retryable"`
	Detail    map[string]string `json:"detail,omitempty"`
}

// Response statuses.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
)

// ParseResponse reads exactly one response object. Unknown fields are
// allowed so that plugins may be newer than the bot; a missing or unknown
// status, and anything after the object but whitespace, are errors.
func ParseResponse(data []byte) (Response, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Response{}, errors.New("no response on stdout")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var r Response
	if err := dec.Decode(&r); err != nil {
		return Response{}, fmt.Errorf("response is not a JSON object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Response{}, errors.New("response has data after the JSON object")
	}
	switch r.Status {
	case StatusOK, StatusFailed:
	case "":
		return Response{}, errors.New(`response has no "status"`)
	default:
		return Response{}, fmt.Errorf(`response status %q is neither "ok" nor "failed"`, r.Status)
	}
	return r, nil
}
