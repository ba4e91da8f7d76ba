#!/usr/bin/env bash
# Validates the deployment files offline, with real tools:
#   - systemd units:  `systemd-analyze verify` (every warning is an error) and
#                     `systemd-analyze security --offline` (exposure at most 2.0)
#   - Kubernetes:     both variants (deploy/kubernetes: SQLite; .../postgres:
#                     PostgreSQL): `kubernetes-validate --strict` against the
#                     Kubernetes 1.37 JSON schemas it ships (PyPI, installed
#                     into .venv), then cross-references the schemas cannot see
#                     (names, mounts, ports, security context, versions,
#                     replicas, who builds, --serve with the pages' Service,
#                     [serve] public_url where the example Ingress publishes
#                     it); `kubectl kustomize` too where kubectl is installed
#   - Containerfile:  parsed and checked (hadolint is not in a package registry)
#   - publiccode.yml: YAML and the rules of publiccode.yml 0.4; LICENSE is the
#                     verbatim EUPL-1.2 text
#   - Prometheus:     `promtool check rules` on the alert example (promtool taken
#                     out of Debian's `prometheus` package, which is not
#                     installed: it is a whole server); also its structure, and
#                     that every metric it names is one postbode exports
#   - reverse proxy:  `nginx -t` on deploy/proxy/nginx.conf included in a server
#                     block, `caddy validate` on deploy/proxy/Caddyfile, where
#                     they are installed (.ci/run installs both; the test
#                     tests/it/reverse_proxy.rs runs them in front of postbode)
# Installs what it needs on a fresh Debian machine (apt-get, pip). Exit 0 when
# everything passes, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=1.37.0
# kubernetes-validate ships the schemas; pinned with its dependencies.
PY_TOOLS=(
  kubernetes-validate==1.37.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1
  referencing==0.37.0 rpds-py==2026.9.1 PyYAML==6.0.4 packaging==26.4
  importlib_resources==7.1.0 typing_extensions==4.16.0
)

