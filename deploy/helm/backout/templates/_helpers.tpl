{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "backout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release already names the chart. */}}
{{- define "backout.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "backout.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "backout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "backout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "backout.labels" -}}
helm.sh/chart: {{ include "backout.chart" . }}
{{ include "backout.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "backout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "backout.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the credentials come from: an existing one, or the chart's. */}}
{{- define "backout.secretName" -}}
{{- default (include "backout.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The environment variables Backout reads its credentials from (internal/config.SecretEnvVars). */}}
{{- define "backout.secretEnvVars" -}}
{{- $vars := list "SLACK_BOT_TOKEN" "SLACK_SIGNING_SECRET" "SLACK_APP_TOKEN" "PAGERDUTY_TOKEN" "PAGERDUTY_WEBHOOK_SECRET" "BACKOUT_API_TOKEN" "REDIS_PASSWORD" "ALERTMANAGER_TOKEN" "ALERTMANAGER_BASIC_AUTH" "BACKOUT_AUDIT_KEY" }}
{{- concat $vars (.Values.secrets.extraEnvVars | default list) | uniq | toJson }}
{{- end }}

{{/*
Refuses values that would deploy a broken bot. Every template that depends on
them includes this, so `helm template` and `helm install` both stop with the
reason.
*/}}
{{- define "backout.validate" -}}
{{- $kind := .Values.store.kind }}
{{- if not (has $kind (list "redis" "bolt")) }}
{{- fail (printf "store.kind %q is not supported: use redis or bolt" $kind) }}
{{- end }}
{{- if and (eq $kind "bolt") (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount=%d needs store.kind=redis: the bolt store is a file owned by one process and cannot be shared between replicas (set replicaCount=1 or store.kind=redis)" (int .Values.replicaCount)) }}
{{- end }}
{{- if and (eq $kind "redis") (not .Values.store.redis.url) }}
{{- fail "store.kind=redis needs store.redis.url (e.g. redis://backout-redis:6379/0)" }}
{{- end }}
{{- range $key := list "store" "listen" "runbooks" }}
{{- if hasKey ($.Values.config | default dict) $key }}
{{- fail (printf "config.%s is set by the chart: use the chart's values (store, containerPort, runbooks) instead" $key) }}
{{- end }}
{{- end }}
{{- $known := include "backout.secretEnvVars" . | fromJsonArray }}
{{- range $key, $_ := .Values.secrets.values }}
{{- if not (has $key $known) }}
{{- fail (printf "secrets.values.%s is not a variable Backout reads: use one of %s, or list it in secrets.extraEnvVars" $key (join ", " $known)) }}
{{- end }}
{{- end }}
{{- if not (has (.Values.image.flavor | default "auto") (list "auto" "minimal" "tools")) }}
{{- fail (printf "image.flavor %q is not one of auto, minimal, tools" .Values.image.flavor) }}
{{- end }}
{{- range $file, $_ := .Values.runbooks }}
{{- if not (or (hasSuffix ".yaml" $file) (hasSuffix ".yml" $file)) }}
{{- fail (printf "runbooks.%s: runbook file names must end in .yaml or .yml (Backout ignores other files)" $file) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The image flavour: image.flavor, or for auto, tools when a runbook given to
the chart uses an executor that needs a program the minimal image lacks.
A match in a comment also picks tools: the bigger image is the safe mistake.
*/}}
{{- define "backout.imageFlavor" -}}
{{- $flavor := .Values.image.flavor | default "auto" }}
{{- if eq $flavor "auto" }}
{{- $flavor = "minimal" }}
{{- range $file, $content := .Values.runbooks }}
{{- $text := kindIs "string" $content | ternary $content (toYaml $content) }}
{{- if regexMatch `uses:[ \t]*["']?(kubectl|helm|shell|plugin)\b` $text }}
{{- $flavor = "tools" }}
{{- end }}
{{- end }}
{{- end }}
{{- $flavor }}
{{- end }}

{{/* The image reference: repository:tag plus the flavour's suffix. */}}
{{- define "backout.image" -}}
{{- $flavor := include "backout.imageFlavor" . }}
{{- $suffix := index (.Values.image.tagSuffix | default dict) $flavor | default "" }}
{{- printf "%s:%s%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) $suffix }}
{{- end }}

{{/* bot.yaml: the user's config plus the keys the chart owns. */}}
{{- define "backout.botConfig" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $_ := set $cfg "listen" (printf ":%d" (int .Values.containerPort)) }}
{{- $_ = set $cfg "runbooks" "/etc/backout/runbooks" }}
{{- if eq .Values.store.kind "redis" }}
{{- $_ = set $cfg "store" (dict "kind" "redis" "url" .Values.store.redis.url "prefix" .Values.store.redis.prefix) }}
{{- else }}
{{- $_ = set $cfg "store" (dict "kind" "bolt" "path" "/var/lib/backout/backout.db") }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
Seconds in a bot.yaml duration (10m, 1h30m, 90s, 7d, 0): whole s, m, h and d
units only, which is what the chart can add up. Takes a dict: key (for the
error) and value.
*/}}
{{- define "backout.durationSeconds" -}}
{{- $raw := toString .value -}}
{{- if not (regexMatch "^(0|([0-9]+[smhd])+)$" $raw) -}}
{{- fail (printf "config.engine.%s %q: the chart derives terminationGracePeriodSeconds from it and reads whole s, m, h and d units only (e.g. 10m, 1h30m)" .key $raw) -}}
{{- end -}}
{{- $unit := dict "s" 1 "m" 60 "h" 3600 "d" 86400 -}}
{{- $total := 0 -}}
{{- range $part := regexFindAll "[0-9]+[smhd]" $raw -1 -}}
{{- $n := regexReplaceAll "[smhd]$" $part "" | atoi -}}
{{- $total = add $total (mul $n (get $unit (regexReplaceAll "^[0-9]+" $part ""))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
The pod's terminationGracePeriodSeconds follows bot.yaml: after SIGTERM
Backout lets non-idempotent steps finish for engine.shutdown_grace (default
10m), then stops the rest (SIGTERM, SIGKILL after engine.kill_grace, default
5s), all the while still serving Slack and the API (Abort works); then
terminationGraceMarginSeconds covers handing rollbacks on and stopping:
requests in flight, Slack's accepted work and the last chat updates.
*/}}
{{- define "backout.terminationGracePeriodSeconds" -}}
{{- $engine := dig "engine" (dict) (.Values.config | default dict) -}}
{{- $grace := include "backout.durationSeconds" (dict "key" "shutdown_grace" "value" (dig "shutdown_grace" "10m" $engine)) | int -}}
{{- $kill := include "backout.durationSeconds" (dict "key" "kill_grace" "value" (dig "kill_grace" "5s" $engine)) | int -}}
{{- add $grace $kill (int .Values.terminationGraceMarginSeconds) -}}
{{- end -}}
