#!/usr/bin/env bash
# Checks Backout's deployment artifacts with whatever tools this machine has,
# and says plainly what it checked and what it skipped and why.
#
#   bash deploy/check.sh            # from the repository root (or anywhere)
#
# Environment:
#   BACKOUT_CHECK_INSTALL=0         never apt-get install missing tools (default: try, when root)
#   BACKOUT_CHECK_HELM_FROM_SOURCE=1  build helm with `go install` from the Go module proxy when
#                                   it is not installed (Debian does not package it; ~5 CPU-minutes)
#   HELM_VERSION                    helm module version for that build (default v3.22.0)
#
# Exits non-zero when any check fails; a skipped check is not a failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

checked=()
skipped=()
failed=()

pass() { checked+=("$1"); printf 'ok    %s\n' "$1"; }
skip() { skipped+=("$1: $2"); printf 'skip  %s: %s\n' "$1" "$2"; }
fail() { failed+=("$1"); printf 'FAIL  %s\n' "$1"; }

# run NAME CMD...: runs CMD, printing its output only when it fails.
run() {
	local name=$1
	shift
	local out
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		printf '%s\n' "$out" | sed 's/^/      /'
		fail "$name"
	fi
}

# wait_for_apt: another process may be installing packages; apt would fail on
# its lock.
wait_for_apt() {
	local i
	for i in $(seq 1 150); do
		if ! pgrep -x apt-get >/dev/null && ! pgrep -x dpkg >/dev/null; then
			return 0
		fi
		sleep 2
	done
	return 1
}

# have_tool CMD PKG: true when CMD is on PATH, after installing Debian package
# PKG if allowed and apt knows it. Prints why not otherwise (in $why).
why=""
have_tool() {
	local cmd=$1 pkg=$2
	why=""
	if command -v "$cmd" >/dev/null 2>&1; then
		return 0
	fi
	if [[ ${BACKOUT_CHECK_INSTALL:-1} == 0 ]]; then
		why="$cmd not installed (BACKOUT_CHECK_INSTALL=0)"
		return 1
	fi
	if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		why="$cmd not installed and apt-get is not usable here"
		return 1
	fi
	local candidate
	if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null && wait_for_apt; then
		# A fresh machine has no package lists: apt would know no package.
		apt-get update -qq >"$work/apt.log" 2>&1 || true
	fi
	candidate=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
	if [[ -z $candidate || $candidate == "(none)" ]]; then
		why="$cmd not installed and Debian has no package $pkg"
		return 1
	fi
	if ! wait_for_apt; then
		why="$cmd not installed; apt stayed busy"
		return 1
	fi
	echo "      installing $pkg $candidate with apt-get"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >"$work/apt.log" 2>&1; then
		why="apt-get install $pkg failed: $(tail -1 "$work/apt.log")"
		return 1
	fi
	command -v "$cmd" >/dev/null 2>&1 || { why="$pkg installed but has no $cmd"; return 1; }
}

echo "== Go tests (schema, dashboard, rules, manifests, Dockerfile)"
run "go test -race ./deploy/..." go test -race -count=1 ./deploy/...

echo "== Prometheus rules"
if have_tool promtool prometheus; then
	run "promtool check rules deploy/prometheus-rules.yaml" promtool check rules deploy/prometheus-rules.yaml
	run "promtool test rules deploy/prometheus-rules.test.yaml" promtool test rules deploy/prometheus-rules.test.yaml
	# The dashboard's queries, with Grafana's variables filled in, must be
	# valid PromQL too: promtool checks them as recording rules.
	if command -v python3 >/dev/null 2>&1; then
		python3 - deploy/grafana-dashboard.json "$work/dashboard-rules.yaml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
subst = {"$__rate_interval": "5m", "$window": "1d", "$job": "backout"}
def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, p in enumerate(panels(d["panels"])):
        for t in p.get("targets", []):
            e = t["expr"]
            for k, v in subst.items():
                e = e.replace(k, v)
            out.write("      - record: dashboard:panel%d:%s\n        expr: %s\n" % (p["id"], t["refId"], json.dumps(e)))
PY
		run "promtool: dashboard queries are valid PromQL" promtool check rules "$work/dashboard-rules.yaml"
	else
		skip "dashboard PromQL syntax" "python3 not available to extract the queries"
	fi
