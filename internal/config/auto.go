package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/yamlx"
)

// AutoMode says whether Backout may execute a rollback without votes.
type AutoMode string

const (
	AutoNever          AutoMode = "never"
	AutoWhenUnanswered AutoMode = "when_unanswered"
	AutoAlways         AutoMode = "always"
)

// AutoExecute is `never`, `always` or `when_unanswered <duration>`.
type AutoExecute struct {
	Mode  AutoMode
	After time.Duration
}

// UnmarshalYAMLX implements yamlx.Unmarshaler.
func (a *AutoExecute) UnmarshalYAMLX(file string, n *yaml.Node) error {
	pos := yamlx.Pos{File: file, Line: n.Line, Col: n.Column}
	if n.Kind != yaml.ScalarNode {
		return pos.Errorf("auto_execute: expected never, always or \"when_unanswered 10m\"")
	}
	fields := strings.Fields(n.Value)
	switch {
	case len(fields) == 1 && fields[0] == "never":
		*a = AutoExecute{Mode: AutoNever}
	case len(fields) == 1 && fields[0] == "always":
		*a = AutoExecute{Mode: AutoAlways}
	case len(fields) == 2 && fields[0] == "when_unanswered":
		d, err := yamlx.ParseDuration(fields[1])
		if err != nil || d <= 0 {
			return pos.Errorf("auto_execute: when_unanswered needs a positive duration, e.g. \"when_unanswered 10m\"")
		}
		*a = AutoExecute{Mode: AutoWhenUnanswered, After: d}
	default:
		return pos.Errorf("auto_execute: unknown value %q (want never, always or \"when_unanswered <duration>\")", n.Value)
	}
	return nil
}

func (a AutoExecute) String() string {
	if a.Mode == AutoWhenUnanswered {
		return fmt.Sprintf("when_unanswered %s", a.After)
	}
	if a.Mode == "" {
		return string(AutoNever)
	}
	return string(a.Mode)
}