# ---- tools -------------------------------------------------------------------
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v systemd-analyze >/dev/null || apt_install systemd
if [ ! -x .venv/bin/python ]; then
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  python3 -m venv .venv
fi
# `python -m pip`, not .venv/bin/pip: a .venv copied from another checkout keeps
# that checkout's path in its scripts' first line, and would install there.
if [ "$(.venv/bin/kubernetes-validate --version 2>/dev/null)" != "$K8S_VERSION" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "${PY_TOOLS[@]}"
fi

failed=0
fail() {
  echo "deploy/check.sh: $*" >&2
  failed=1
}

# ---- systemd -----------------------------------------------------------------
# `verify` needs every ExecStart binary to exist and every unit the units pull
# in (sysinit.target, ...). So: a scratch root with a stub /usr/local/bin/postbode,
# the system's own unit files, and our units in /etc/systemd/system, and
# `--root` pointing at it. (A unit given by a path outside --root is not found;
# one given by a path inside it is loaded from there.) verify exits 0 on
# warnings such as an unknown key or a value it cannot parse, so any output
# counts as a failure.
echo "-- systemd units"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/bin/postbode"
chmod 0755 "$root/usr/local/bin/postbode"
units=/usr/lib/systemd/system
[ -d "$units" ] || units=/lib/systemd/system
cp -a "$units" "$root/usr/lib/systemd/"
cp deploy/systemd/*.service deploy/systemd/*.timer "$root/etc/systemd/system/"
for unit in deploy/systemd/*.service deploy/systemd/*.timer; do
  name=$(basename "$unit")
  if ! out=$(systemd-analyze verify --root="$root" "$root/etc/systemd/system/$name" 2>&1) || [ -n "$out" ]; then
    fail "systemd-analyze verify $unit (and the units it loads):"
    printf '%s\n' "$out" >&2
  fi
done
for unit in deploy/systemd/*.service; do
  name=$(basename "$unit")
  if ! out=$(systemd-analyze security --offline=yes --root="$root" --threshold=20 \
    "$root/etc/systemd/system/$name" 2>&1); then
    fail "systemd-analyze security $unit: exposure above 2.0"
    printf '%s\n' "$out" | grep -E '^✗|Overall' >&2 || true
  fi
done
# What verify cannot tell: that the hardening asked for is there, and that the
# timer starts an existing unit.
# postbode-serve.service shares the state of the other two (same user, same
# StateDirectory) but writes no feeds.
for unit in deploy/systemd/postbode.service deploy/systemd/postbode-daemon.service deploy/systemd/postbode-serve.service; do
  for setting in 'DynamicUser=yes' 'User=postbode' 'StateDirectory=postbode' 'CacheDirectory=postbode' \
    'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'PrivateDevices=yes' \
    'NoNewPrivileges=yes' 'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' \
    'ProtectKernelLogs=yes' 'ProtectControlGroups=yes' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'RestrictNamespaces=yes' \
    'LockPersonality=yes' 'MemoryDenyWriteExecute=yes' 'SystemCallFilter=@system-service' \
    'SystemCallArchitectures=native' 'CapabilityBoundingSet=' 'UMask=0027' \
    'EnvironmentFile=-/etc/postbode/env' 'Environment=POSTBODE_CACHE_DIR=%C/postbode' \
    'WorkingDirectory=/etc/postbode'; do
    grep -qxF "$setting" "$unit" || fail "$unit: missing $setting"
  done
done
for unit in deploy/systemd/postbode.service deploy/systemd/postbode-daemon.service; do
  grep -qxF 'ReadWritePaths=/var/www/feeds' "$unit" || fail "$unit: missing ReadWritePaths=/var/www/feeds"
done
grep -q '^ReadWritePaths=' deploy/systemd/postbode-serve.service \
  && fail "postbode-serve.service: writes no feeds, needs no ReadWritePaths"
grep -qxF 'ExecStart=/usr/local/bin/postbode run --state %S/postbode/state.db' deploy/systemd/postbode.service \
  || fail "postbode.service: unexpected ExecStart"
# The daemon and postbode-serve.service serve the pages on the same loopback
# port (the one a reverse proxy forwards to), on the state of postbode.service.
grep -qxF 'ExecStart=/usr/local/bin/postbode daemon --every 10m --listen 127.0.0.1:9090 --serve 127.0.0.1:8080' \
  deploy/systemd/postbode-daemon.service || fail "postbode-daemon.service: unexpected ExecStart"
grep -qxF 'ExecStart=/usr/local/bin/postbode serve --listen 127.0.0.1:8080 --state %S/postbode/state.db' \
  deploy/systemd/postbode-serve.service || fail "postbode-serve.service: unexpected ExecStart"
for setting in 'Restart=on-failure' 'TimeoutStopSec=60'; do
  grep -qxF "$setting" deploy/systemd/postbode-daemon.service || fail "postbode-daemon.service: missing $setting"
done
grep -qxF 'Restart=on-failure' deploy/systemd/postbode-serve.service || fail "postbode-serve.service: missing Restart=on-failure"
# The daemon replaces the timer and serves the pages itself: it conflicts with
# all three. postbode-serve.service runs beside the timer: it must not.
conflicts() { sed -n 's/^Conflicts=//p' "$1" | tr ' ' '\n'; }
for other in postbode.timer postbode.service postbode-serve.service; do
  conflicts deploy/systemd/postbode-daemon.service | grep -qxF "$other" \
    || fail "postbode-daemon.service: does not conflict with $other"
done
for other in postbode.timer postbode.service; do
  conflicts deploy/systemd/postbode-serve.service | grep -qxF "$other" \
    && fail "postbode-serve.service: conflicts with $other, beside which it is meant to run"
done
for setting in 'OnCalendar=*:0/10' 'Persistent=true' 'Unit=postbode.service'; do
  grep -qxF "$setting" deploy/systemd/postbode.timer || fail "postbode.timer: missing $setting"
done
grep -qE '^RandomizedDelaySec=[1-9]' deploy/systemd/postbode.timer || fail "postbode.timer: no RandomizedDelaySec"

# ---- Kubernetes: schemas -------------------------------------------------------
# Two variants, each a kustomization of its own files: deploy/kubernetes (SQLite)
# and deploy/kubernetes/postgres (PostgreSQL, several daemon replicas).
echo "-- kubernetes manifests (schemas of Kubernetes $K8S_VERSION, strict)"
kdirs=(deploy/kubernetes deploy/kubernetes/postgres)
manifests=()
for dir in "${kdirs[@]}"; do
  for f in "$dir"/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
  done
done
# --quiet prints only problems; an unknown kind or apiVersion is only a warning
# (exit 0), so any output counts as a failure.
if ! out=$(.venv/bin/kubernetes-validate --strict --quiet -k "$K8S_VERSION" "${manifests[@]}" 2>&1) || [ -n "$out" ]; then
  fail "kubernetes-validate:"
  printf '%s\n' "$out" >&2
fi
# What `kubectl apply -k` would apply, where kubectl is installed. Not required:
# Debian's kubernetes-client is kubectl 1.20, whose kustomize predates the
# `labels` field used here, so the files above and the cross-references below
# are the check everywhere.
if kubectl kustomize --help >/dev/null 2>&1; then
  for dir in "${kdirs[@]}"; do
    rendered="$root/kustomize-$(basename "$dir").yaml"
    if ! out=$(kubectl kustomize "$dir" 2>&1 >"$rendered"); then
      fail "kubectl kustomize $dir:"
      printf '%s\n' "$out" >&2
    elif ! out=$(.venv/bin/kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$rendered" 2>&1) || [ -n "$out" ]; then
      fail "kubernetes-validate of kubectl kustomize $dir:"
      printf '%s\n' "$out" >&2
    fi
  done
else
  echo "   (kubectl not installed: the kustomizations are not rendered)"
fi

# ---- everything else: cross-references and conventions ------------------------
echo "-- kubernetes cross-references, Containerfile, publiccode.yml, LICENSE"
.venv/bin/python - <<'PY' || failed=1
import glob, hashlib, json, os, re, sys, tomllib
import yaml

problems = []
def problem(where, msg):
    problems.append(f"{where}: {msg}")

def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]

with open("Cargo.toml", "rb") as f:
    version = tomllib.load(f)["package"]["version"]
image = f"ghcr.io/developer-overheid-nl/postbode:{version}"

# -- Kubernetes: two variants, each a kustomization of its own files (kustomize
# cannot use a base folder that holds its overlay):
#   deploy/kubernetes           SQLite: one writer (a CronJob running `run`, or
#                               one daemon replica with strategy Recreate)
#   deploy/kubernetes/postgres  PostgreSQL: daemon replicas that only send
#                               (--no-build), a CronJob that only builds
def check_kubernetes(kdir, pg, base=None):
    """Checks one variant; returns its objects by kind and name. `base` (the
    SQLite variant's objects) gives the PostgreSQL one its Secret
    postbode-secrets and the feed definitions it must repeat."""
    docs = {}
    for path in sorted(glob.glob(f"{kdir}/*.yaml")):
        docs[os.path.basename(path)] = load_all(path)

    kust = docs.pop("kustomization.yaml")[0]
    kw = f"{kdir}/kustomization.yaml"
    if kust.get("apiVersion") != "kustomize.config.k8s.io/v1beta1" or kust.get("kind") != "Kustomization":
        problem(kw, "not a kustomize.config.k8s.io/v1beta1 Kustomization")
    resources = kust.get("resources", [])
    for r in resources:
        if r not in docs:
            problem(kw, f"resource {r} does not exist")
        elif r.endswith(".example.yaml"):
            problem(kw, f"{r} is an example, not a resource")
    with open(kw, encoding="utf-8") as f:
        commented = set(re.findall(r"^\s*#\s*-\s*(\S+\.yaml)\s*$", f.read(), re.M))
    for name in docs:
        # *.example.yaml (the Secrets, the Ingress) are yours to adapt, never applied as they are.
        if not name.endswith(".example.yaml") and name not in resources and name not in commented:
            problem(kw, f"{name} is neither a resource nor a commented-out alternative")
    if not kust.get("images"):
        problem(kw, f"no images entry for {image}")
    for img in kust.get("images", []):
        if img.get("name") != image.rsplit(":", 1)[0] or img.get("newTag") != version:
            problem(kw, f"images: expected {image}")

    objects = {}
    for name, ds in docs.items():
        for d in ds:
            where = f"{kdir}/{name}: {d.get('kind')}/{d.get('metadata', {}).get('name')}"
            objects.setdefault(d.get("kind"), {})[d["metadata"]["name"]] = (where, d)
            labels = d.get("metadata", {}).get("labels", {})
            for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of"):
                if key not in labels:
                    problem(where, f"no label {key}")
            if "namespace" in d.get("metadata", {}):
                problem(where, "sets a namespace (leave it to kubectl -n / kustomize)")
            v = labels.get("app.kubernetes.io/version")
            if v is not None and v != version:
                problem(where, f"label app.kubernetes.io/version {v}, Cargo.toml says {version}")

    configmaps = set(objects.get("ConfigMap", {}))
    pvcs = set(objects.get("PersistentVolumeClaim", {}))
    # The Secrets are examples (secret.example.yaml, not applied): a name or
    # key the manifests use must be in one of them. The PostgreSQL variant
    # uses the SQLite variant's postbode-secrets too.
    secret_docs = dict(objects.get("Secret", {}))
    if base is not None:
        for name, v in base.get("Secret", {}).items():
            secret_docs.setdefault(name, v)
    secret_keys = {name: set(d.get("stringData", {})) | set(d.get("data", {})) for name, (_, d) in secret_docs.items()}
    all_secret_keys = set().union(*secret_keys.values()) if secret_keys else set()
    if pg and "postbode-state" in pvcs:
        problem(kdir, "has the SQLite state PVC postbode-state (the state is in PostgreSQL)")

    feeds = []  # (where, definition, git source?, absolute paths) of every feed definition
    for name, (where, cm) in objects.get("ConfigMap", {}).items():
        for key, text in cm.get("data", {}).items():
            if not key.endswith(".toml"):
                problem(where, f"{key}: feed definitions end in .toml")
                continue
            try:
                feed = tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                problem(where, f"{key}: {e}")
                continue
            fw = f"{where}: {key}"
            for k in ("title", "site_url", "source"):
                if k not in feed: problem(fw, f"no {k}")
            src = feed.get("source")
            git = src if isinstance(src, dict) else None
            if git is not None:
                # source = { git = URL, branch = "main", path = "blog" } (src/config.rs RawGit)
                for k in git:
                    if k not in ("git", "branch", "path"): problem(fw, f"source: unknown key {k}")
                url = git.get("git")
                if not isinstance(url, str) or not re.match(r"(https?|ssh|git|file)://\S+$|[\w.-]+@[\w.-]+:\S+$", url):
                    problem(fw, f"source.git {url!r} is not a repository URL")
                elif re.match(r"\w+://[^/@]*:[^/@]*@", url):
                    problem(fw, "source.git has credentials in it (use a credential helper or the Secret)")
                branch = git.get("branch", "main")
                if not isinstance(branch, str) or not branch or branch.startswith("-") or ".." in branch:
                    problem(fw, f"source.branch {branch!r} is not a branch name")
                gpath = git.get("path", "blog")
                if not isinstance(gpath, str) or not gpath or gpath.startswith("/") or ".." in gpath.split("/"):
                    problem(fw, f"source.path {gpath!r} is not a folder inside the repository")
                # Relative to the checkout root; an absolute one would point outside it.
                for k in ("tags_file", "authors_file"):
                    v = feed.get(k)
                    if v is not None and (not isinstance(v, str) or v.startswith("/") or ".." in v.split("/")):
                        problem(fw, f"{k} {v!r} is not a path relative to the repository's root (git source)")
            elif src is not None and not isinstance(src, str):
                problem(fw, "source is neither a path nor a { git = ... } table")
            # Absolute paths in the pod: each must lie on a volume (checked per pod below).
            paths = {}
            for k in ("output", "state", "templates") + (() if git is not None else ("source", "tags_file", "authors_file")):
                if k in feed: paths[k] = feed[k]
            if isinstance(feed.get("subscribers"), str): paths["subscribers"] = feed["subscribers"]
            if isinstance(feed.get("email"), dict) and "outbox" in feed["email"]: paths["email.outbox"] = feed["email"]["outbox"]
            for k, v in paths.items():
                if not isinstance(v, str) or not v.startswith("/"): problem(fw, f"{k} is not an absolute path")
            if not str(feed.get("output", "")).startswith("/var/www/feeds/"): problem(fw, "output is not under /var/www/feeds")
            if pg:
                if "state" in feed:
                    problem(fw, "sets state, which POSTBODE_DATABASE_URL overrides: leave it out")
                # The same definitions as the SQLite variant, less `state`.
                bcm = (base or {}).get("ConfigMap", {}).get(name)
                btext = bcm[1].get("data", {}).get(key) if bcm else None
                if btext is None:
                    problem(fw, "is not in the SQLite variant's ConfigMap of the same name")
                else:
                    bfeed = tomllib.loads(btext)
                    bfeed.pop("state", None)
                    if bfeed != feed:
                        diff = sorted(k for k in set(bfeed) | set(feed) if bfeed.get(k) != feed.get(k))
                        problem(fw, f"differs from the SQLite variant's in {', '.join(diff)} (only state may differ)")
            elif not str(feed.get("state", "")).startswith("/var/lib/postbode/"):
                problem(fw, "state is not under /var/lib/postbode")
            serve = feed.get("serve")
            if serve is not None:
                # [serve] (src/config/serve.rs): an https public_url without
                # query; its secrets from the Secret; sign-ups are confirmed
                # by email; unsubscribe_url would go unused.
                for k in serve:
                    if k not in ("public_url", "secret_env", "webhooks_api_token_env"): problem(fw, f"serve: unknown key {k}")
                url = serve.get("public_url")
                if not isinstance(url, str) or not re.match(r"https://[\w.-]+(:\d+)?(/[^?#\s]*)?$", url):
                    problem(fw, f"serve.public_url {url!r} is not an https URL without query")
                if "secret_env" not in serve:
                    problem(fw, "serve: no secret_env")
                for k in ("secret_env", "webhooks_api_token_env"):
                    if k in serve and serve[k] not in all_secret_keys:
                        problem(fw, f"serve.{k}: {serve[k]} is not in secret.example.yaml")
                if not isinstance(feed.get("email"), dict):
                    problem(fw, "has [serve] but no [email] (the confirmation mails)")
                elif "unsubscribe_url" in feed["email"]:
                    problem(fw, "email.unsubscribe_url is unused with [serve] (emails link to its pages)")
            for sub in feed.get("subscribers", []) if isinstance(feed.get("subscribers"), list) else []:
                for k in ("webhook_env", "secret_env"):
                    if k in sub and sub[k] not in all_secret_keys:
                        problem(fw, f"subscriber {sub.get('id')}: {sub[k]} is not in secret.example.yaml")
            feeds.append((fw, feed, git is not None, paths))

    def check_pod(where, pod, command, expect):
        """Checks a pod spec whose container postbode runs `command`, with the
        mounts `expect` (path -> (volume kind, name, subPath)) and no others
        of a PVC. Returns the postbode container."""
        sc = pod.get("securityContext", {})
        if sc.get("runAsNonRoot") is not True: problem(where, "runAsNonRoot is not true")
        if sc.get("runAsUser") != 10001: problem(where, "runAsUser is not 10001")
        if "fsGroup" not in sc: problem(where, "no fsGroup")
        if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault": problem(where, "seccompProfile is not RuntimeDefault")
        if pod.get("automountServiceAccountToken") is not False: problem(where, "mounts a service account token")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                problem(where, f"volume {v['name']}: no ConfigMap {v['configMap']['name']}")
            if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] not in pvcs:
                problem(where, f"volume {v['name']}: no PersistentVolumeClaim {v['persistentVolumeClaim']['claimName']}")
            if "secret" in v and v["secret"].get("secretName") not in secret_keys:
                problem(where, f"volume {v['name']}: no Secret {v['secret'].get('secretName')} (secret.example.yaml)")
        containers = pod.get("initContainers", []) + pod["containers"]
        used = set()
        for c in containers:
            cw = f"{where} container {c['name']}"
            if c.get("image") != image: problem(cw, f"image is not {image}")
            csc = c.get("securityContext", {})
            if csc.get("readOnlyRootFilesystem") is not True: problem(cw, "readOnlyRootFilesystem is not true")
            if csc.get("allowPrivilegeEscalation") is not False: problem(cw, "allowPrivilegeEscalation is not false")
            if "ALL" not in csc.get("capabilities", {}).get("drop", []): problem(cw, "does not drop ALL capabilities")
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in res.get(kind, {}): problem(cw, f"no {kind}.{r}")
            mount_paths = [m["mountPath"] for m in c.get("volumeMounts", [])]
            if len(mount_paths) != len(set(mount_paths)): problem(cw, "mounts two volumes at one path")
            for m in c.get("volumeMounts", []):
                used.add(m["name"])
                if m["name"] not in volumes: problem(cw, f"mounts undefined volume {m['name']}")
            for e in c.get("envFrom", []):
                ref = e.get("secretRef", {}).get("name")
                if ref is not None and ref not in secret_keys: problem(cw, f"envFrom: no Secret {ref} (secret.example.yaml)")
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                if ref.get("name") not in secret_keys:
                    problem(cw, f"env {e['name']}: no Secret {ref.get('name')} (secret.example.yaml)")
                elif ref.get("key") not in secret_keys[ref["name"]]:
                    problem(cw, f"env {e['name']}: the Secret {ref['name']} has no key {ref.get('key')} (secret.example.yaml)")
        for name in volumes:
            if name not in used: problem(where, f"volume {name} is never mounted")
        main = next((c for c in pod["containers"] if c["name"] == "postbode"), None)
        if main is None:
            problem(where, "no container named postbode")
            return None
        res = main["resources"]
        if (res["requests"].get("cpu"), res["requests"].get("memory"), res["limits"].get("cpu"), res["limits"].get("memory")) != ("100m", "64Mi", "1", "256Mi"):
            problem(where, "postbode resources are not cpu 100m/1, memory 64Mi/256Mi")
        args = main.get("args") or []
        if not args or args[0] != command:
            problem(where, f"postbode does not run `{command}`")
        main_mounts = main.get("volumeMounts", [])
        mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in main_mounts}
        by_path = {m["mountPath"]: m for m in main_mounts}
        for path, (kind, ref, sub) in expect.items():
            v = mounts.get(path)
            if v is None or kind not in v or (ref and ref not in (v[kind].get("name"), v[kind].get("claimName"))):
                problem(where, f"{path} is not the {kind} {ref or ''}".rstrip())
            elif by_path[path].get("subPath") != sub:
                problem(where, f"{path}: subPath is {by_path[path].get('subPath')!r}, expected {sub!r}")
            elif path != "/etc/postbode/feeds" and by_path[path].get("readOnly"):
                problem(where, f"{path} is mounted read-only")
        for path, v in mounts.items():
            if path not in expect and "persistentVolumeClaim" in v:
                problem(where, f"{path}: an unexpected PersistentVolumeClaim {v['persistentVolumeClaim']['claimName']}")
        env = {e["name"]: e for e in main.get("env", [])}
        def mount_of(path):
            """The deepest mount of the postbode container holding path, or None."""
            best = None
            for m in main_mounts:
                mp = m["mountPath"].rstrip("/")
                if (path == mp or path.startswith(mp + "/")) and (best is None or len(mp) > len(best["mountPath"].rstrip("/"))):
                    best = m
            return best
        cache = env.get("POSTBODE_CACHE_DIR", {}).get("value")
        if any(is_git for _, _, is_git, _ in feeds) or pg:
            # git sources clone into POSTBODE_CACHE_DIR, and with a PostgreSQL
            # state the build keeps its manifest and lock there: it must be a
            # writable volume (the root filesystem is read-only).
            m = mount_of(cache) if cache else None
            if not cache:
                problem(where, "postbode has no POSTBODE_CACHE_DIR (git source, or the build's manifest with PostgreSQL)")
            elif m is None or m.get("readOnly"):
                problem(where, f"POSTBODE_CACHE_DIR {cache} is not on a writable volume")
        builds = command in ("build", "run") or (command == "daemon" and "--no-build" not in args)
        for fw, _, _, paths in feeds:
            for k, v in paths.items():
                if not isinstance(v, str) or not v.startswith("/"):
                    continue
                if k == "output" and not builds:
                    continue  # --no-build: this pod writes no feeds
                m = mount_of(v)
                if m is None:
                    problem(where, f"{fw}: {k} {v} is on no volume of the postbode container")
                elif k in ("output", "state", "email.outbox") and m.get("readOnly"):
                    problem(where, f"{fw}: {k} {v} is on the read-only mount {m['mountPath']}")
        if not any(e.get("secretRef", {}).get("name") == "postbode-secrets" for e in main.get("envFrom", [])):
            problem(where, "postbode gets no environment from the Secret postbode-secrets")
        if pg:
            url = env.get("POSTBODE_DATABASE_URL")
            if url is None or "secretKeyRef" not in url.get("valueFrom", {}):
                problem(where, "POSTBODE_DATABASE_URL does not come from a Secret (secretKeyRef)")
            # --state on the command line overrides POSTBODE_DATABASE_URL.
            if any(a == "--state" or a.startswith("--state=") for a in args):
                problem(where, "postbode has --state, which overrides POSTBODE_DATABASE_URL")
        return main

    feeds_mount = {"/etc/postbode/feeds": ("configMap", "postbode-feeds", None), "/tmp": ("emptyDir", None, None)}
    output_mount = {"/var/www/feeds": ("persistentVolumeClaim", "postbode-feeds-output", None)}
    if pg:
        # The daemon replicas share nothing but the database: no PVC. The
        # build keeps its manifest (and the git checkout) on a PVC of its own.
        daemon_mounts = feeds_mount | {"/var/cache/postbode": ("emptyDir", None, None)}
        run_mounts = feeds_mount | output_mount | {"/var/cache/postbode": ("persistentVolumeClaim", "postbode-build-cache", None)}
    else:
        # The git source cache is the folder `cache` on the state volume, so a run
        # fetches into the last checkout instead of cloning again.
        daemon_mounts = run_mounts = feeds_mount | output_mount | {
            "/var/lib/postbode": ("persistentVolumeClaim", "postbode-state", None),
            "/var/cache/postbode": ("persistentVolumeClaim", "postbode-state", "cache")}

    for name, (where, cj) in objects.get("CronJob", {}).items():
        spec = cj["spec"]
        if spec.get("schedule") != "*/10 * * * *": problem(where, "schedule is not every 10 minutes")
        if spec.get("concurrencyPolicy") != "Forbid": problem(where, "concurrencyPolicy is not Forbid")
        for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit"):
            if key not in spec: problem(where, f"no {key}")
        main = check_pod(where, spec["jobTemplate"]["spec"]["template"]["spec"], "build" if pg else "run", run_mounts)
        if pg and main and main.get("args") != ["build"]:
            problem(where, f"postbode runs {main.get('args')}, expected [build] (every feeds/*.toml)")
    if pg and not objects.get("CronJob"):
        problem(kdir, "no CronJob builds the feeds (the daemon replicas run with --no-build)")

    pod_labels = {}
    for name, (where, dep) in objects.get("Deployment", {}).items():
        spec = dep["spec"]
        strategy = spec.get("strategy", {}).get("type")
        if pg:
            if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 2: problem(where, "replicas is less than 2")
            if strategy != "RollingUpdate": problem(where, "strategy is not RollingUpdate")
        else:
            if spec.get("replicas") != 1: problem(where, "replicas is not 1")
            if strategy != "Recreate": problem(where, "strategy is not Recreate")
        tlabels = spec["template"]["metadata"]["labels"]
        for k, v in spec["selector"]["matchLabels"].items():
            if tlabels.get(k) != v: problem(where, f"selector {k}={v} does not match the pod template")
        pod = spec["template"]["spec"]
        main = check_pod(where, pod, "daemon", daemon_mounts)
        if main:
            ports = {p["name"]: p["containerPort"] for p in main.get("ports", [])}
            pod_labels[name] = (tlabels, ports, spec.get("replicas"), main.get("args", []))
            for probe in ("livenessProbe", "readinessProbe"):
                get = main.get(probe, {}).get("httpGet", {})
                port = ports.get(get.get("port"), get.get("port"))
                if get.get("path") != "/healthz" or port != 9090:
                    problem(where, f"{probe} is not GET /healthz on port 9090")
            args = main.get("args", [])
            if "--listen" not in args or not args[args.index("--listen") + 1].endswith(":9090"):
                problem(where, "daemon does not --listen on port 9090")
            if pg and "--no-build" not in args:
                problem(where, "daemon without --no-build: every replica would write the feeds (the CronJob builds them)")
            # --serve ADDR: the subscription pages on the port named http, on
            # the pod's address (the Service and Ingress reach it there); the
            # daemon refuses to start when no definition has a [serve] table.
            if "--serve" in args:
                addr = args[args.index("--serve") + 1] if args.index("--serve") + 1 < len(args) else ""
                host, _, port = addr.rpartition(":")
                if host != "0.0.0.0":
                    problem(where, f"--serve {addr}: not on 0.0.0.0, the Service cannot reach it")
                if not port.isdigit() or ports.get("http") != int(port):
                    problem(where, f"--serve {addr}: no container port named http with that number")
                if not any(isinstance(f.get("serve"), dict) for _, f, _, _ in feeds):
                    problem(where, "--serve, but no feed definition has a [serve] table (the daemon would not start)")
            elif "http" in ports:
                problem(where, "a container port http, but the daemon has no --serve")
        if pg:
            # The replicas on different nodes: a spread constraint or an
            # anti-affinity over kubernetes.io/hostname that selects them.
            def selects(sel):
                return bool(sel.get("matchLabels")) and all(tlabels.get(k) == v for k, v in sel["matchLabels"].items())
            spread = [c for c in pod.get("topologySpreadConstraints", [])
                      if c.get("topologyKey") == "kubernetes.io/hostname" and selects(c.get("labelSelector", {}))]
            anti = pod.get("affinity", {}).get("podAntiAffinity", {})
            terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution", []) + \
                [t.get("podAffinityTerm", {}) for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
            anti = [t for t in terms if t.get("topologyKey") == "kubernetes.io/hostname" and selects(t.get("labelSelector", {}))]
            if not spread and not anti:
                problem(where, "replicas are not spread over nodes (topologySpreadConstraints or podAntiAffinity on kubernetes.io/hostname selecting its pods)")

    for name, (where, pdb) in objects.get("PodDisruptionBudget", {}).items():
        spec = pdb["spec"]
        sel = spec.get("selector", {}).get("matchLabels", {})
        matches = [d for d, (labels, _, _, _) in pod_labels.items() if sel and all(labels.get(k) == v for k, v in sel.items())]
        if not matches:
            problem(where, "selects no pod of a Deployment")
        for d in matches:
            replicas = pod_labels[d][2]
            # A budget that allows no eviction blocks every node drain.
            if "minAvailable" in spec and not (isinstance(spec["minAvailable"], int) and spec["minAvailable"] < replicas):
                problem(where, f"minAvailable {spec['minAvailable']} leaves no pod of Deployment {d} ({replicas} replicas) to evict")
            if "maxUnavailable" in spec and not (isinstance(spec["maxUnavailable"], int) and spec["maxUnavailable"] >= 1):
                problem(where, f"maxUnavailable {spec['maxUnavailable']} allows no eviction")
    if pg and objects.get("Deployment") and not objects.get("PodDisruptionBudget"):
        problem(kdir, "no PodDisruptionBudget for the daemon replicas")

    for name, (where, svc) in objects.get("Service", {}).items():
        sel = svc["spec"]["selector"]
        matches = [d for d, (labels, _, _, _) in pod_labels.items() if all(labels.get(k) == v for k, v in sel.items())]
        if not matches:
            problem(where, "selects no pod of a Deployment")
        for p in svc["spec"]["ports"]:
            for d in matches:
                ports = pod_labels[d][1]
                if p.get("targetPort") not in ports and p.get("targetPort") not in ports.values():
                    problem(where, f"targetPort {p.get('targetPort')} is not a port of Deployment {d}")
                # The pages' port (http) is only open with --serve.
                if p.get("targetPort") in ("http", ports.get("http", "http")) and "--serve" not in pod_labels[d][3]:
                    problem(where, f"targets the pages' port http, but Deployment {d} has no --serve")

    # The Ingress (an example, but it must fit): TLS for every host, each path
    # to an existing Service port, and every [serve] public_url published by
    # it (the links in pages and emails are built on public_url).
    services = objects.get("Service", {})
    published = []  # (host, literal path prefix)
    for name, (where, ing) in objects.get("Ingress", {}).items():
        spec = ing["spec"]
        tls_hosts = {h for t in spec.get("tls", []) for h in t.get("hosts", [])}
        for rule in spec.get("rules", []):
            host = rule.get("host")
            if host not in tls_hosts:
                problem(where, f"host {host}: no TLS (public_url is https)")
            for path in rule.get("http", {}).get("paths", []):
                backend = path.get("backend", {}).get("service", {})
                svc = services.get(backend.get("name"))
                if svc is None:
                    problem(where, f"path {path.get('path')}: no Service {backend.get('name')}")
                    continue
                port = backend.get("port", {})
                if not any(port.get("name") == sp.get("name") if "name" in port else port.get("number") == sp.get("port")
                           for sp in svc[1]["spec"]["ports"]):
                    problem(where, f"path {path.get('path')}: Service {backend.get('name')} has no port {port}")
                published.append((host, re.split(r"[(\[.*+?$^|\\]", path.get("path", "/"))[0].rstrip("/")))
    if objects.get("Ingress"):
        for fw, feed, _, _ in feeds:
            url = (feed.get("serve") or {}).get("public_url")
            m = re.match(r"https://([^/:]+)(?::\d+)?(/[^?#]*)?$", url or "")
            if m and (m.group(1), (m.group(2) or "").rstrip("/")) not in published:
                problem(fw, f"serve.public_url {url} is not where an Ingress publishes the pages")
    return objects

sqlite_objects = check_kubernetes("deploy/kubernetes", pg=False)
check_kubernetes("deploy/kubernetes/postgres", pg=True, base=sqlite_objects)

# -- Containerfile (hadolint is not available: parse it and check what matters)
cf = "deploy/Containerfile"
with open(cf, encoding="utf-8") as f:
    raw = f.read()
instructions, buf = [], ""
for line in raw.splitlines():
    if not buf and (not line.strip() or line.lstrip().startswith("#")):
        continue
    if line.rstrip().endswith("\\"):
        buf += line.rstrip()[:-1] + " "
        continue
    buf += line
    word, _, rest = buf.strip().partition(" ")
    instructions.append((word.upper(), rest.strip()))
    buf = ""
if buf:
    problem(cf, "ends inside a line continuation")
known = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
         "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
for word, _ in instructions:
    if word not in known: problem(cf, f"unknown instruction {word}")
froms = [rest for word, rest in instructions if word == "FROM"]
if len(froms) < 2 or not re.search(r"\bAS\s+build\b", froms[0], re.I):
    problem(cf, "not a multi-stage build with a `build` stage")
if not re.match(r"docker\.io/library/rust:\$\{RUST_VERSION\}-slim-bookworm|rust:[\w.]+-slim-bookworm", froms[0] if froms else ""):
    problem(cf, "builder is not rust:*-slim-bookworm")
if not froms or not froms[-1].endswith("debian:bookworm-slim"):
    problem(cf, "runtime is not debian:bookworm-slim")
final = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM"):]
runs = " ".join(rest for word, rest in instructions if word == "RUN")
if "cargo build --release --locked" not in runs: problem(cf, "no `cargo build --release --locked`")
final_runs = " ".join(rest for word, rest in final if word == "RUN")
for pkg in ("ca-certificates", "git"):
    if not re.search(rf"apt-get install [^&;]*\b{re.escape(pkg)}\b", final_runs): problem(cf, f"runtime does not install {pkg}")
users = [rest for word, rest in final if word == "USER"]
if not users or users[-1].split(":")[0] in ("root", "0") or users[-1].split(":")[0] != "10001":
    problem(cf, "the runtime does not run as user 10001")
def json_form(word):
    vals = [rest for w, rest in final if w == word]
    try:
        return json.loads(vals[-1]) if vals else None
    except json.JSONDecodeError:
        return "not JSON"
if json_form("ENTRYPOINT") != ["postbode"]: problem(cf, 'ENTRYPOINT is not ["postbode"]')
if json_form("CMD") != ["run"]: problem(cf, 'CMD is not ["run"]')
if [rest for w, rest in final if w == "WORKDIR"][-1:] != ["/etc/postbode"]: problem(cf, "WORKDIR is not /etc/postbode")
labels = " ".join(rest for word, rest in final if word == "LABEL")
for key in ("title", "description", "version", "source", "licenses"):
    if f"org.opencontainers.image.{key}=" not in labels: problem(cf, f"no label org.opencontainers.image.{key}")
if 'org.opencontainers.image.licenses="EUPL-1.2"' not in labels: problem(cf, "licenses label is not EUPL-1.2")
if not re.search(rf"^ARG VERSION={re.escape(version)}$", raw, re.M): problem(cf, f"ARG VERSION is not {version}")
for word, rest in instructions:
    if word == "COPY" and not rest.startswith("--from"):
        for src in rest.split()[:-1]:
            if not os.path.exists(src): problem(cf, f"COPY {src}: not in the build context")
if os.path.exists(".dockerignore"):
    with open(".dockerignore", encoding="utf-8") as f:
        ignored = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    for entry in ("target/", ".venv/", "bench-data/", "examples/out/", "examples/outbox/"):
        if entry not in ignored: problem(".dockerignore", f"does not exclude {entry}")
    if not ({"*.db", "**/*.db"} & ignored): problem(".dockerignore", "does not exclude *.db")
else:
    problem(".dockerignore", "missing")

# -- publiccode.yml 0.4
pw = "publiccode.yml"
CATEGORIES = set("""accounting agile-project-management applicant-tracking application-development
appointment-scheduling backup billing-and-invoicing blog budgeting business-intelligence
business-process-management cad call-center-management cloud-management collaboration
communications compliance-management contact-management content-management crm
customer-service-and-support data-analytics data-collection data-visualization design
design-system digital-asset-management digital-citizenship document-management donor-management
e-commerce e-signature educational-content email-management email-marketing employee-management
enterprise-project-management enterprise-social-networking erp event-management
facility-management feedback-and-reviews-management financial-reporting fleet-management
fundraising gamification geographic-information-systems grant-management graphic-design
help-desk hr ide identity-management instant-messaging inventory-management it-asset-management
it-development it-management it-security it-service-management knowledge-management
learning-management-system marketing mind-mapping mobile-marketing mobile-payment
network-management office online-booking online-community payment-gateway payroll
predictive-analysis procurement productivity-suite project-collaboration project-management
property-management real-estate-management remote-support resource-management sales-management
seo service-desk social-media-management survey talent-management task-management
taxes-management test-management time-management time-tracking translation video-conferencing
video-editing visitor-management voip warehouse-management web-collaboration web-conferencing
website-builder whistleblowing workflow-management""".split())
try:
    pc = yaml.safe_load(open(pw, encoding="utf-8"))
except yaml.YAMLError as e:
    problem(pw, f"not YAML: {e}")
    pc = None
if pc is not None:
    for key in ("publiccodeYmlVersion", "name", "url", "platforms", "categories", "developmentStatus",
                "softwareType", "description", "legal", "maintenance", "localisation"):
        if key not in pc: problem(pw, f"no {key}")
    if pc.get("publiccodeYmlVersion") != "0.4": problem(pw, 'publiccodeYmlVersion is not "0.4"')
    if pc.get("url") != "https://github.com/developer-overheid-nl/postbode": problem(pw, "unexpected url")
    if pc.get("softwareVersion") != version: problem(pw, f"softwareVersion is not {version} (Cargo.toml)")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(pc.get("releaseDate", ""))): problem(pw, "releaseDate is not a quoted YYYY-MM-DD")
    for c in pc.get("categories", []):
        if c not in CATEGORIES: problem(pw, f"category {c} is not in the standard's list")
    if pc.get("developmentStatus") not in ("concept", "development", "beta", "stable", "obsolete"): problem(pw, "bad developmentStatus")
    if pc.get("softwareType") not in ("standalone/mobile", "standalone/iot", "standalone/desktop", "standalone/web",
                                      "standalone/backend", "standalone/other", "addon", "library", "configurationFiles"):
        problem(pw, "bad softwareType")
    for lang in ("nl", "en"):
        d = pc.get("description", {}).get(lang)
        if d is None:
            problem(pw, f"no description.{lang}")
            continue
        if not 0 < len(d.get("shortDescription", "")) <= 150: problem(pw, f"description.{lang}.shortDescription: 1 to 150 characters")
        if not 150 <= len(d.get("longDescription", "")) <= 10000: problem(pw, f"description.{lang}.longDescription: 150 to 10000 characters")
        if not d.get("features"): problem(pw, f"description.{lang}.features: none")
    if pc.get("legal", {}).get("license") != "EUPL-1.2": problem(pw, "legal.license is not EUPL-1.2")
    m = pc.get("maintenance", {})
    if m.get("type") not in ("internal", "contract", "community", "none"): problem(pw, "bad maintenance.type")
    if m.get("type") in ("internal", "community") and not all(c.get("name") for c in m.get("contacts") or [{}]):
        problem(pw, "maintenance.contacts: needed, each with a name")
    loc = pc.get("localisation", {})
    if not isinstance(loc.get("localisationReady"), bool): problem(pw, "localisation.localisationReady is not a boolean")
    if sorted(loc.get("availableLanguages", [])) != ["en", "nl"]: problem(pw, "localisation.availableLanguages is not [nl, en]")

