package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/backout/backout/internal/app"
)

// exampleConfig is the bundled example, relative to the repository's root.
var exampleConfig = filepath.Join("examples", "bot.yaml")

// findConfig picks the config file: --config, then $BACKOUT_CONFIG, then
// bot.yaml here (and, for the console, the bundled example). When there is
// none it says which files it looked for and how to choose one, because
// "open examples/bot.yaml: no such file or directory" left a person who ran
// the console from another directory with nothing to go on.
func findConfig(flagValue string, getenv func(string) string, console bool) (string, error) {
	if flagValue != "" {
		return chosen(flagValue, "--config")
	}
	if env := getenv("BACKOUT_CONFIG"); env != "" {
		return chosen(env, "$BACKOUT_CONFIG")
	}
	looked := []string{"bot.yaml"}
	if console {
		looked = append(looked, exampleConfig)
	}
	for _, p := range looked {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		dir = "the current directory"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no config file: looked for %s in %s.\nChoose one with --config FILE or $BACKOUT_CONFIG.",
		strings.Join(looked, " and "), dir)
	if console {
		fmt.Fprintf(&b, "\nThe bundled example is %s at the root of the Backout repository: run the console there, or give --config <repository>/%s.",
			exampleConfig, exampleConfig)
		if p := builtFrom(); p != "" {
			fmt.Fprintf(&b, "\nThis binary was built from a checkout that has one: --config %s", p)
		}
	}
	return "", fmt.Errorf("%w: %s", app.ErrInvalid, b.String())
}

// chosen checks a config file a person named, saying where the name came
// from: a stale $BACKOUT_CONFIG is easy to forget.
func chosen(path, from string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: config file %s (from %s) does not exist", app.ErrInvalid, path, from)
	}
	return path, nil
}

// builtFrom is the bundled example of the checkout this binary was built
// from, when `go run` or `go build` recorded its absolute source path and
// the file is still there; "" otherwise (a release built with -trimpath).
func builtFrom() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	p := filepath.Join(filepath.Dir(file), "..", "..", exampleConfig)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