else
	fail "promtool check rules ($why)"
fi

echo "== Dockerfile"
if have_tool hadolint hadolint; then
	run "hadolint deploy/Dockerfile" hadolint deploy/Dockerfile
else
	skip "hadolint" "$why; structural checks below instead"
fi
dockerfile_structure() {
	local f=deploy/Dockerfile ok=0
	grep -Eq '^FROM golang:[^ ]+ AS build$' "$f" || { echo "no build stage 'FROM golang:... AS build'"; ok=1; }
	grep -Eq '^FROM golang:[^ ]+ AS fetch$' "$f" || { echo "no fetch stage 'FROM golang:... AS fetch'"; ok=1; }
	grep -Eq '^FROM debian:[^ ]+ AS tools$' "$f" || { echo "no tools stage 'FROM debian:... AS tools' (needs a POSIX shell)"; ok=1; }
	grep -Eq '^FROM gcr\.io/distroless/static-debian12:nonroot AS minimal$' "$f" || { echo "minimal stage is not distroless static nonroot"; ok=1; }
	[[ $(grep -E '^FROM ' "$f" | tail -1) == *" AS minimal" ]] || { echo "minimal is not the last stage (the default target)"; ok=1; }
	[[ $(grep -cE '^USER 65532:65532$' "$f") == 2 ]] || { echo "want 'USER 65532:65532' in both images"; ok=1; }
	[[ $(grep -cE '^COPY --from=build /out/bot /bot$' "$f") == 2 ]] || { echo "both images must copy /bot from the build stage"; ok=1; }
	[[ $(grep -cE '^EXPOSE 8080$' "$f") == 2 ]] || { echo "want 'EXPOSE 8080' in both images"; ok=1; }
	[[ $(grep -cE '^ENTRYPOINT \["/bot"\]$' "$f") == 2 ]] || { echo 'want ENTRYPOINT ["/bot"] in both images'; ok=1; }
	[[ $(grep -cE '^CMD \["serve", ?"--config", ?"/etc/backout/bot.yaml"\]$' "$f") == 2 ]] || { echo "want CMD serve --config /etc/backout/bot.yaml in both images"; ok=1; }
	grep -Eq '^ARG KUBECTL_VERSION=v[0-9]+\.[0-9]+\.[0-9]+$' "$f" || { echo "KUBECTL_VERSION is not pinned to vX.Y.Z"; ok=1; }
	grep -Eq '^ARG HELM_VERSION=v[0-9]+\.[0-9]+\.[0-9]+$' "$f" || { echo "HELM_VERSION is not pinned to vX.Y.Z"; ok=1; }
	local a
	for a in KUBECTL_SHA256_AMD64 KUBECTL_SHA256_ARM64 HELM_SHA256_AMD64 HELM_SHA256_ARM64; do
		grep -Eq "^ARG $a=[0-9a-f]{64}\$" "$f" || { echo "ARG $a is not a SHA-256"; ok=1; }
	done
	[[ $(grep -c 'sha256sum -c -' "$f") == 2 ]] || { echo "kubectl and helm must each be verified with sha256sum -c"; ok=1; }
	if grep -Eq '^FROM [^ ]+:latest' "$f"; then echo "a stage uses a :latest tag"; ok=1; fi
	return $ok
}
run "Dockerfile structure (build, fetch, tools, minimal last; pinned, checksummed tools; USER 65532; exec-form entrypoint)" dockerfile_structure

