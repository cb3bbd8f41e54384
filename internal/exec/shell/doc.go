package shell

import "github.com/backout/backout/internal/withdoc"

// Describe implements withdoc.Describer: docs/runbooks.md and `bot schema`
// are generated from it.
func (e *Executor) Describe() withdoc.Kind {
	return withdoc.Kind{
		Name:    e.Name(),
		Summary: "Runs a program, or a script under runbooks/, as argv: no shell parses a command line, so a rendered parameter cannot become shell syntax. Output is capped (the tail is kept) and secrets are redacted; a timed-out step's whole process group is killed. Needs the program in the image (the `tools` image has a POSIX shell).",
		Fields: withdoc.Fields(with{}, map[string]string{
			"args":                 "The program and its arguments (`[kubectl, get, pods]`), or the script's arguments when `script` is set. Each entry is one argument, rendered on its own.",
			"script":               "A file under the runbooks directory to run (resolved there; it may not leave it). `args` follow it.",
			"env":                  "Names of the bot's environment variables the step may see, besides PATH and HOME (an allow-list: nothing else is passed).",
			"set_env":              "Variables set for the step, name to value (values may be templates).",
			"dir":                  "Working directory; a relative path starts at the runbooks directory.",
			"retryable_exit_codes": "Exit codes (1-255) that mark a failure worth retrying under the step's `retries`.",
		}),
		Rules: []string{"Set `args`, or `script` (with optional `args`)."},
	}
}
