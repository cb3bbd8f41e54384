package config_test

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/yamlx"
)

// positioned is the shape of every line the loader reports: file:line:col:
// message, or file: message for problems that belong to the whole file.
var positioned = regexp.MustCompile(`^` + regexp.QuoteMeta(fuzzFile) + `(?::\d+:\d+)?: .+`)

const fuzzFile = "bot.yaml"

func noEnv(string) string { return "" }

// FuzzParse: config.Parse never panics; every error line points at a place
// in the file; and a config that loads cleanly loads the same way again.
func FuzzParse(f *testing.F) {
	f.Add([]byte("listen: \":8080\"\nslack: {channel: C1}\nservices:\n  - {name: api, runbook: k8s}\n"))
	f.Add([]byte("services:\n  - name: api\n    runbok: k8s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(fuzzFile, data, noEnv)
		if err != nil {
			checkPositioned(t, data, err)
			return
		}
		if cfg == nil {
			t.Fatalf("no error and no config for %q", data)
		}
		again, err := config.Parse(fuzzFile, data, noEnv)
		if err != nil {
			t.Fatalf("a config that loaded fails to load again: %v\n%s", err, data)
		}
		if !sameConfig(cfg, again) {
			t.Fatalf("loading twice gave different configs for %q:\n%+v\n%+v", data, cfg, again)
		}
	})
}

func checkPositioned(t *testing.T, data []byte, err error) {
	t.Helper()
	var list yamlx.Errors
	if !errors.As(err, &list) {
		t.Fatalf("error is not yamlx.Errors (%T): %v\ninput: %q", err, err, data)
	}
	for _, e := range list {
		if e.Pos.File != fuzzFile {
			t.Fatalf("error names file %q, want %q: %v\ninput: %q", e.Pos.File, fuzzFile, e, data)
		}
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !positioned.MatchString(line) {
			t.Fatalf("error line %q is not file:line:col: message\nwhole error: %v\ninput: %q", line, err, data)
		}
	}
}

// sameConfig compares two loads. NaN thresholds never equal themselves, so
// watchers are compared by their printed values.
func sameConfig(a, b *config.Config) bool {
	return reflect.DeepEqual(printable(a), printable(b))
}

func printable(c *config.Config) *config.Config {
	cp := *c
	cp.Services = append([]config.Service(nil), c.Services...)
	for i := range cp.Services {
		s := &cp.Services[i]
		s.Watchers = append([]config.Watcher(nil), s.Watchers...)
		for j := range s.Watchers {
			s.Watchers[j].Above = nanSafe(s.Watchers[j].Above)
			s.Watchers[j].Below = nanSafe(s.Watchers[j].Below)
		}
	}
	return &cp
}

func nanSafe(p *float64) *float64 {
	if p == nil || *p == *p {
		return p
	}
	zero := -1.0 // stands for NaN on both sides
	return &zero
}
