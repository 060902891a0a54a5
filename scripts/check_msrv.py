#!/usr/bin/env python3
"""The workspace's `rust-version` must equal the highest `rust-version` among
the dependencies a default build of each published crate compiles, so that
the stated MSRV can never drift from what the dependencies need.

Run by `make test` (target `msrv`). Prints the crate that sets the MSRV;
exits 1, naming both versions, when the workspace states another one.
"""

import json
import re
import subprocess
import sys

PUBLISHED = [
    "treebeard",
    "treebeard-datadog",
    "treebeard-pii",
    "treebeard-conventions",
    "treebeard-alerting",
    "treebeard-cli",
]


def version_key(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3]) + (0,) * (3 - len(re.findall(r"\d+", v)[:3]))


def main():
    host = next(
        line.split()[1]
        for line in subprocess.check_output(["rustc", "-vV"], text=True).splitlines()
        if line.startswith("host:")
    )
    metadata = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host]
        )
    )
    rust_version = {(p["name"], p["version"]): p.get("rust_version") for p in metadata["packages"]}
    workspace = {p["name"]: p for p in metadata["packages"] if p["id"] in metadata["workspace_members"]}
    declared = workspace["treebeard"].get("rust_version")
    needed, by = "0", None
    for crate in PUBLISHED:
        # What a user's default build of `crate` compiles (normal and build
        # dependencies, default features), as `cargo tree` resolves it.
        tree = subprocess.check_output(
            ["cargo", "tree", "--locked", "-p", crate, "-e", "normal,build",
             "--prefix", "none", "-f", "{p}"],
            text=True,
        )
        for line in tree.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            name, version = parts[0], parts[1].lstrip("v")
            if name in workspace:
                continue  # ours: they state the declared version
            rv = rust_version.get((name, version))
            if rv and version_key(rv) > version_key(needed):
                needed, by = rv, f"{name} {version}"
    print(f"rust-version: declared {declared}, needed {needed} (by {by})")
    if version_key(declared or "0") != version_key(needed):
        print(
            f"error: the workspace's rust-version is {declared}, but the highest "
            f"rust-version among the dependencies is {needed} ({by}): set "
            f"rust-version = \"{needed}\" in Cargo.toml [workspace.package]",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
