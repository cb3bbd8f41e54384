// Command backout-plugin-flag is an example Backout plugin: it sets, or
// toggles, a boolean feature flag in a JSON file. It speaks the protocol in
// internal/exec/plugin/PROTOCOL.md: one request on stdin, one response on
// stdout, exit status 0 whenever it could answer.
//
// Step configuration:
//
//	uses: plugin
//	with:
//	  name: flag
//	  config:
//	    file: flags/shop.json   # relative to the runbooks directory
//	    flag: new-checkout
//	    enabled: false          # leave out to toggle
//
// The file is a JSON object; other keys are kept as they are.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

type request struct {
	Version int             `json:"version"`
	Step    string          `json:"step"`
	Config  json.RawMessage `json:"config"`
	DryRun  bool            `json:"dry_run"`
}

type config struct {
	File    string `json:"file"`
	Flag    string `json:"flag"`
	Enabled *bool  `json:"enabled"`
}

type response struct {
	Status    string            `json:"status"`
	Output    string            `json:"output"`
	Retryable bool              `json:"retryable"`
	Detail    map[string]string `json:"detail,omitempty"`
}

func main() {
	resp := handle(os.Stdin)
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		fmt.Fprintln(os.Stderr, "write response:", err)
		os.Exit(1)
	}
}

// handle never panics on bad input: every problem becomes a failed response.
func handle(in io.Reader) response {
	var req request
	dec := json.NewDecoder(in)
	if err := dec.Decode(&req); err != nil {
		return failed(fmt.Errorf("read request: %w", err))
	}
	if req.Version != 1 {
		return failed(fmt.Errorf("protocol version %d not supported (want 1)", req.Version))
	}
	var cfg config
	strict := json.NewDecoder(bytes.NewReader(req.Config))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&cfg); err != nil {
		return failed(fmt.Errorf("config: %w", err))
	}
	if cfg.File == "" || cfg.Flag == "" {
		return failed(errors.New(`config: "file" and "flag" are required`))
	}
	before, after, err := flip(cfg, req.DryRun)
	if err != nil {
		return failed(err)
	}
	verb := "set"
	if req.DryRun {
		verb = "would set"
	}
	return response{
		Status: "ok",
		Output: fmt.Sprintf("%s flag %q in %s: %t -> %t", verb, cfg.Flag, cfg.File, before, after),
		Detail: map[string]string{"flag": cfg.Flag, "before": fmt.Sprint(before), "after": fmt.Sprint(after)},
	}
}

// flip reads the flag, computes its new value and, unless dryRun, writes
// the file back atomically so a crash never leaves half a file.
func flip(cfg config, dryRun bool) (before, after bool, err error) {
	data, err := os.ReadFile(cfg.File)
	if err != nil {
		return false, false, err
	}
	var flags map[string]any
	if err := json.Unmarshal(data, &flags); err != nil {
		return false, false, fmt.Errorf("%s: %w", cfg.File, err)
	}
	cur, ok := flags[cfg.Flag].(bool)
	if !ok {
		// A typo must not quietly create a new flag.
		return false, false, fmt.Errorf("%s: no boolean flag %q", cfg.File, cfg.Flag)
	}
	after = !cur
	if cfg.Enabled != nil {
		after = *cfg.Enabled
	}
	if dryRun || after == cur {
		return cur, after, nil
	}
	flags[cfg.Flag] = after
	out, err := json.MarshalIndent(flags, "", "  ")
	if err != nil {
		return false, false, err
	}
	return cur, after, writeAtomic(cfg.File, append(out, '\n'))
}

func writeAtomic(path string, data []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".flags-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func failed(err error) response {
	return response{Status: "failed", Output: err.Error()}
}