# fetch_stage_script: the fetch stage's RUN, run with a stub curl that serves
# known bytes, must accept matching checksums and refuse a mismatch, an empty
# checksum and an unknown architecture — what `docker build --target tools`
# would do, without Docker or the network.
fetch_stage_script() {
	local d=$work/fetch
	mkdir -p "$d/bin" "$d/src/linux-amd64"
	awk '/ AS fetch$/{f=1} / AS tools$/{f=0} f && /^RUN set -eu/{r=1} r{print} r && !/\\$/{r=0}' deploy/Dockerfile |
		sed -e 's/^RUN //' -e 's/\\$//' -e 's#/out#$OUT#g' >"$d/fetch.sh"
	printf 'helm' >"$d/src/linux-amd64/helm"
	tar -czf "$d/helm.tar.gz" -C "$d/src" linux-amd64/helm
	printf '#!/bin/sh\ncase "$3" in *kubectl) printf kubectl >"$2" ;; *) cp "%s" "$2" ;; esac\n' "$d/helm.tar.gz" >"$d/bin/curl"
	chmod +x "$d/bin/curl"
	local k h
	k=$(printf kubectl | sha256sum | cut -d' ' -f1)
	h=$(sha256sum "$d/helm.tar.gz" | cut -d' ' -f1)
	try() { (rm -rf "$d/w" "$d/out" && mkdir "$d/w" && cd "$d/w" && env PATH="$d/bin:$PATH" OUT="$d/out" \
		KUBECTL_VERSION=v0 HELM_VERSION=v0 KUBECTL_SHA256_ARM64= HELM_SHA256_ARM64= "$@" sh "$d/fetch.sh") >"$d/log" 2>&1; }
	try TARGETARCH=amd64 KUBECTL_SHA256_AMD64="$k" HELM_SHA256_AMD64="$h" && [[ -x $d/out/kubectl && -x $d/out/helm ]] ||
		{ echo "matching checksums were refused:"; cat "$d/log"; return 1; }
	! try TARGETARCH=amd64 KUBECTL_SHA256_AMD64="$k" HELM_SHA256_AMD64="$k" && grep -q FAILED "$d/log" ||
		{ echo "a helm checksum mismatch was accepted"; return 1; }
	! try TARGETARCH=arm64 && grep -q 'set --build-arg KUBECTL_SHA256_ARM64' "$d/log" ||
		{ echo "an empty checksum did not stop the build with its name:"; cat "$d/log"; return 1; }
	! try TARGETARCH=s390x && grep -q 'no checksums for architecture s390x' "$d/log" ||
		{ echo "an unknown architecture was not refused"; return 1; }
}
run "Dockerfile fetch stage with a stub curl: verifies with sha256sum -c, refuses a mismatch, an empty checksum, an unknown arch" fetch_stage_script
skip "docker build" "no Docker engine on this machine; the build stage is exercised by 'CGO_ENABLED=0 go build ./cmd/bot' below"
if [[ -d cmd/bot ]]; then
	run "CGO_ENABLED=0 go build -trimpath -ldflags -X main.version ./cmd/bot (as the Dockerfile does)" \
		env CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=check" -o "$work/bot" ./cmd/bot
	if [[ -x $work/bot ]]; then
		run "built binary reports the -X version" bash -c '"$1" version | grep -q check' _ "$work/bot"
	fi
else
	skip "go build ./cmd/bot" "cmd/bot does not exist yet"
fi
if [[ -d runbooks ]]; then
	pass "runbooks/ exists (the Dockerfile copies it)"
else
	fail "runbooks/ is missing: the Dockerfile's COPY of /src/runbooks/ would fail"
fi

echo "== bot lint on the shipped configs"
# The real binary, with every executor and checker registered, lints the
# example bot.yaml and runbooks of the plain manifests.
if [[ -x $work/bot ]] && command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; then
	python3 - deploy/kubernetes/configmap.yaml "$work/k8s" <<'PY'
import os, sys, yaml
out = sys.argv[2]
os.makedirs(os.path.join(out, "runbooks"))
docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
cfg = yaml.safe_load(docs["backout-config"]["data"]["bot.yaml"])
cfg["runbooks"] = "runbooks"  # where they are extracted, not where they are mounted
yaml.safe_dump(cfg, open(os.path.join(out, "bot.yaml"), "w"))
for name, text in docs["backout-runbooks"]["data"].items():
    open(os.path.join(out, "runbooks", name), "w").write(text)
PY
	run "bot lint --config (deploy/kubernetes/configmap.yaml)" "$work/bot" lint --config "$work/k8s/bot.yaml"
else
	skip "bot lint on deploy/kubernetes" "needs the built bot and python3 with PyYAML"
fi

echo "== Helm chart"
helm_bin=""
gobin=$(go env GOPATH)/bin
if command -v helm >/dev/null 2>&1; then
	helm_bin=$(command -v helm)
elif [[ -x $gobin/helm ]]; then
	helm_bin=$gobin/helm
elif have_tool helm helm; then
	helm_bin=$(command -v helm)