# -- LICENSE: the EUPL-1.2 text of the npm package spdx-license-list 6.12.0
# (licenses/EUPL-1.2.json, licenseText), plus a final newline.
with open("LICENSE", "rb") as f:
    lic = f.read()
if hashlib.sha256(lic).hexdigest() != "57fb42fbcd0b037ce528ed8f72f1ec095d67bc6825ecf1448ff39be1fe68a4b4":
    problem("LICENSE", "is not the verbatim EUPL-1.2 text")

# -- CHANGELOG.md (Keep a Changelog)
with open("CHANGELOG.md", encoding="utf-8") as f:
    cl = f.read()
if "keepachangelog.com" not in cl or not re.search(rf"^## \[{re.escape(version)}\]", cl, re.M):
    problem("CHANGELOG.md", f"no Keep a Changelog section for {version}")

for p in problems:
    print(f"deploy/check.sh: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# ---- Prometheus alert rules ----------------------------------------------------
echo "-- prometheus alert rules"
# promtool ships in Debian's `prometheus` package, a whole server with its web
# assets: fetch the package (19 MB) and take promtool out of it, installing
# nothing.
promtool=$(command -v promtool || true)
if [ -z "$promtool" ] && command -v apt-get >/dev/null; then
  if [ -z "$apt_updated" ]; then apt-get update -qq && apt_updated=1; fi
  if (cd "$root" && apt-get download -qq prometheus >/dev/null 2>&1) \
    && dpkg -x "$root"/prometheus_*.deb "$root/prometheus"; then
    promtool="$root/prometheus/usr/bin/promtool"
  fi
fi
if [ -z "$promtool" ]; then
  echo "   (promtool not available: checking the rules' structure only)"
else
  if ! out=$("$promtool" check rules deploy/prometheus/alerts.yaml 2>&1); then
    fail "promtool check rules deploy/prometheus/alerts.yaml:"
    printf '%s\n' "$out" >&2
  fi
fi
.venv/bin/python - <<'PY' || failed=1
import re, sys, yaml

path = "deploy/prometheus/alerts.yaml"
problems = []
def problem(msg):
    problems.append(f"{path}: {msg}")

with open(path, encoding="utf-8") as f:
    doc = yaml.safe_load(f)
# The metric names postbode registers (prefix "postbode", counters get _total).
with open("src/server/metrics.rs", encoding="utf-8") as f:
    src = f.read()
counters = {"runs", "deliveries", "new_posts"}
exported = set()
for name in re.findall(r'registry\.register\(\s*"([a-z_]+)"', src):
    exported.add(f"postbode_{name}_total" if name in counters else f"postbode_{name}")
if not exported:
    problem("found no metrics registered in src/server/metrics.rs")
duration = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
groups = doc.get("groups") if isinstance(doc, dict) else None
if not isinstance(groups, list) or not groups:
    problem("no `groups` list")
    groups = []
names = set()
for g in groups:
    if set(g) - {"name", "interval", "rules", "limit"}:
        problem(f"group {g.get('name')}: unknown keys {sorted(set(g) - {'name', 'interval', 'rules', 'limit'})}")
    if not isinstance(g.get("rules"), list) or not g["rules"]:
        problem(f"group {g.get('name')}: no rules")
        continue
    for r in g["rules"]:
        alert = r.get("alert")
        if not alert or alert in names:
            problem(f"a rule without a unique alert name: {r}")
        names.add(alert)
        if set(r) - {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}:
            problem(f"{alert}: unknown keys")
        if not isinstance(r.get("expr"), str) or not r["expr"].strip():
            problem(f"{alert}: no expr")
            continue
        if "for" in r and not duration.match(str(r["for"])):
            problem(f"{alert}: `for` is not a duration: {r['for']}")
        if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
            problem(f"{alert}: labels.severity is not critical, warning or info")
        if not (r.get("annotations") or {}).get("summary"):
            problem(f"{alert}: no annotations.summary")
        if r["expr"].count("(") != r["expr"].count(")"):
            problem(f"{alert}: unbalanced parentheses in expr")
        for metric in re.findall(r"\bpostbode_[a-z_]+", r["expr"]):
            if metric not in exported:
                problem(f"{alert}: {metric} is not a metric postbode exports ({sorted(exported)})")
for want in ("PostbodeDeadDeliveries", "PostbodeNoSuccessfulRun", "PostbodeDisabledSubscribers"):
    if want not in names:
        problem(f"no {want} alert")
for p in problems:
    print(f"deploy/check.sh: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# ---- reverse proxy -------------------------------------------------------------
# The files the README shows for putting the pages online. Both tools only
# parse here; everything they write goes to the scratch root.
echo "-- reverse proxy (deploy/proxy)"
nginx=$(command -v nginx || true)
[ -z "$nginx" ] && [ -x /usr/sbin/nginx ] && nginx=/usr/sbin/nginx
if [ -n "$nginx" ]; then
  # The file is a `location` for the server block of the site: wrap it in one.
  mkdir -p "$root/nginx"
  cat >"$root/nginx/nginx.conf" <<EOF
pid $root/nginx/nginx.pid;
error_log stderr;
events {}
http {
  client_body_temp_path $root/nginx/body;
  proxy_temp_path $root/nginx/proxy;
  fastcgi_temp_path $root/nginx/fastcgi;
  uwsgi_temp_path $root/nginx/uwsgi;
  scgi_temp_path $root/nginx/scgi;
  server {
    listen 127.0.0.1:8443;
    server_name developer.overheid.nl;
    include $PWD/deploy/proxy/nginx.conf;
  }
}
EOF
  if ! out=$("$nginx" -t -q -e stderr -p "$root/nginx" -c "$root/nginx/nginx.conf" 2>&1) || [ -n "$out" ]; then
    fail "nginx -t with deploy/proxy/nginx.conf:"
    printf '%s\n' "$out" >&2
  fi
else
  echo "   (nginx not installed: deploy/proxy/nginx.conf is not checked)"
fi
if command -v caddy >/dev/null; then
  # Caddy keeps its data under HOME and the XDG folders: the scratch root.
  mkdir -p "$root/caddy"
  if ! out=$(HOME="$root/caddy" XDG_DATA_HOME="$root/caddy/data" XDG_CONFIG_HOME="$root/caddy/config" \
    caddy validate --adapter caddyfile --config deploy/proxy/Caddyfile 2>&1); then
    fail "caddy validate deploy/proxy/Caddyfile:"
    printf '%s\n' "$out" >&2
  elif printf '%s\n' "$out" | grep -q '"level":"warn"'; then
    fail "caddy validate deploy/proxy/Caddyfile warns:"
    printf '%s\n' "$out" | grep '"level":"warn"' >&2
  fi
else
  echo "   (caddy not installed: deploy/proxy/Caddyfile is not checked)"
fi

if [ "$failed" -ne 0 ]; then
  echo "deploy/check.sh: FAILED" >&2
  exit 1
fi
echo "deploy: all checks passed"
