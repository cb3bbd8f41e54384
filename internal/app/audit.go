package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/backout/backout/internal/audit"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
	redisstore "github.com/backout/backout/internal/store/redis"
)

// ErrStoreLocked means a running bot serve holds the bolt file; ask it
// instead (GET /api/v1/audit/verify).
var ErrStoreLocked = boltstore.ErrLocked

// verifyLockWait is how long `bot audit verify` waits for the bolt file: a
// serve holds it for as long as it runs, so waiting longer gains nothing.
const verifyLockWait = 500 * time.Millisecond

// AuditHasher is the hasher the stores chain the audit log with: keyed by
// BACKOUT_AUDIT_KEY when it is set, plain SHA-256 otherwise.
func AuditHasher(cfg *config.Config) store.Hasher {
	return store.NewHasher([]byte(cfg.Secrets.AuditKey.Reveal()))
}

// auditVerifier checks st's chain with the configured key and keeps its
// checkpoint in st.
func auditVerifier(st store.Store, cfg *config.Config) audit.Verifier {
	return audit.Verifier{Log: st, Hasher: AuditHasher(cfg), Checkpoints: st}
}

// VerifyAudit streams the configured store's audit chain: all of it, or
// with resume only what follows the last verified checkpoint. A bolt file
// is opened read-only (the checkpoint is read, not advanced), and fails
// fast with ErrStoreLocked while a serve holds it.
func VerifyAudit(ctx context.Context, cfg *config.Config, anchor *store.AuditAnchor, resume bool) (store.AuditReport, error) {
	h := AuditHasher(cfg)
	var log interface {
		store.AuditScanner
		audit.CheckpointStore
		Close() error
	}
	var err error
	switch cfg.Store.Kind {
	case "redis":
		log, err = redisstore.Open(ctx, redisstore.Options{URL: cfg.Store.URL, Password: cfg.Secrets.RedisPassword.Reveal(), Prefix: cfg.Store.Prefix, Hasher: h})
	default:
		log, err = boltstore.Open(cfg.StorePath(), boltstore.Options{Hasher: h, ReadOnly: true, Timeout: verifyLockWait})
	}
	if errors.Is(err, fs.ErrNotExist) {
		return store.AuditReport{}, fmt.Errorf("no state file at %s to verify (is store.path right?): %w", cfg.StorePath(), err)
	}
	if err != nil {
		return store.AuditReport{}, fmt.Errorf("open the audit log: %w", err)
	}
	defer log.Close()
	v := audit.Verifier{Log: log, Hasher: h, Checkpoints: log, ReadOnly: cfg.Store.Kind != "redis"}
	if resume {
		return v.VerifyNew(ctx, anchor)
	}
	return v.Verify(ctx, anchor)
}
