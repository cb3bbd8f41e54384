package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DemoService is the HTTP service the bundled demo rolls back. It holds no
// state of its own: every answer is read from the files
// runbooks/scripts/demo.sh writes under the demo directory, so the
// local-demo runbook's validation checks measure what its steps really did.
//
//	GET /{service}/healthz  200 "ok" once installed and not drained, else 503
//	GET /{service}/version  the installed version, or 404 before any install
//	GET /{service}/{site}/healthz, /version  the same for a copy of the
//	  service under its directory: what an environment drill acts on
//	  (local-demo's `site` param), apart from the service itself.
type DemoService struct {
	// URL is the base, http://127.0.0.1:PORT; a service's endpoints are
	// under URL + "/" + its name.
	URL  string
	srv  *http.Server
	done chan struct{}
}

// demoName is what may name a service in a path: one segment that cannot
// climb out of the demo directory.
var demoName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// StartDemoService listens on a free loopback port, never beyond: the demo
// promises no network.
func StartDemoService(dir string) (*DemoService, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo service: %w", err)
	}
	mux := http.NewServeMux()
	for _, route := range []struct {
		path   string
		answer demoAnswer
	}{{"healthz", demoHealth}, {"version", demoVersion}} {
		mux.HandleFunc("GET /{service}/"+route.path, func(w http.ResponseWriter, r *http.Request) {
			serveDemo(w, dir, route.answer, r.PathValue("service"))
		})
		mux.HandleFunc("GET /{service}/{site}/"+route.path, func(w http.ResponseWriter, r *http.Request) {
			serveDemo(w, dir, route.answer, r.PathValue("service"), r.PathValue("site"))
		})
	}
	d := &DemoService{URL: "http://" + ln.Addr().String(), done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		defer close(d.done)
		_ = d.srv.Serve(ln) // ErrServerClosed after Close; nothing else to report to
	}()
	return d, nil
}

// ServiceURL is where one service's endpoints are.
func (d *DemoService) ServiceURL(service string) string { return d.URL + "/" + service }

// Close stops the service and waits for it.
func (d *DemoService) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := d.srv.Shutdown(ctx)
	<-d.done
	if err != nil {
		return fmt.Errorf("demo service: %w", err)
	}
	return nil
}

// demoAnswer is one endpoint: a status and a one-line body.
type demoAnswer func(dir, service string) (int, string)

// serveDemo answers for the service or site the path segments name, each
// checked against demoName so none climbs out of dir.
func serveDemo(w http.ResponseWriter, dir string, answer demoAnswer, segments ...string) {
	status, body := http.StatusNotFound, "no such service\n"
	if !slices.ContainsFunc(segments, func(s string) bool { return !demoName.MatchString(s) || strings.Contains(s, "..") }) {
		status, body = answer(filepath.Join(append([]string{dir}, segments...)...), strings.Join(segments, "/"))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprint(w, body)
}

func demoHealth(dir, service string) (int, string) {
	if _, ok, err := installedVersion(dir); err != nil || !ok {
		return http.StatusServiceUnavailable, service + " is not installed\n"
	}
	if _, err := os.Stat(filepath.Join(dir, "drained")); err == nil {
		return http.StatusServiceUnavailable, service + " is drained\n"
	}
	return http.StatusOK, "ok\n"
}

func demoVersion(dir, service string) (int, string) {
	v, ok, err := installedVersion(dir)
	switch {
	case err != nil:
		return http.StatusInternalServerError, err.Error() + "\n"
	case !ok:
		return http.StatusNotFound, service + " is not installed\n"
	}
	return http.StatusOK, v + "\n"
}

// installedVersion reads the version demo.sh's install wrote
// ("VERSION ARTIFACT"); ok is false before the first install.
func installedVersion(dir string) (string, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "installed"))
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the installed version: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return "", false, nil
	}
	return fields[0], true, nil
}
