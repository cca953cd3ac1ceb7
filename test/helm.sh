#!/usr/bin/env bash
# The Helm chart (deploy/helm/release-gatekeeper): `helm lint`, then
# `helm template` with the default values (the bundled Redis), with an
# external Redis (ci/external-redis-values.yaml), with a policy override and
# with values that must be refused, asserting on what is rendered. Also
# checks that the chart's copy of the policy folder (files/policies, made by
# `make chart-policies`) is exactly policies/, less its *.md.
#
# helm is used from PATH when it is the pinned version, else built once with
# `go install` (a few minutes the first time) into HELM_TOOLS, a cache that
# outlives `make clean`.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
CHART=deploy/helm/release-gatekeeper
RELEASE=rg
HELM_TOOLS=${HELM_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/release-gatekeeper/helm-$HELM_VERSION}

fail() { echo "helm chart: $*" >&2; exit 1; }

# --- helm at the pinned version
# helm_version BIN: its version, from `helm version`, or for a binary built by
# go install without -X, from the module version Go recorded in it.
helm_version() {
  local v
  v=$("$1" version --template '{{.Version}}' 2>/dev/null || true)
  if [ "$v" != "$HELM_VERSION" ] && [ -x "$1" ]; then
    v=$(go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "helm.sh/helm/v3" { print $3 }')
  fi
  echo "$v"
}
HELM=$(command -v helm || true)
if [ -z "$HELM" ] || [ "$(helm_version "$HELM")" != "$HELM_VERSION" ]; then
  HELM=$HELM_TOOLS/helm
  if [ "$(helm_version "$HELM")" != "$HELM_VERSION" ]; then
    echo "building helm $HELM_VERSION with go install into $HELM_TOOLS (minutes, once)" >&2
    mkdir -p "$HELM_TOOLS"
    # Outside this module, with none of the caller's GOFLAGS (-race, -mod=vendor
    # and the like would break or slow an install at a version); static and stripped.
    (cd / && GOBIN=$HELM_TOOLS GOFLAGS=-trimpath CGO_ENABLED=0 \
      go install -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  fi
fi
[ "$(helm_version "$HELM")" = "$HELM_VERSION" ] || fail "no helm $HELM_VERSION at $HELM"
echo "helm $HELM_VERSION: $HELM"
# No repositories, plugins or caches of the user's own are read or written.
export HELM_CONFIG_HOME HELM_CACHE_HOME HELM_DATA_HOME
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
HELM_CONFIG_HOME=$tmp/config HELM_CACHE_HOME=$tmp/cache HELM_DATA_HOME=$tmp/data

# --- the chart's copy of policies/
copy=$CHART/files/policies
if ! diff -r --exclude='*.md' policies "$copy" >"$tmp/drift"; then
  cat "$tmp/drift" >&2
  fail "$copy differs from policies/: run \`make chart-policies\` and commit the copy"
fi

# --- assertions on rendered YAML
# doc FILE KIND NAME: the one rendered document of that kind and name.
doc() {
  awk -v kind="$2" -v name="$3" '
    function flush() { if (k && n) printf "%s", buf; buf = ""; k = 0; n = 0; meta = 0; named = 0 }
    /^---/ { flush(); next }
    { buf = buf $0 "\n" }
    $0 == "kind: " kind { k = 1 }
    /^metadata:/ { meta = 1; next }
    /^[^ ]/ { meta = 0 }
    meta && !named && /^  name: / { named = 1; if ($2 == name) n = 1 }
    END { flush() }' <<<"$1"
}
# has TEXT REGEX WHAT: TEXT must have a line matching REGEX.
has() { grep -Eq -- "$2" <<<"$1" || fail "$3: no line matching /$2/"; }
hasnt() { if grep -Eq -- "$2" <<<"$1"; then fail "$3: a line matches /$2/"; fi; }
# env_value DOC NAME: the value of the container's environment variable NAME.
env_value() { grep -A1 -E -- "^ +- name: $2\$" <<<"$1" | sed -n 's/^ *value: //p' | tr -d '"'; }
# secret_ref DOC NAME SECRET KEY: NAME comes from key KEY of Secret SECRET.
secret_ref() {
  local got
  got=$(grep -A4 -E -- "^ +- name: $2\$" <<<"$1" | tail -n +2 | tr -d ' \n')
  [ "$got" = "valueFrom:secretKeyRef:name:$3key:$4" ] ||
    fail "$2 is not from Secret $3 key $4: got '$got'"
}
# block DOC KEY N: the N lines after the first line "KEY:".
block() { grep -A"$3" -E -- "^ +$2:\$" <<<"$1" | head -n $(($3 + 1)); }
# digest DIR: what the ConfigMap's policy-files-sha256 annotation is for the
# files of DIR (less *.md): each name, a newline, the content, in name order.
digest() {
  (cd "$1" && for f in $(ls | LC_ALL=C sort); do
    case $f in *.md) continue ;; esac
    printf '%s\n' "$f"; cat "$f"
  done) | sha256sum | cut -d' ' -f1
}

# cm_file DOC NAME: the content of the ConfigMap's literal block NAME ("|2",
# "|2-" or "|2+"), its final line breaks as the chomping indicator says.
cm_file() {
  awk -v key="$2" '
    /^data:/ { data = 1; next }
    data && /^  [^ ]/ {
      on = index($0, "  " key ": |2") == 1
      if (on) { found = 1; chomp = substr($0, length("  " key ": |2") + 1) }
      next
    }
    data && on { sub(/^    /, ""); lines[++n] = $0 }
    END {
      if (!found) exit 1
      if (chomp != "+") while (n > 0 && lines[n] == "") n--
      for (i = 1; i <= n; i++) printf "%s%s", lines[i], (i < n || chomp != "-") ? "\n" : ""
    }' <<<"$1"
}

render() { # render OUT ARGS...: helm template into $tmp/OUT.yaml
  local out=$1; shift
  "$HELM" template "$RELEASE" "$CHART" "$@" >"$tmp/$out.yaml" 2>"$tmp/$out.err" ||
    { cat "$tmp/$out.err" >&2; fail "helm template $* failed"; }
}
refused() { # refused REGEX ARGS...: helm template must fail, saying REGEX
  local want=$1; shift
  if "$HELM" template "$RELEASE" "$CHART" "$@" >/dev/null 2>"$tmp/refused.err"; then
    fail "helm template $* rendered; it must be refused ($want)"
  fi
  grep -Eq -- "$want" "$tmp/refused.err" || { cat "$tmp/refused.err" >&2; fail "helm template $* failed without saying /$want/"; }
}

# The policy folder the image reads (Dockerfile ENV), where the ConfigMap goes.
image_policies=$(sed -nE 's/.*GATEKEEPER_POLICIES=([^ ]+).*/\1/p' Dockerfile)
[ -n "$image_policies" ] || fail "Dockerfile sets no GATEKEEPER_POLICIES"

echo "helm lint (default values, then external Redis)"
"$HELM" lint --strict --with-subcharts "$CHART"
"$HELM" lint --strict --with-subcharts "$CHART" -f "$CHART/ci/external-redis-values.yaml"

# What every rendering must hold: two non-root replicas on a read-only root,
# probes, the PDB, the policy ConfigMap at the image's policy folder.
common() {
  local all=$1 dep cm pdb cmname
  dep=$(doc "$all" Deployment "$RELEASE-release-gatekeeper")
  [ -n "$dep" ] || fail "no Deployment $RELEASE-release-gatekeeper"
  has "$dep" '^  replicas: 2$' "Deployment replicas"
  has "$(block "$dep" livenessProbe 3)" 'path: /healthz$' "liveness probe"
  has "$(block "$dep" readinessProbe 3)" 'path: /readyz$' "readiness probe"
  has "$(block "$dep" startupProbe 3)" 'path: /healthz$' "startup probe"
  [ "$(grep -Ec '^ +runAsNonRoot: true$' <<<"$dep")" = 2 ] || fail "runAsNonRoot: true not on both pod and container"
  has "$dep" '^ +runAsUser: 65532$' "pod user (the image's nonroot)"
  has "$dep" '^ +readOnlyRootFilesystem: true$' "read-only root filesystem"
  has "$dep" '^ +allowPrivilegeEscalation: false$' "no privilege escalation"
  has "$(block "$dep" capabilities 2)" '- ALL$' "capabilities dropped"
  has "$(block "$dep" requests 2)" 'cpu: ' "resource requests"
  has "$(block "$dep" limits 1)" 'memory: ' "memory limit"
  has "$dep" '^ +automountServiceAccountToken: false$' "no service account token"
  has "$dep" '^ +enableServiceLinks: false$' "no service link variables"
  # /tmp, the one writable place, is an emptyDir.
  has "$(grep -B1 -A0 'mountPath: /tmp$' <<<"$dep")" 'name: tmp$' "the /tmp mount"
  has "$(grep -A1 -E '^ +- name: tmp$' <<<"$dep")" 'emptyDir:' "the tmp volume"
  [ "$(env_value "$dep" GATEKEEPER_POLICIES)" = "$image_policies" ] || fail "GATEKEEPER_POLICIES is not the image's $image_policies"
  has "$(grep -B1 -A1 "mountPath: $image_policies\$" <<<"$dep")" 'name: policies$' "policy volume mounted at $image_policies"
  hasnt "$dep" '^ +subPath:' "a subPath mount (never updated when the ConfigMap changes)"
  cmname=$(grep -A2 -E '^ +- name: policies$' <<<"$dep" | sed -n 's/^ *name: //p' | tail -1)
  [ -n "$cmname" ] || fail "the policies volume names no ConfigMap"
  has "$(grep -A1 -E '^ +- name: policies$' <<<"$dep" | tail -1)" 'configMap:$' "the policies volume is a ConfigMap"
  secret_ref "$dep" GATEKEEPER_WEBHOOK_SECRET "$2" "$3"
  has "$(block "$(doc "$all" Service "$RELEASE-release-gatekeeper")" ports 3)" 'targetPort: http$' "Service to the http port"
  pdb=$(doc "$all" PodDisruptionBudget "$RELEASE-release-gatekeeper")
  has "$pdb" '^  maxUnavailable: 1$' "PodDisruptionBudget"
  has "$pdb" "app.kubernetes.io/instance: $RELEASE\$" "PodDisruptionBudget selector"
  hasnt "$all" '^kind: Secret$' "a Secret rendered (secrets are by reference only)"
  echo "$cmname"
}

echo "helm template: default values (bundled Redis)"
render default
all=$(cat "$tmp/default.yaml")
cmname=$(common "$all" release-gatekeeper webhook-secret)
dep=$(doc "$all" Deployment "$RELEASE-release-gatekeeper")
[ "$(env_value "$dep" GATEKEEPER_STORE)" = "redis://$RELEASE-redis:6379/0" ] || fail "GATEKEEPER_STORE is not the bundled Redis: $(env_value "$dep" GATEKEEPER_STORE)"
secret_ref "$dep" REDIS_PASSWORD release-gatekeeper redis-password
hasnt "$dep" 'name: GITHUB_TOKEN$' "GITHUB_TOKEN with no key given"
hasnt "$all" '^kind: Ingress$' "an Ingress by default"
cm=$(doc "$all" ConfigMap "$cmname")
[ -n "$cm" ] || fail "no ConfigMap $cmname, which the policies volume names"
# Each file of policies/ renders as a literal block holding its exact bytes.
for f in policies/*; do
  case $f in *.md) continue ;; esac
  cm_file "$cm" "$(basename "$f")" >"$tmp/rendered"
  cmp -s "$tmp/rendered" "$f" || { diff "$tmp/rendered" "$f" | head >&2; fail "ConfigMap's $(basename "$f") is not $f"; }
done
want=$(digest policies)
has "$cm" "policy-files-sha256: $want\$" "ConfigMap content is policies/ byte for byte"
redis=$(doc "$all" StatefulSet "$RELEASE-redis")
[ -n "$redis" ] || fail "no bundled Redis StatefulSet $RELEASE-redis"
has "$redis" 'appendonly yes' "Redis append-only file"
has "$redis" 'appendfsync always' "Redis fsync on every write"
hasnt "$redis" 'requirepass +\$|--requirepass' "password on Redis' command line"
secret_ref "$redis" REDIS_PASSWORD release-gatekeeper redis-password
has "$redis" '^ +readOnlyRootFilesystem: true$' "Redis read-only root"
has "$redis" '^ +runAsNonRoot: true$' "Redis non-root"
has "$(block "$redis" volumeClaimTemplates 6)" 'name: data$' "Redis volume claim"
has "$(doc "$all" Service "$RELEASE-redis")" 'port: 6379$' "Redis Service"

# The bundled Redis' start command, run for real when redis-server is here
# (make test installs it for the Redis store's tests): it must start with a
# password full of quotes and backslashes, ask every client for it, fsync
# every write, and keep the password off its command line.
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  echo "running the bundled Redis' start command with redis-server"
  # The literal (|) argument after "sh -c", its indentation removed.
  start=$(awk '/^ +- \|$/ { on = 1; next } on && /^ +[a-zA-Z]+:/ { exit } on { sub(/^              /, ""); print }' <<<"$redis")
  has "$start" "--dir /data " "Redis data folder"
  mkdir -p "$tmp/redis"
  sock=$tmp/redis/redis.sock
  # A Unix socket instead of TCP: no port to find free or collide on.
  start=${start//--dir \/data/--dir $tmp/redis}
  start=${start//--port 6379/--port 0 --unixsocket $sock}
  password=$'p "w\\x\'$\n'
  REDIS_PASSWORD=$password sh -c "$start" >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  trap 'kill "$redis_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
  for _ in $(seq 50); do REDISCLI_AUTH=$password redis-cli -s "$sock" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  REDISCLI_AUTH=$password redis-cli -s "$sock" ping 2>/dev/null | grep -q PONG || { cat "$tmp/redis.log" >&2; fail "bundled Redis did not start, or refuses its password"; }
  if REDISCLI_AUTH=wrong redis-cli -s "$sock" ping 2>/dev/null | grep -q PONG; then fail "bundled Redis takes a wrong password"; fi
  [ "$(REDISCLI_AUTH=$password redis-cli -s "$sock" config get appendfsync | tail -1)" = always ] || fail "bundled Redis does not fsync every write"
  # exec: the shell became redis-server, which holds no password in its arguments.
  args=$(ps -o args= -p "$redis_pid")
  has "$args" '^redis-server' "redis-server as the container's first process (exec)"
  hasnt "$args" 'requirepass|p "w' "the password on Redis' command line"
  kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
else
  echo "redis-server not installed: the bundled Redis' start command was not run"
fi

echo "helm template: external Redis, every secret by reference"
render external -f "$CHART/ci/external-redis-values.yaml"
all=$(cat "$tmp/external.yaml")
cmname=$(common "$all" gatekeeper-github webhook-secret)
dep=$(doc "$all" Deployment "$RELEASE-release-gatekeeper")
[ "$(env_value "$dep" GATEKEEPER_STORE)" = "rediss://redis.example.internal:6380/2" ] || fail "GATEKEEPER_STORE is not the external Redis"
secret_ref "$dep" REDIS_PASSWORD gatekeeper-redis password
secret_ref "$dep" GITHUB_TOKEN gatekeeper-github token
secret_ref "$dep" GATEKEEPER_JENKINS_TOKEN gatekeeper-jenkins notify-token
secret_ref "$dep" JENKINS_API_TOKEN gatekeeper-jenkins api-token
secret_ref "$dep" GITHUB_OAUTH_CLIENT_SECRET gatekeeper-oauth client-secret
secret_ref "$dep" GATEKEEPER_SESSION_KEY gatekeeper-oauth session-key
[ "$(env_value "$dep" GATEKEEPER_PUBLIC_URL)" = "https://gatekeeper.example.com" ] || fail "GATEKEEPER_PUBLIC_URL not set from env"
ing=$(doc "$all" Ingress "$RELEASE-release-gatekeeper")
has "$ing" 'host: "gatekeeper.example.com"$' "Ingress host"
has "$ing" 'secretName: gatekeeper-tls$' "Ingress TLS"
has "$(block "$ing" service 3)" "name: $RELEASE-release-gatekeeper\$" "Ingress to the Service"
hasnt "$all" '^kind: StatefulSet$' "a bundled Redis with redis.enabled=false"
[ -z "$(doc "$all" Service "$RELEASE-redis")" ] || fail "a bundled Redis Service with redis.enabled=false"

echo "helm template: a release manager's policy change as a chart value"
# The override's bytes must come through as they are: one without a final
# newline, one with two, one that starts with spaces.
printf 'release:\n  coverage:\n    min: 90' >"$tmp/data.yaml"
printf '  {"extra": true}\n\n' >"$tmp/extra.json"
render override --set-file "policies.files.data\.yaml=$tmp/data.yaml" --set-file "policies.files.extra\.json=$tmp/extra.json"
cm=$(doc "$(cat "$tmp/override.yaml")" ConfigMap "$cmname")
cm_file "$cm" data.yaml | cmp -s - "$tmp/data.yaml" || fail "policies.files.data.yaml did not replace data.yaml"
cm_file "$cm" extra.json | cmp -s - "$tmp/extra.json" || fail "policies.files.extra.json is not as given"
cm_file "$cm" decision.rego | cmp -s - policies/decision.rego || fail "policies.files.data.yaml changed decision.rego"
hasnt "$cm" "policy-files-sha256: $want\$" "the override left the digest unchanged"
mkdir -p "$tmp/expected" && cp "$copy"/* "$tmp/expected/" && cp "$tmp/data.yaml" "$tmp/extra.json" "$tmp/expected/"
has "$cm" "policy-files-sha256: $(digest "$tmp/expected")\$" "the chart's copy with data.yaml replaced"
echo "helm template: an Ingress host is the public URL unless env names one"
render ingress --set ingress.enabled=true --set ingress.host=gk.example.com
[ "$(env_value "$(doc "$(cat "$tmp/ingress.yaml")" Deployment "$RELEASE-release-gatekeeper")" GATEKEEPER_PUBLIC_URL)" = https://gk.example.com ] ||
  fail "GATEKEEPER_PUBLIC_URL is not https://<ingress.host> when only the Ingress names it"
render existing --set policies.existingConfigMap=team-policies
hasnt "$(cat "$tmp/existing.yaml")" '^kind: ConfigMap$' "the chart's ConfigMap beside an existing one"
has "$(grep -A2 -E '^ +- name: policies$' "$tmp/existing.yaml")" 'name: team-policies$' "existing ConfigMap mounted"

echo "helm template: settings that must be refused"
refused 'no store' --set redis.enabled=false
refused 'both set' --set externalRedis.url=redis://r:6379/0
refused 'not redis://' --set redis.enabled=false --set 'externalRedis.url=redis://:hunter2@r:6379/0'
refused 'webhook secret' --set secrets.GATEKEEPER_WEBHOOK_SECRET.key=
refused 'set by the chart' --set env.GATEKEEPER_STORE=bolt:///tmp/x.db
refused 'replicaCount' --set replicaCount=two
refused 'nmae' --set secrets.GITHUB_TOKEN.nmae=gh
refused "properties 'ur' not allowed" --set externalRedis.ur=redis://r:6379/0
refused 'not a plain file name' --set-file "policies.files.a/b\.rego=$tmp/data.yaml"

echo "helm chart: ok"
