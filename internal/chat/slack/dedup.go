package slack

import (
	"context"
	"time"

	"github.com/backout/backout/internal/claims"
)

// Dedup claims work so that it happens once even when Slack retries, a
// request is replayed, or several replicas receive it. The store implements
// it; an error means the store is down and the request is refused (503) so
// that Slack retries later.
type Dedup interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// NewMemoryDedup is an in-process Dedup for a single replica and for tests.
func NewMemoryDedup() *claims.Memory { return &claims.Memory{} }
