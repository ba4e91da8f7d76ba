#!/usr/bin/env python3
"""Fails when a crate postbode depends on directly is built in two versions
(`cargo tree -d`): each copy costs build time and can hide mismatched types.
A duplicate that the dependency graph forces (two of our dependencies pin
different major versions) is listed in ALLOWED with the reason."""
import re
import subprocess
import sys
import tomllib

# name -> why a second version cannot be avoided today
ALLOWED = {
    "base64": "sqlx 0.9 uses base64 0.22 while lettre (email-encoding) and "
    "hyper-util use 0.23; ours follows sqlx",
    "sha2": "sqlx-core 0.9 uses sha2 0.10 while sqlx-postgres 0.9 (SCRAM login) "
    "uses 0.11; ours follows sqlx-core",
    "hmac": "sqlx-postgres 0.9 (SCRAM login) uses hmac 0.13, built on sha2 0.11; "
    "ours is 0.12, built on the sha2 0.10 that sqlx-core uses",
}

with open("Cargo.toml", "rb") as f:
    manifest = tomllib.load(f)
# What ships: test-only crates (feed-rs brings its own quick-xml) do not count.
direct = set(manifest.get("dependencies", {}))

tree = subprocess.run(
    ["cargo", "tree", "-d", "-e", "normal,build", "--prefix", "depth", "--locked"],
    check=True, capture_output=True, text=True,
).stdout
versions: dict[str, set[str]] = {}
for line in tree.splitlines():
    m = re.match(r"^0(\S+) v(\S+)", line)
    if m:
        versions.setdefault(m.group(1), set()).add(m.group(2))

bad = {n: v for n, v in versions.items() if len(v) > 1 and n in direct and n not in ALLOWED}
for name, why in ALLOWED.items():
    if len(versions.get(name, ())) > 1:
        print(f"allowed duplicate: {name} {sorted(versions[name])}: {why}")
if bad:
    for name, v in sorted(bad.items()):
        print(f"duplicate versions of a direct dependency: {name} {sorted(v)}", file=sys.stderr)
    sys.exit(1)
print("no duplicate versions of direct dependencies")
