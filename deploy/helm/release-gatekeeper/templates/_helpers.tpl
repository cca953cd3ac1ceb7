{{- define "release-gatekeeper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "release-gatekeeper.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "release-gatekeeper.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "release-gatekeeper.selectorLabels" . }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "release-gatekeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "release-gatekeeper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "release-gatekeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "release-gatekeeper.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "release-gatekeeper.policiesConfigMap" -}}
{{- default (printf "%s-policies" (include "release-gatekeeper.fullname" .)) .Values.policies.existingConfigMap -}}
{{- end -}}

{{/*
GATEKEEPER_STORE. Exactly one of the bundled Redis and an external one:
two replicas cannot share the embedded bbolt file, so there is no third way.
The bundled Redis' Service is <release>-redis (charts/redis).
*/}}
{{- define "release-gatekeeper.store" -}}
{{- $external := .Values.externalRedis.url -}}
{{- if and .Values.redis.enabled $external -}}
{{- fail "redis.enabled and externalRedis.url are both set: use the bundled Redis or your own, not both (--set redis.enabled=false with externalRedis.url)" -}}
{{- else if .Values.redis.enabled -}}
{{- printf "redis://%s-redis:6379/0" .Release.Name -}}
{{- else if not $external -}}
{{- fail "no store: set externalRedis.url (redis://host:port/db or rediss://...) or redis.enabled=true; replicas cannot share the embedded bbolt file" -}}
{{- else if not (regexMatch "^rediss?://[^/@]+(/[0-9]+)?$" $external) -}}
{{- fail (printf "externalRedis.url %q is not redis://host:port/db or rediss://host:port/db (give the password as externalRedis.password, not in the URL)" $external) -}}
{{- else -}}
{{- $external -}}
{{- end -}}
{{- end -}}

{{/*
The Secret reference of REDIS_PASSWORD as {name, key}, or empty keys for none.
*/}}
{{- define "release-gatekeeper.redisPassword" -}}
{{- if .Values.redis.enabled -}}
{{- dict "name" .Values.redis.auth.existingSecret "key" .Values.redis.auth.existingSecretKey | toJson -}}
{{- else -}}
{{- dict "name" (default .Values.existingSecret .Values.externalRedis.password.name) "key" .Values.externalRedis.password.key | toJson -}}
{{- end -}}
{{- end -}}

{{/*
sha256 of a dict of file name to content: for each name in byte order, the
name, a newline, then the content. test/helm.sh computes the same over
policies/ to prove the rendered ConfigMap holds exactly those files.
*/}}
{{- define "release-gatekeeper.filesDigest" -}}
{{- $all := "" -}}
{{- range $name, $content := . -}}
{{- $all = printf "%s%s\n%s" $all $name $content -}}
{{- end -}}
{{- sha256sum $all -}}
{{- end -}}
