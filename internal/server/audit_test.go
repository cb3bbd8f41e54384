package server_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backout/backout/internal/audit"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/metrics"
	"github.com/backout/backout/internal/server"
	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
)

// TestAuditVerifyAPI: GET /api/v1/audit/verify answers 200 with the head
// for an intact chain that reaches the anchor, and 409 naming the seq when
// it does not.
func TestAuditVerifyAPI(t *testing.T) {
	key := store.NewHasher([]byte("a-key-of-32-bytes-for-the-tests!"))
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{Hasher: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var head store.AuditEvent
	for range 3 {
		if head, err = st.AppendAudit(t.Context(), store.AuditEvent{Actor: "U1", Action: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	serve := func(h store.Hasher) *httptest.Server {
		log := slog.New(slog.DiscardHandler)
		api := &server.API{Token: config.Secret(token), Log: log, Audit: audit.Verifier{Log: st, Hasher: h}}
		srv := httptest.NewServer(server.New(server.Routes{API: api}, metrics.New(), log))
		t.Cleanup(srv.Close)
		return srv
	}
	keyed, wrongKey := serve(key), serve(store.Hasher{})
	tests := []struct {
		name string
		srv  *httptest.Server
		path string
		auth string
		code int
		want []string
	}{
		{"no token", keyed, "/api/v1/audit/verify", "", 401, []string{"bearer token"}},
		{"intact", keyed, "/api/v1/audit/verify", token, 200, []string{`"ok":true`, `"events":3`, `"head":{"seq":3,"hash":"` + head.Hash + `"}`, `"keyed":true`}},
		{"reaches the anchor", keyed, "/api/v1/audit/verify?anchor=" + fmt.Sprintf("3:%s", head.Hash), token, 200, []string{`"ok":true`}},
		{"anchor beyond the head", keyed, "/api/v1/audit/verify?anchor=5:" + head.Hash, token, 409,
			[]string{`"ok":false`, `"broken":{"seq":4`, "truncated?", `"head":{"seq":3`}},
		{"anchor hash differs", keyed, "/api/v1/audit/verify?anchor=3:" + strings.Repeat("0", 64), token, 409, []string{`"broken":{"seq":3`, "rewritten"}},
		{"bad anchor", keyed, "/api/v1/audit/verify?anchor=3:abc", token, 400, []string{"64-digit"}},
		{"without the key", wrongKey, "/api/v1/audit/verify", token, 409, []string{`"broken":{"seq":1`, `"events":0`}},
	}
	for _, tc := range tests {
		code, body := call(t, tc.srv, "GET", tc.path, tc.auth, "")
		if code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.code)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: body %s lacks %s", tc.name, body, w)
			}
		}
		if !json.Valid([]byte(body)) {
			t.Errorf("%s: not JSON: %s", tc.name, body)
		}
	}
}
