package watch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backout/backout/internal/alerts/watch"
)

// TestPromQuerierResults checks result decoding against canned answers in
// the Prometheus HTTP API's format.
func TestPromQuerierResults(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    string
		wantErr string
	}{
		{"vector", 200, `{"status":"success","data":{"resultType":"vector","result":[
			{"metric":{"pod":"a"},"value":[1716213600.123,"0.07"]},{"metric":{"pod":"b"},"value":[1716213600.123,"NaN"]}]}}`, "[0.07 NaN]", ""},
		{"empty vector", 200, `{"status":"success","data":{"resultType":"vector","result":[]}}`, "[]", ""},
		{"scalar", 200, `{"status":"success","data":{"resultType":"scalar","result":[1716213600,"2.5"]}}`, "[2.5]", ""},
		{"matrix refused", 200, `{"status":"success","data":{"resultType":"matrix","result":[]}}`, "", "instant vector"},
		{"bad query", 400, `{"status":"error","errorType":"bad_data","error":"parse error: unexpected end of input"}`, "", "parse error"},
		{"server error", 503, `{"status":"error","errorType":"unavailable","error":"overloaded"}`, "", "503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotQuery, gotTime string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				gotQuery, gotTime = r.Form.Get("query"), r.Form.Get("time")
				if r.URL.Path != "/api/v1/query" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			q, err := watch.NewPromQuerier(srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			vals, err := q.Query(context.Background(), `sum(rate(x[1m]))`)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || fmt.Sprint(vals) != tt.want {
				t.Fatalf("got %v %v, want %s", vals, err, tt.want)
			}
			if gotQuery != `sum(rate(x[1m]))` || gotTime != "" {
				t.Fatalf("sent query %q time %q; want the query at the server's now", gotQuery, gotTime)
			}
		})
	}
}
