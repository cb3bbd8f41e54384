package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/backout/backout/internal/apiclient"
)

// exitGateClosed is `bot gate`'s answer when the gate is closed: distinct
// from 1 and 2 so a pipeline can tell "wait" from "broken".
const exitGateClosed = 3

// errGateClosed makes run exit with exitGateClosed; the reason is already
// printed.
var errGateClosed = errors.New("gate closed")

// apiFlags adds the flags every API subcommand shares. The token is never a
// flag: a flag's value shows in process listings and CI logs.
func apiFlags(fs *flag.FlagSet) (server *string, timeout *time.Duration) {
	server = fs.String("server", "", "Backout's base URL (default $BACKOUT_URL)")
	timeout = fs.Duration("timeout", apiclient.DefaultTimeout, "give up after this long")
	return server, timeout
}

// apiClient builds the client from --server or $BACKOUT_URL and
// $BACKOUT_API_TOKEN; a missing one is a usage error.
func apiClient(server string, getenv func(string) string) (*apiclient.Client, error) {
	if server == "" {
		server = getenv("BACKOUT_URL")
	}
	if server == "" {
		return nil, fmt.Errorf("%w: no server: give --server URL or set BACKOUT_URL", errUsage)
	}
	c, err := apiclient.New(server, getenv("BACKOUT_API_TOKEN"), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return c, nil
}

// parseInterleaved parses flags that may come before or after positional
// arguments (`bot gate checkout --server URL`), which flag.Parse alone
// stops at, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// deployCmd is `bot deploy record`: CI reports a deploy.
func deployCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const synopsis = "deploy record --service NAME --version V --artifact REF [--config-version V] [--environment ENV] [--commit SHA] [--deployed-by WHO] [--url URL] [--risk low|medium|high] [--server URL]"
	if len(args) == 0 || args[0] != "record" {
		return fmt.Errorf("%w: bot %s", errUsage, synopsis)
	}
	fs := flag.NewFlagSet("deploy record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: bot %s\n\nReports a deploy to Backout (POST /api/v1/deploys), authenticated with $BACKOUT_API_TOKEN.\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	var in apiclient.DeployInput
	for _, f := range []struct {
		name, usage string
		v           *string
	}{
		{"service", "catalog service deployed (required)", &in.Service},
		{"version", "version deployed (required)", &in.Version},
		{"artifact", "immutable artifact reference, e.g. registry/app@sha256:... (required)", &in.Artifact},
		{"config-version", "version of the service's configuration", &in.ConfigVersion},
		{"environment", "environment (default: the service's)", &in.Environment},
		{"commit", "source commit", &in.Commit},
		{"deployed-by", "who or what deployed", &in.DeployedBy},
		{"url", "link to the pipeline run or change", &in.URL},
		{"risk", "low, medium or high", &in.Risk},
	} {
		fs.StringVar(f.v, f.name, "", f.usage)
	}
	server, timeout := apiFlags(fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: deploy record takes flags only (got %q)", errUsage, fs.Args())
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--service", in.Service}, {"--version", in.Version}, {"--artifact", in.Artifact}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: deploy record needs --service, --version and --artifact (missing %s)", errUsage, strings.Join(missing, ", "))
	}
	c, err := apiClient(*server, getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rec, err := c.RecordDeploy(ctx, in)
	if err != nil {
		return err
	}
	d := rec.Deploy
	fmt.Fprintf(stdout, "recorded %s: %s %s (%s) in %s\n", d.ID, d.Service, d.Version, d.Artifact, d.Environment)
	for _, w := range strings.Split(rec.Warning, "\n") {
		if w != "" {
			fmt.Fprintln(stderr, "warning:", w)
		}
	}
	return nil
}

// gateCmd is `bot gate SERVICE [--risk R --for-deploy V]`: may this service
// be deployed now, and, with --risk high, is the rollback path of this
// release proven (the change advisory gate)?
func gateCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const synopsis = "gate SERVICE [--risk low|medium|high] [--for-deploy VERSION] [--server URL] [--timeout D]"
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: bot %s\n\nAsks Backout whether SERVICE may be deployed (GET /api/v1/services/SERVICE/gate) and, with --risk,\nwhether this release's rollback path is proven (GET /api/v1/services/SERVICE/readiness?risk=R&for_deploy=V):\na high-risk release needs a recent successful drill and a runbook that lints.\nExit 0 open, 3 closed (the reason is printed), 2 the question could not be answered, 1 usage.\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	risk := fs.String("risk", "", "the release's risk: low, medium or high (high needs a proven rollback path)")
	version := fs.String("for-deploy", "", "the version about to be deployed (with --risk)")
	server, timeout := apiFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: bot %s", errUsage, synopsis)
	}
	if *version != "" && *risk == "" {
		return fmt.Errorf("%w: --for-deploy goes with --risk", errUsage)
	}
	c, err := apiClient(*server, getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	g, err := c.Gate(ctx, pos[0])
	if err != nil {
		return err
	}
	if !g.Open {
		fmt.Fprintf(stdout, "gate closed for %s: %s\n", pos[0], g.Reason)
		return errGateClosed
	}
	fmt.Fprintf(stdout, "gate open for %s\n", pos[0])
	if *risk == "" {
		return nil
	}
	return adviseCmd(ctx, c, pos[0], *version, *risk, stdout)
}

// adviseCmd asks the change advisory gate and prints its reasons or evidence.
func adviseCmd(ctx context.Context, c *apiclient.Client, service, version, risk string, stdout io.Writer) error {
	a, err := c.Advisory(ctx, service, version, risk)
	if err != nil {
		return err
	}
	what := service
	if version != "" {
		what += " " + version
	}
	if !a.Open {
		fmt.Fprintf(stdout, "change advisory closed for %s (%s risk): its rollback path is not proven\n", what, risk)
		for _, r := range a.Reasons {
			fmt.Fprintf(stdout, "  - %s\n", r)
		}
		return errGateClosed
	}
	fmt.Fprintf(stdout, "change advisory open for %s (%s risk)\n", what, risk)
	for _, e := range a.Evidence {
		fmt.Fprintf(stdout, "  - %s\n", e)
	}
	return nil
}
