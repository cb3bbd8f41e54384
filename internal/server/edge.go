package server

import (
	"github.com/backout/backout/internal/edge"
	"github.com/backout/backout/internal/incident"
)

// deployControlProblem refuses a deploy record holding a control character:
// its version and artifact later become a step's arguments, where a NUL
// fails only once the rollback runs. Every field is one line.
func deployControlProblem(in incident.DeployInput) string {
	for _, f := range []struct{ name, value string }{
		{"service", in.Service}, {"version", in.Version}, {"artifact", in.Artifact}, {"config_version", in.ConfigVersion},
		{"environment", in.Environment}, {"commit", in.Commit}, {"deployed_by", in.DeployedBy}, {"url", in.URL}, {"risk", in.Risk},
	} {
		if p := edge.Problem(f.name, f.value, false); p != "" {
			return p
		}
	}
	return ""
}
