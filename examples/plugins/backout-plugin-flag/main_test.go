package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandle(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "flags.json")
	tests := []struct {
		name, req, wantStatus, wantOutput, wantFile string
	}{
		{"toggle", `{"version":1,"config":{"file":"F","flag":"checkout"}}`, "ok", `set flag "checkout" in F: true -> false`, `"checkout": false`},
		{"explicit", `{"version":1,"config":{"file":"F","flag":"checkout","enabled":true}}`, "ok", `set flag "checkout" in F: true -> true`, `"checkout": true`},
		{"dry run", `{"version":1,"dry_run":true,"config":{"file":"F","flag":"checkout"}}`, "ok", `would set flag "checkout" in F: true -> false`, `"checkout": true`},
		{"unknown flag", `{"version":1,"config":{"file":"F","flag":"chekout"}}`, "failed", `F: no boolean flag "chekout"`, `"checkout": true`},
		{"bad version", `{"version":2}`, "failed", "protocol version 2 not supported (want 1)", `"checkout": true`},
		{"unknown config key", `{"version":1,"config":{"file":"F","flag":"x","colour":1}}`, "failed", `config: json: unknown field "colour"`, `"checkout": true`},
		{"not json", `hello`, "failed", "read request: invalid character 'h' looking for beginning of value", `"checkout": true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(file, []byte(`{"checkout": true, "other": "kept"}`), 0o640); err != nil {
				t.Fatal(err)
			}
			resp := handle(strings.NewReader(strings.ReplaceAll(tt.req, `"F"`, `"`+file+`"`)))
			if resp.Status != tt.wantStatus || resp.Output != strings.ReplaceAll(tt.wantOutput, "F", file) {
				t.Fatalf("got %+v", resp)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tt.wantFile) || !strings.Contains(string(data), `"other": "kept"`) {
				t.Fatalf("file now %s", data)
			}
		})
	}
}
