package main

import (
	"net/http"
	"path/filepath"
	"time"

	"github.com/backout/backout/internal/app"
	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/helm"
	httpexec "github.com/backout/backout/internal/exec/http"
	"github.com/backout/backout/internal/exec/kubectl"
	"github.com/backout/backout/internal/exec/noop"
	"github.com/backout/backout/internal/exec/plugin"
	"github.com/backout/backout/internal/exec/shell"
	"github.com/backout/backout/internal/exec/sleep"
	"github.com/backout/backout/internal/exec/wait"
	"github.com/backout/backout/internal/validate"
)

// registries is every executor and check this binary can run, listed
// explicitly: a new one is added here, and nowhere else.
var registries = app.Registries{Executors: executors, Checkers: checkers}

// executors are what a runbook step's `uses:` may name. Teams add their own
// without recompiling through `uses: plugin` (internal/exec/plugin/PROTOCOL.md).
func executors(cfg *config.Config) *exec.Registry {
	pluginDir := filepath.Join(cfg.RunbooksDir(), "plugins")
	return exec.NewRegistry(
		shell.New(),
		httpexec.New(),
		kubectl.New("kubectl"),
		helm.New("helm"),
		wait.New(wait.Config{PrometheusURL: cfg.Prometheus.URL}),
		sleep.New(),
		noop.New(),
		plugin.New(pluginDir),
	)
}

// checkers are what a readiness or validation check's `uses:` may name.
func checkers(cfg *config.Config) *check.Registry {
	client := &http.Client{Timeout: 30 * time.Second}
	return check.NewRegistry(
		validate.NewPromQL(cfg.Prometheus.URL),
		validate.NewPromQLBaseline(cfg.Prometheus.URL),
		validate.NewCanary(cfg.Prometheus.URL),
		validate.NewHTTPSmoke(client),
		validate.NewVersion(client, cfg.Prometheus.URL),
		validate.NewSQL(),
		validate.NewArtifact(client, cfg.Registry.URL),
	)
}
