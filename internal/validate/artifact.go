package validate

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/yamlx"
)

// Artifact is `uses: artifact`: the release to go back to is an image
// pinned by digest and, when a registry is configured, still present there.
//
//	with: {image: '{{ .Target.Artifact }}'}
//	with: {image: '{{ .Target.Artifact }}', registry_url: https://registry.internal, token_env: REGISTRY_TOKEN}
//
// A reference without @sha256:<64 hex> fails: a tag can move, so rolling back
// to it may not bring back what ran. With a registry (registry_url, else the
// bot's registry.url) the check sends HEAD /v2/<repository>/manifests/<digest>
// with OCI and Docker manifest Accept headers: 200 passes, 404 fails, and
// anything else is an Error. The repository is the image name without its
// registry host, sent to the configured registry (which may be a mirror).
// token_env names a variable holding a bearer token; the registry token
// exchange (401 with WWW-Authenticate) is not performed.
type Artifact struct {
	client      *http.Client
	registryURL string
}

// NewArtifact returns the checker. client may be nil (10s timeout);
// registryURL is config registry.url (may be empty).
func NewArtifact(client *http.Client, registryURL string) *Artifact {
	if client == nil {
		client = noRedirects(nil)
	}
	return &Artifact{client: client, registryURL: strings.TrimSuffix(registryURL, "/")}
}

// Name implements check.Checker.
func (*Artifact) Name() string { return "artifact" }

type artifactWith struct {
	Pos         yamlx.Pos
	KeyPos      map[string]yamlx.Pos
	Image       string `yaml:"image"`
	RegistryURL string `yaml:"registry_url"`
	TokenEnv    string `yaml:"token_env"`
}

// manifestAccept lists the manifest media types a registry may hold.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

func (c *Artifact) parse(with yamlx.Node, lint bool) (artifactWith, error) {
	var w artifactWith
	errs := decodeWith(with, &w)
	if len(errs) > 0 {
		return w, errs.Err()
	}
	f := newFields(lint, with.Pos(), w.KeyPos, &errs)
	if f.required("image", w.Image, `usually image: '{{ .Target.Artifact }}'`) && !f.templated(w.Image) && lint {
		if _, err := parseImageRef(w.Image); err != nil {
			f.fail("image", "%v", err)
		}
	}
	validURL(f, "registry_url", w.RegistryURL)
	f.envName("token_env", w.TokenEnv)
	return w, errs.Err()
}

// Validate implements check.Checker.
func (c *Artifact) Validate(with yamlx.Node) error {
	_, err := c.parse(with, true)
	return err
}

// Measure implements check.Checker.
func (c *Artifact) Measure(ctx context.Context, req check.Request) (check.Measurement, error) {
	w, err := c.parse(req.With, false)
	if err != nil {
		return check.Measurement{}, err
	}
	m := check.Measurement{Value: w.Image, Bound: "pinned by digest"}
	ref, err := parseImageRef(w.Image)
	if err != nil {
		m.Outcome, m.Message = check.Failed, "image "+err.Error()
		return m, nil
	}
	registry := strings.TrimSuffix(w.RegistryURL, "/")
	if registry == "" {
		registry = c.registryURL
	}
	if registry == "" {
		m.Outcome, m.Message = check.Successful, "pinned by digest (no registry configured to confirm it exists)"
		return m, nil
	}
	m.Bound = "pinned by digest and present in " + redactURL(registry)
	status, err := c.head(ctx, req, registry, ref, w.TokenEnv)
	if err != nil {
		return check.Measurement{}, err
	}
	switch status {
	case http.StatusOK:
		m.Outcome, m.Message = check.Successful, fmt.Sprintf("manifest %s@%s found in the registry", ref.repository, ref.digest)
	case http.StatusNotFound:
		m.Outcome, m.Message = check.Failed, fmt.Sprintf("manifest %s@%s not found in the registry", ref.repository, ref.digest)
	default:
		return check.Measurement{}, fmt.Errorf("artifact: registry answered %d for %s@%s", status, ref.repository, ref.digest)
	}
	return m, nil
}

// head asks the registry whether the manifest exists.
func (c *Artifact) head(ctx context.Context, req check.Request, registry string, ref imageRef, tokenEnv string) (int, error) {
	u := fmt.Sprintf("%s/v2/%s/manifests/%s", registry, ref.repository, ref.digest)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return 0, fmt.Errorf("artifact: %w", err)
	}
	hreq.Header.Set("Accept", manifestAccept)
	if tokenEnv != "" {
		tok, ok := lookupEnv(req, tokenEnv)
		if !ok {
			return 0, fmt.Errorf("artifact: environment variable %s is not set", tokenEnv)
		}
		hreq.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.client.Do(hreq)
	if err != nil {
		return 0, fmt.Errorf("artifact: HEAD %s: %w", redactURL(u), unwrapURLError(err))
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// imageRef is a parsed image reference pinned by digest.
type imageRef struct {
	host       string // registry host, "" when implicit
	repository string // e.g. team/checkout
	tag        string
	digest     string // sha256:<64 hex>
}

// parseImageRef reads [host[:port]/]repository[:tag]@sha256:<64 hex>.
func parseImageRef(s string) (imageRef, error) {
	name, digest, ok := strings.Cut(s, "@")
	if !ok {
		return imageRef{}, fmt.Errorf("%q is not pinned by digest (want name@sha256:<64 hex>)", s)
	}
	if !validDigest(digest) {
		return imageRef{}, fmt.Errorf("%q: digest %q is not sha256:<64 lowercase hex>", s, digest)
	}
	ref := imageRef{digest: digest}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, ref.tag = name[:i], name[i+1:]
		if ref.tag == "" {
			return imageRef{}, fmt.Errorf("%q: empty tag", s)
		}
	}
	if first, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		ref.host, name = first, rest
	}
	if name == "" {
		return imageRef{}, fmt.Errorf("%q: empty repository name", s)
	}
	for part := range strings.SplitSeq(name, "/") {
		if part == "" || strings.Trim(part, "abcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
			return imageRef{}, fmt.Errorf("%q: invalid repository name %q (lowercase letters, digits, . _ - and /)", s, name)
		}
	}
	ref.repository = name
	return ref, nil
}

func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	return strings.Trim(hex, "0123456789abcdef") == ""
}
