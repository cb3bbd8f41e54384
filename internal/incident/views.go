package incident

import (
	"context"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/rollback"
)

// proposalView renders the rollback's main message from its stored state;
// the rendering itself is internal/present's.
func (s *notifier) proposalView(ctx context.Context, r *rollback.Record) chat.Message {
	votes, _ := s.views.ListVotes(ctx, r.ID)
	steps, _ := s.views.ListSteps(ctx, r.ID)
	return present.ProposalView(r, votes, steps)
}
