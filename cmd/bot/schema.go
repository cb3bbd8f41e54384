package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/withdoc"
)

// schema prints the runbook JSON Schema, or with --markdown the runbook
// guide and reference (docs/runbooks.md). Both come from the registered
// executors and checks, so the docs say what this binary accepts.
func schema(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	markdown := fs.Bool("markdown", false, "print docs/runbooks.md instead of the JSON Schema")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bot schema > docs/runbook.schema.json\n       bot schema --markdown > docs/runbooks.md")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: schema takes no arguments (got %q)", errUsage, fs.Args())
	}
	cat, err := catalog()
	if err != nil {
		return err
	}
	out := runbook.JSONSchema(cat)
	if *markdown {
		if out, err = runbook.Markdown(cat); err != nil {
			return err
		}
	}
	_, err = stdout.Write(out)
	return err
}

// catalog describes every registered executor and check. The registries
// are built from an empty config: descriptions do not depend on it.
func catalog() (runbook.Catalog, error) {
	cfg := &config.Config{}
	var cat runbook.Catalog
	ex := executors(cfg)
	for _, name := range ex.Names() {
		e, err := ex.Get(name)
		if err != nil {
			return cat, fmt.Errorf("executor %s: %w", name, err)
		}
		d, ok := e.(withdoc.Describer)
		if !ok {
			return cat, fmt.Errorf("executor %s does not describe its with: (implement withdoc.Describer)", name)
		}
		cat.Executors = append(cat.Executors, d.Describe())
	}
	ch := checkers(cfg)
	for _, name := range ch.Names() {
		c, err := ch.Get(name)
		if err != nil {
			return cat, fmt.Errorf("check %s: %w", name, err)
		}
		d, ok := c.(withdoc.Describer)
		if !ok {
			return cat, fmt.Errorf("check %s does not describe its with: (implement withdoc.Describer)", name)
		}
		cat.Checks = append(cat.Checks, d.Describe())
	}
	return cat, nil
}
