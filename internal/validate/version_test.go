package validate

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/backout/backout/internal/check"
)

func TestVersionEndpoints(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/a/version", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"build":{"version":"1.2.3"}}`) })
	mux.HandleFunc("/b/version", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"build":{"version":"1.2.2"}}`) })
	mux.HandleFunc("/c/version", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "1.2.3\n") })
	mux.HandleFunc("/d/version", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/e/version", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"build":{}}`) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	u := srv.URL
	cases := []struct {
		name, with string
		want       check.Outcome
		wantValue  string
		wantMsg    string
	}{
		{"json", `{url: "` + u + `/a/version", json_path: $.build.version}`, check.Successful, "1/1 instances at target", "1/1 instances report 1.2.3"},
		{"text", `{url: "` + u + `/c/version"}`, check.Successful, "1/1 instances at target", "1/1 instances report 1.2.3"},
		{"one behind", `{urls: ["` + u + `/a/version", "` + u + `/b/version"], json_path: build.version}`, check.Failed, "1/2 instances at target",
			`1/2 instances not at 1.2.3: ` + u + `/b/version reports "1.2.2"`},
		{"down and missing", `{url: "` + u + `/d/version", urls: ["` + u + `/e/version", "` + u + `/c/version"], json_path: build.version}`, check.Failed, "0/3 instances at target",
			`3/3 instances not at 1.2.3: ` + u + `/d/version: status 503; ` + u + `/e/version: build.version not found; ` + u + `/c/version: response is not JSON: unexpected data after the value`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewVersion(srv.Client(), "").Measure(t.Context(), check.Request{With: with(t, tc.with), TargetVersion: "1.2.3"})
			if err != nil || m.Outcome != tc.want || m.Value != tc.wantValue || m.Message != tc.wantMsg || m.Bound != "= 1.2.3" {
				t.Fatalf("Measure = %+v, %v\nwant %s %q %q", m, err, tc.want, tc.wantValue, tc.wantMsg)
			}
		})
	}
	_, err := NewVersion(nil, "").Measure(t.Context(), check.Request{With: with(t, `{url: "`+u+`/a/version"}`), Service: "checkout"})
	if errString(err) != "version: no target version for checkout" {
		t.Fatalf("no target version: %v", err)
	}
}
