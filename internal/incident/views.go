package incident

import (
	"context"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/rollback"
)

// proposalView renders the rollback's main message from its stored state;
// the rendering itself is internal/present's.
func (s *Service) proposalView(ctx context.Context, r *rollback.Record) chat.Message {
	votes, _ := s.store.ListVotes(ctx, r.ID)
	steps, _ := s.store.ListSteps(ctx, r.ID)
	return present.ProposalView(r, votes, steps)
}
