package watch

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Querier runs an instant PromQL query at the server's current time and
// returns the value of every series (a scalar is one value).
type Querier interface {
	Query(ctx context.Context, query string) ([]float64, error)
}

// PromQuerier queries a Prometheus HTTP API.
type PromQuerier struct {
	api v1.API
}

// NewPromQuerier connects to the Prometheus at baseURL; rt may be nil.
func NewPromQuerier(baseURL string, rt http.RoundTripper) (*PromQuerier, error) {
	c, err := api.NewClient(api.Config{Address: baseURL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", baseURL, err)
	}
	return &PromQuerier{api: v1.NewAPI(c)}, nil
}

// Query runs query at the server's "now": the watcher asks about the
// present, and the server's clock is the one its samples carry.
func (p *PromQuerier) Query(ctx context.Context, query string) ([]float64, error) {
	val, _, _, err := p.api.Query(ctx, query, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	switch v := val.(type) {
	case model.Vector:
		out := make([]float64, len(v))
		for i, s := range v {
			out[i] = float64(s.Value)
		}
		return out, nil
	case *model.Scalar:
		return []float64{float64(v.Value)}, nil
	default:
		return nil, fmt.Errorf("query %q: result is a %s; a watcher needs an instant vector or a scalar", query, val.Type())
	}
}
