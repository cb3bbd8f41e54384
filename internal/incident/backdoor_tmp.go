package incident

import (
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/store"
)

// Temporary until the callers ask the lifecycle (removed in this series).
func (s *Service) Config() *config.Config { return s.cfg }

// Store is temporary, see Config.
func (s *Service) Store() store.Store { return s.queries.(store.Store) }