elif [[ ${BACKOUT_CHECK_HELM_FROM_SOURCE:-0} == 1 ]]; then
	echo "      building helm ${HELM_VERSION:-v3.22.0} with go install"
	if GOBIN=$gobin go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION:-v3.22.0}" >"$work/helm-build.log" 2>&1; then
		helm_bin=$gobin/helm
	else
		tail -5 "$work/helm-build.log" | sed 's/^/      /'
		fail "go install helm"
	fi
fi
if [[ -n $helm_bin ]]; then
	chart=deploy/helm/backout
	# A helm built from source defaults to an old Kubernetes version; the chart
	# needs 1.25 or later.
	kv=(--kube-version 1.30.0)
	run "helm lint --strict (defaults)" "$helm_bin" lint --strict "$chart" "${kv[@]}"
	run "helm lint --strict (1 replica, bolt)" "$helm_bin" lint --strict "$chart" "${kv[@]}" --set replicaCount=1 --set store.kind=bolt
	run "helm template (defaults: 2 replicas, redis)" \
		bash -c '"$@" > "$0"' "$work/default.yaml" "$helm_bin" template backout "$chart" "${kv[@]}"
	run "helm template (1 replica, bolt, ServiceMonitor, chart-made Secret)" \
		bash -c '"$@" > "$0"' "$work/bolt.yaml" "$helm_bin" template backout "$chart" "${kv[@]}" \
		--set replicaCount=1 --set store.kind=bolt --set serviceMonitor.enabled=true \
		--set secrets.values.SLACK_BOT_TOKEN=placeholder
	run "helm template (a helm runbook: image.flavor auto picks tools)" \
		bash -c '"$@" > "$0"' "$work/tools.yaml" "$helm_bin" template backout "$chart" "${kv[@]}" \
		--set-file 'runbooks.helm-release\.yaml=runbooks/helm-release.yaml'
	run "helm template (existing Secret)" \
		bash -c '"$@" > "$0"' "$work/existing.yaml" "$helm_bin" template backout "$chart" "${kv[@]}" \
		--set secrets.existingSecret=backout-creds
	# expect_fail NAME MESSAGE ARGS...: the render must fail with MESSAGE.
	expect_fail() {
		local name=$1 msg=$2 out
		shift 2
		if out=$("$helm_bin" template backout "$chart" "${kv[@]}" "$@" 2>&1); then
			echo "      rendered without error"
			fail "$name"
		elif grep -qF -- "$msg" <<<"$out"; then
			pass "$name"
		else
			printf '%s\n' "$out" | sed 's/^/      /'
			fail "$name (wrong message, want: $msg)"
		fi
	}
	expect_fail "helm template refuses 2 replicas on bolt" \
		"replicaCount=2 needs store.kind=redis" --set store.kind=bolt
	expect_fail "helm template refuses config.store" \
		"config.store is set by the chart" --set config.store.kind=redis
	expect_fail "helm template refuses an unknown secret key" \
		"secrets.values.SLACK_TOKEN is not a variable Backout reads" --set secrets.values.SLACK_TOKEN=x
	expect_fail "helm template refuses an unknown image.flavor" \
		'image.flavor "fat" is not one of auto, minimal, tools' --set image.flavor=fat
	expect_fail "helm template refuses a shutdown_grace it cannot add up" \
		'config.engine.shutdown_grace "1.5h": the chart derives terminationGracePeriodSeconds' --set-string config.engine.shutdown_grace=1.5h
	# terminationGracePeriodSeconds follows engine.shutdown_grace + kill_grace + the margin.
	grace_of() { # ARGS...: prints the render's terminationGracePeriodSeconds
		"$helm_bin" template backout "$chart" "${kv[@]}" "$@" | awk '/terminationGracePeriodSeconds:/{print $2}'
	}
	check_grace() { # NAME WANT ARGS...
		local name=$1 want=$2 got
		shift 2
		got=$(grace_of "$@" 2>&1)
		if [[ $got == "$want" ]]; then pass "$name"; else echo "      got: $got, want: $want"; fail "$name"; fi
	}
	check_grace "terminationGracePeriodSeconds: defaults (10m + 5s + 30s)" 635
	check_grace "terminationGracePeriodSeconds: shutdown_grace 1h30m, kill_grace 10s" 5440 \
		--set-string config.engine.shutdown_grace=1h30m --set-string config.engine.kill_grace=10s
	check_grace "terminationGracePeriodSeconds: shutdown_grace 0" 35 --set-string config.engine.shutdown_grace=0s
	# image.flavor: auto follows the runbooks given to the chart.
	flavor_of() { # ARGS...: prints "flavor-label image" of the render
		"$helm_bin" template backout "$chart" "${kv[@]}" "$@" |
			awk '/backout.dev\/image-flavor:/{f=$2} /^ *image: /{i=$2} END{print f, i}'
	}
	check_flavor() { # NAME WANT ARGS...
		local name=$1 want=$2 got
		shift 2
		got=$(flavor_of "$@" 2>&1)
		if [[ $got == "$want" ]]; then pass "$name"; else echo "      got: $got, want: $want"; fail "$name"; fi
	}
	check_flavor "image.flavor auto, HTTP-only runbooks: minimal image" 'minimal "ghcr.io/backout/backout:0.1.0"'
	check_flavor "image.flavor auto, a helm runbook: tools image" 'tools "ghcr.io/backout/backout:0.1.0-tools"' \
		--set-file 'runbooks.helm-release\.yaml=runbooks/helm-release.yaml'
	check_flavor "image.flavor minimal overrides auto" 'minimal "ghcr.io/backout/backout:0.1.0"' \
		--set-file 'runbooks.helm-release\.yaml=runbooks/helm-release.yaml' --set image.flavor=minimal
	check_flavor "image.flavor tools with a tag" 'tools "ghcr.io/backout/backout:1.2.3-tools"' \
		--set image.flavor=tools --set image.tag=1.2.3
	if [[ -s $work/default.yaml && -s $work/bolt.yaml && -s $work/existing.yaml && -s $work/tools.yaml ]]; then
		run "rendered manifests: config loads, runbooks lint for their image, probes, security, secrets (go test TestHelmRendered)" \
			env BACKOUT_HELM_RENDERED="$work/default.yaml=2,$work/bolt.yaml=1,$work/existing.yaml=2,$work/tools.yaml=2" \
			go test -count=1 -run 'TestHelmRendered' ./deploy/
		run "existing Secret is referenced and none is created" bash -c \
			'grep -q "name: backout-creds" "$0" && ! grep -q "^kind: Secret" "$0"' "$work/existing.yaml"
	fi
