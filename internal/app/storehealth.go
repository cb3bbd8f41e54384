package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/store"
	redisstore "github.com/backout/backout/internal/store/redis"
)

// guardEvery is how often a replica checks the store epoch in the
// background (commands also check, at most once a second). Two reads.
const guardEvery = 2 * time.Second

// startGuard checks the store epoch before anything acts on the store.
// When the store is lost, stopActing ends the engine and the workers, and a
// notice goes to the operators' channel.
func startGuard(ctx context.Context, cfg *config.Config, st store.Store, poster chat.Poster, stopActing context.CancelFunc, log *slog.Logger) (*StoreGuard, error) {
	gs, ok := st.(guardStore)
	if !ok {
		return nil, fmt.Errorf("store %T cannot report its rollback counter (LastID): the store guard needs it", st)
	}
	// The audit channel is where the trail's anchors go: a lost store is
	// its business first. Without one, the default channel hears it.
	channel := cfg.Audit.Channel
	if channel == "" {
		channel = cfg.Slack.Channel
	}
	guard := NewStoreGuard(gs, log.With("component", "store-guard"), func(reason error) {
		stopActing()
		if poster == nil || channel == "" {
			return
		}
		// The guard calls this while it holds its lock, and the request
		// that found the loss may be about to end: post on our own time.
		go func() {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			msg := chat.TextMessage(chat.Plain("🚨 Backout: " + reason.Error() + ". This replica stopped acting: commands are refused and no rollback runs. " +
				"Restore the store from a backup, or restart Backout to accept the store as it is now."))
			if _, err := poster.Post(pctx, chat.Ref{Channel: channel}, msg); err != nil {
				log.Error("store guard: telling the channel failed", "channel", channel, "err", err)
			}
		}()
	})
	if err := guard.Start(ctx); err != nil {
		return nil, err
	}
	return guard, nil
}

// checkPersistence warns, or with store.require_persistence refuses to
// start, when Redis keeps nothing on disk: its restart would empty the
// store. The guard notices such a loss, but cannot bring the data back.
func checkPersistence(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) error {
	rs, ok := st.(*redisstore.Store)
	if !ok {
		return nil
	}
	p, err := rs.Persistence(ctx)
	if err != nil {
		return fmt.Errorf("check redis persistence: %w", err)
	}
	var problem string
	switch {
	case p.On():
		log.Info("redis persistence", "appendonly", p.AOF, "save", p.Save)
		return nil
	case !p.Known:
		problem = "cannot tell whether Redis keeps its data on disk (" + p.Unknown + ")"
	default:
		problem = `Redis keeps nothing on disk (appendonly no, save ""): a restart of Redis forgets every rollback, vote and claim`
	}
	if cfg.Store.RequirePersistence {
		return errors.New("store.require_persistence is set and " + problem +
			"; turn on appendonly or snapshots (save), or set store.require_persistence: false")
	}
	log.Warn(problem + "; Backout would notice the loss and stop acting, but not get the data back. " +
		"Set store.require_persistence: true to refuse to start instead")
	return nil
}
