package validate

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/backout/backout/internal/check"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseImageRef(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    imageRef
		wantErr string
	}{
		{in: "app@" + testDigest, want: imageRef{repository: "app", digest: testDigest}},
		{in: "reg.io/team/app:1.2@" + testDigest, want: imageRef{host: "reg.io", repository: "team/app", tag: "1.2", digest: testDigest}},
		{in: "localhost:5000/app@" + testDigest, want: imageRef{host: "localhost:5000", repository: "app", digest: testDigest}},
		{in: "localhost/app@" + testDigest, want: imageRef{host: "localhost", repository: "app", digest: testDigest}},
		{in: "team/app@" + testDigest, want: imageRef{repository: "team/app", digest: testDigest}},
		{in: "reg.io/app:latest", wantErr: `"reg.io/app:latest" is not pinned by digest (want name@sha256:<64 hex>)`},
		{in: "app@sha256:ABC", wantErr: `"app@sha256:ABC": digest "sha256:ABC" is not sha256:<64 lowercase hex>`},
		{in: "app@sha512:" + strings.Repeat("a", 64), wantErr: `"app@sha512:` + strings.Repeat("a", 64) + `": digest "sha512:` + strings.Repeat("a", 64) + `" is not sha256:<64 lowercase hex>`},
		{in: "app:@" + testDigest, wantErr: `"app:@` + testDigest + `": empty tag`},
		{in: "reg.io/@" + testDigest, wantErr: `"reg.io/@` + testDigest + `": empty repository name`},
		{in: "Team/App@" + testDigest, wantErr: `"Team/App@` + testDigest + `": invalid repository name "Team/App" (lowercase letters, digits, . _ - and /)`},
		{in: "a//b@" + testDigest, wantErr: `"a//b@` + testDigest + `": invalid repository name "a//b" (lowercase letters, digits, . _ - and /)`},
	} {
		got, err := parseImageRef(tc.in)
		if errString(err) != tc.wantErr || got != tc.want {
			t.Errorf("parseImageRef(%q) = %+v, %q; want %+v, %q", tc.in, got, errString(err), tc.want, tc.wantErr)
		}
	}
}

// FuzzParseImageRef: an accepted reference has a valid digest and a
// repository of allowed characters, and reassembles to the input.
func FuzzParseImageRef(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := parseImageRef(s)
		if err != nil {
			return
		}
		if !validDigest(ref.digest) || ref.repository == "" || strings.Trim(ref.repository, "abcdefghijklmnopqrstuvwxyz0123456789._-/") != "" {
			t.Fatalf("accepted %q as %+v", s, ref)
		}
		back := ref.repository
		if ref.host != "" {
			back = ref.host + "/" + back
		}
		if ref.tag != "" {
			back += ":" + ref.tag
		}
		if back += "@" + ref.digest; back != s {
			t.Fatalf("%q parsed to %+v, which reassembles to %q", s, ref, back)
		}
	})
}

// fakeRegistry answers manifest HEADs: known digests 200, the rest 404,
// and records what it was asked.
type fakeRegistry struct {
	mu       sync.Mutex
	known    map[string]bool // "/v2/<name>/manifests/<digest>"
	status   int             // overrides the answer when set
	requests []*http.Request
}

func (r *fakeRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
	switch {
	case r.status != 0:
		w.WriteHeader(r.status)
	case req.Method == http.MethodHead && r.known[req.URL.Path]:
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestArtifactMeasure(t *testing.T) {
	reg := &fakeRegistry{known: map[string]bool{"/v2/team/app/manifests/" + testDigest: true}}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	other := "sha256:" + strings.Repeat("f", 64)
	env := map[string]string{"REG_TOKEN": "s3cret"}
	for _, tc := range []struct {
		name, registry, with string
		status               int
		want                 check.Outcome
		wantMsg, wantErr     string
	}{
		{name: "present", registry: srv.URL, with: `{image: "reg.io/team/app:1.2@` + testDigest + `"}`,
			want: check.Successful, wantMsg: "manifest team/app@" + testDigest + " found in the registry"},
		{name: "missing", registry: srv.URL, with: `{image: "reg.io/team/app@` + other + `"}`,
			want: check.Failed, wantMsg: "manifest team/app@" + other + " not found in the registry"},
		{name: "tag only", registry: srv.URL, with: `{image: "reg.io/team/app:1.2"}`,
			want: check.Failed, wantMsg: `image "reg.io/team/app:1.2" is not pinned by digest (want name@sha256:<64 hex>)`},
		{name: "no registry", with: `{image: "team/app@` + testDigest + `"}`,
			want: check.Successful, wantMsg: "pinned by digest (no registry configured to confirm it exists)"},
		{name: "registry from with", with: `{image: "team/app@` + testDigest + `", registry_url: "` + srv.URL + `/", token_env: REG_TOKEN}`,
			want: check.Successful, wantMsg: "manifest team/app@" + testDigest + " found in the registry"},
		{name: "registry error", registry: srv.URL, status: http.StatusUnauthorized, with: `{image: "team/app@` + testDigest + `"}`,
			wantErr: "artifact: registry answered 401 for team/app@" + testDigest},
		{name: "token unset", registry: srv.URL, with: `{image: "team/app@` + testDigest + `", token_env: NOPE}`,
			wantErr: "artifact: environment variable NOPE is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.mu.Lock()
			reg.status, reg.requests = tc.status, nil
			reg.mu.Unlock()
			req := check.Request{With: with(t, tc.with), Env: mapEnv(env)}
			m, err := NewArtifact(srv.Client(), tc.registry).Measure(t.Context(), req)
			if errString(err) != tc.wantErr || m.Outcome != tc.want || m.Message != tc.wantMsg {
				t.Fatalf("Measure = %+v, %q; want %s %q, error %q", m, errString(err), tc.want, tc.wantMsg, tc.wantErr)
			}
		})
	}
	// An unset token stops the check before anything is sent.
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if len(reg.requests) != 0 {
		t.Fatalf("token unset still sent %d requests", len(reg.requests))
	}
}

func TestArtifactHeadHeaders(t *testing.T) {
	reg := &fakeRegistry{known: map[string]bool{"/v2/app/manifests/" + testDigest: true}}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	req := check.Request{With: with(t, `{image: "app@`+testDigest+`", token_env: T}`), Env: mapEnv(map[string]string{"T": "tok"})}
	if _, err := NewArtifact(srv.Client(), srv.URL).Measure(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	got := reg.requests[0]
	if got.Method != http.MethodHead || got.Header.Get("Authorization") != "Bearer tok" {
		t.Errorf("request %s with Authorization %q", got.Method, got.Header.Get("Authorization"))
	}
	for _, mt := range []string{"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
		"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"} {
		if !strings.Contains(got.Header.Get("Accept"), mt) {
			t.Errorf("Accept %q lacks %s", got.Header.Get("Accept"), mt)
		}
	}
}

// mapEnv is a Request.Env over a map.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}