else
	skip "helm lint / helm template" "helm not installed and Debian has no helm package; set BACKOUT_CHECK_HELM_FROM_SOURCE=1 to build it from the Go module (values are still checked by go test TestHelmValues)"
fi

echo "== Kubernetes schema validation"
if have_tool kubeconform kubeconform; then
	run "kubeconform deploy/kubernetes" kubeconform -strict -summary deploy/kubernetes/
elif have_tool kubeval kubeval; then
	run "kubeval deploy/kubernetes" kubeval --strict deploy/kubernetes/*.yaml
else
	skip "kubeconform/kubeval" "neither is installed nor packaged in Debian (and both fetch schemas from the internet); go test checks the fields Backout depends on"
fi

echo "== YAML syntax"
if command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; then
	run "every YAML file under deploy/ parses (PyYAML)" python3 - <<'PY'
import pathlib, sys, yaml
bad = 0
for p in sorted(pathlib.Path("deploy").rglob("*")):
    if "templates" in p.parts or not (p.name.endswith((".yaml", ".yml", ".yaml.example"))):
        continue
    try:
        list(yaml.safe_load_all(p.read_text()))
    except yaml.YAMLError as e:
        print(f"{p}: {e}")
        bad += 1
sys.exit(bad)
PY
else
	skip "PyYAML parse" "python3 with PyYAML not available; go test TestYAMLFilesParse parsed them"
fi

echo
echo "Checked (${#checked[@]}):"
for c in "${checked[@]}"; do echo "  - $c"; done
echo "Skipped (${#skipped[@]}):"
for s in "${skipped[@]+"${skipped[@]}"}"; do echo "  - $s"; done
if ((${#failed[@]} > 0)); then
	echo "FAILED (${#failed[@]}):"
	for f in "${failed[@]}"; do echo "  - $f"; done
	echo "deploy/check.sh: ${#checked[@]} passed, ${#failed[@]} failed"
	exit 1
fi
echo "deploy/check.sh: ${#checked[@]} passed, 0 failed, ${#skipped[@]} skipped"
