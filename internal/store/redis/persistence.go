package redis

import (
	"context"
	"errors"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// Persistence is what the Redis server keeps on disk, as CONFIG GET tells.
type Persistence struct {
	// Known is false when the server would not say (CONFIG disabled,
	// renamed or not permitted, as on most managed Redis); Unknown says why.
	Known   bool
	Unknown string
	AOF     bool   // appendonly yes
	Save    string // the snapshot schedule ("3600 1 300 100"); "" when off
}

// On reports whether a restart of the server keeps the data.
func (p Persistence) On() bool { return p.AOF || p.Save != "" }

// Persistence asks the server whether it keeps its data on disk. Only an
// outage is an error; a server that refuses CONFIG answers Known: false.
func (s *Store) Persistence(ctx context.Context) (Persistence, error) {
	aof, err := s.c.ConfigGet(ctx, "appendonly").Result()
	if err != nil {
		var rerr goredis.Error
		if errors.As(err, &rerr) && !unavailable(err) {
			return Persistence{Unknown: "CONFIG GET is disabled or not permitted: " + err.Error()}, nil
		}
		return Persistence{}, wrap("config get appendonly", err)
	}
	save, err := s.c.ConfigGet(ctx, "save").Result()
	if err != nil {
		return Persistence{}, wrap("config get save", err)
	}
	return Persistence{Known: true, AOF: strings.EqualFold(aof["appendonly"], "yes"), Save: strings.TrimSpace(save["save"])}, nil
}
