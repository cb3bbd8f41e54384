package proc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestResolveUnder(t *testing.T) {
	base := t.TempDir()
	outside := t.TempDir()
	for _, p := range []string{"scripts/ok.sh", "top.sh"} {
		full := filepath.Join(base, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "evil.sh"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "evil.sh"), filepath.Join(base, "link.sh")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		want    string // "" when refused
		errPart string
	}{
		{"scripts/ok.sh", filepath.Join(base, "scripts/ok.sh"), ""},
		{"./scripts/../top.sh", filepath.Join(base, "top.sh"), ""},
		{filepath.Join(base, "top.sh"), filepath.Join(base, "top.sh"), ""},
		{"../" + filepath.Base(outside) + "/evil.sh", "", "is outside"},
		{"scripts/../../x.sh", "", "is outside"},
		{filepath.Join(outside, "evil.sh"), "", "is outside"},
		{"link.sh", "", "through a symlink"},
		{"missing.sh", "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := ResolveUnder(base, tt.path)
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tt.errPart)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := ResolveUnder("", "x"); err == nil {
		t.Fatal("empty base accepted")
	}
}

func TestCheckLocal(t *testing.T) {
	tests := []struct {
		base, path string
		ok         bool
	}{
		{"", "a.sh", true},
		{"", "a/../b.sh", true},
		{"", "../b.sh", false},
		{"", "a/../../b", false},
		{"", "/abs/x", true},
		{"/runbooks", "/runbooks/x.sh", true},
		{"/runbooks", "/runbooks/../etc/x", false},
		{"/runbooks", "/etc/x", false},
	}
	for _, tt := range tests {
		if err := CheckLocal(tt.base, tt.path); (err == nil) != tt.ok {
			t.Errorf("CheckLocal(%q, %q) = %v", tt.base, tt.path, err)
		}
	}
}

func TestEnv(t *testing.T) {
	vars := map[string]string{"PATH": "/bin", "HOME": "/root", "TOKEN": "t", "OTHER": "o", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct {
		name  string
		allow []string
		set   map[string]string
		want  []string
	}{
		{"base only", nil, nil, []string{"PATH=/bin", "HOME=/root"}},
		{"allow-list", []string{"TOKEN", "MISSING", "EMPTY", "TOKEN"}, nil, []string{"PATH=/bin", "HOME=/root", "TOKEN=t", "EMPTY="}},
		{"literal wins", []string{"TOKEN"}, map[string]string{"TOKEN": "lit", "A": "1"}, []string{"PATH=/bin", "HOME=/root", "A=1", "TOKEN=lit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Env(lookup, tt.allow, tt.set); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := map[string][]string{
		"kubectl set image deployment/web app=img@sha256:ab": {"kubectl", "set", "image", "deployment/web", "app=img@sha256:ab"},
		`echo 'a b' '' 'it'\''s' '$HOME' ';rm'`:              {"echo", "a b", "", "it's", "$HOME", ";rm"},
	}
	for want, argv := range tests {
		if got := Quote(argv); got != want {
			t.Errorf("Quote(%q) = %s, want %s", argv, got, want)
		}
	}
}
