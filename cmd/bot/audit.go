package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/backout/backout/internal/apiclient"
	"github.com/backout/backout/internal/app"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/store"
)

const auditSynopsis = "audit verify [--config FILE] [--anchor SEQ:HASH] [--resume] [--server URL]"

// audit is `bot audit verify`: the chain is intact and still reaches the
// anchor. It reads the store itself, or, while a serve holds the bolt file,
// asks that serve, which verifies with its own store and key.
func audit(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("%w: bot %s", errUsage, auditSynopsis)
	}
	fs, cfgFlag := flags("audit verify", auditSynopsis, stderr)
	anchorFlag := fs.String("anchor", "", "an anchor from the log or the audit channel, SEQ:HASH: the chain must still reach it")
	resume := fs.Bool("resume", false, "check only what was appended since the last verified checkpoint (kept by bot serve)")
	server := fs.String("server", "", "a running Backout to ask when it holds the state file (default $BACKOUT_URL, then the config's listen address)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	var anchor *store.AuditAnchor
	if *anchorFlag != "" {
		a, err := store.ParseAuditAnchor(*anchorFlag)
		if err != nil {
			return fmt.Errorf("%w: --anchor: %w", errUsage, err)
		}
		anchor = &a
	}
	path, err := findConfig(*cfgFlag, getenv, false)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path, getenv)
	if err != nil {
		return fmt.Errorf("%w: %w", app.ErrInvalid, err)
	}
	v, err := verifyLocal(ctx, cfg, anchor, *resume)
	if errors.Is(err, app.ErrStoreLocked) {
		url := serverURL(*server, getenv, cfg)
		fmt.Fprintf(stderr, "%s is held by a running bot serve; asking it at %s\n", cfg.StorePath(), url)
		v, err = verifyRemote(ctx, url, getenv, anchor, *resume)
	}
	if err != nil {
		return err
	}
	return report(stdout, v, anchor)
}

// verdict is a verification's outcome, read locally or from a server.
type verdict struct {
	head   store.AuditAnchor
	events int64
	keyed  bool
	broken *store.ChainError
	via    string
	from   int64 // the seq the check started at: 1, or the checkpoint's
	read   int64
}

func verifyLocal(ctx context.Context, cfg *config.Config, anchor *store.AuditAnchor, resume bool) (verdict, error) {
	rep, err := app.VerifyAudit(ctx, cfg, anchor, resume)
	v := verdict{head: rep.Head, events: rep.Events, keyed: rep.Keyed, from: rep.From, read: rep.Read}
	if errors.As(err, &v.broken) {
		return v, nil
	}
	return v, err
}

func verifyRemote(ctx context.Context, url string, getenv func(string) string, anchor *store.AuditAnchor, resume bool) (verdict, error) {
	token := getenv("BACKOUT_API_TOKEN")
	if token == "" {
		return verdict{}, errors.New("asking the running server needs its API token: set BACKOUT_API_TOKEN (or stop bot serve and run verify again)")
	}
	c, err := apiclient.New(url, token, nil)
	if err != nil {
		return verdict{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	a := ""
	if anchor != nil {
		a = anchor.String()
	}
	got, err := c.VerifyAudit(ctx, a, resume)
	if err != nil {
		return verdict{}, err
	}
	v := verdict{head: store.AuditAnchor(got.Head), events: got.Events, keyed: got.Keyed, via: url, from: got.From, read: got.Read}
	if !got.OK {
		v.broken = &store.ChainError{Reason: got.Error}
		if got.Broken != nil {
			v.broken = &store.ChainError{Seq: got.Broken.Seq, Reason: got.Broken.Reason}
		}
	}
	return v, nil
}

// serverURL is --server, then $BACKOUT_URL, then the serve's own listen
// address on this machine.
func serverURL(flagValue string, getenv func(string) string, cfg *config.Config) string {
	if flagValue != "" {
		return flagValue
	}
	if env := getenv("BACKOUT_URL"); env != "" {
		return env
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return "http://" + cfg.Listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1" // listening everywhere includes here
	}
	return "http://" + net.JoinHostPort(host, port)
}

// report prints the verdict; a broken chain is exit 1.
func report(stdout io.Writer, v verdict, anchor *store.AuditAnchor) error {
	how := "unkeyed SHA-256: without BACKOUT_AUDIT_KEY a consistent rewrite would pass"
	if v.keyed {
		how = "keyed HMAC-SHA256"
	}
	if v.via != "" {
		how += ", verified by " + v.via
	}
	if v.broken != nil {
		fmt.Fprintln(stdout, "audit chain BROKEN:", v.broken)
		fmt.Fprintf(stdout, "last intact link: seq=%d hash=%s (%d events checked; %s)\n", v.head.Seq, v.head.Hash, v.events, how)
		if v.broken.Seq == 1 && v.events == 0 {
			fmt.Fprintln(stdout, "hint: a break at seq 1 may mean another key: verify with the BACKOUT_AUDIT_KEY the trail was written with")
		}
		return fmt.Errorf("%w: %v", app.ErrInvalid, v.broken)
	}
	head := "(empty)"
	if v.events > 0 {
		head = fmt.Sprintf("seq=%d hash=%s", v.head.Seq, v.head.Hash)
	}
	fmt.Fprintf(stdout, "audit chain ok: %d events, head %s (%s)\n", v.events, head, how)
	if v.from > 1 {
		fmt.Fprintf(stdout, "resumed from the checkpoint at seq %d: read %d events\n", v.from, v.read)
	}
	if anchor != nil {
		fmt.Fprintf(stdout, "it still reaches the anchor seq=%d\n", anchor.Seq)
	}
	return nil
}
