#!/usr/bin/env python3
"""packaging/collect-licenses.py — the licences of the Rust crates kpartx is built from.

    packaging/collect-licenses.py            rewrite the generated files
    packaging/collect-licenses.py --check    exit 1 (with a diff) when they are out of date

Reads `cargo metadata --format-version 1 --locked` (offline from vendor/ when that directory
exists) and writes:

  packaging/licenses/crates.tsv   every crate in Cargo.lock but the workspace's own (kpartx,
                                  crates/kpartx-table): name, version, SPDX licence and
                                  whether it is statically linked into /usr/sbin/kpartx
                                  (a normal, non-proc-macro dependency on the build host's
                                  target) or only used to build or test it;
  debian/copyright                DEP-5: packaging/debian/copyright.in, one Files stanza per
                                  vendored crate (vendor/<name>-<version>/*) and one License
                                  paragraph per licence named (texts in packaging/licenses/);
  packaging/rpm/kpartx-rs.spec    its License: tag, the SPDX conjunction of the project's
                                  licence and those of the linked crates.

The Debian copyright file covers the whole source package (every vendored crate); the RPM
License: tag describes the binary package (only what is linked), as Fedora's Rust guidelines
ask. packaging/test-packages.sh runs --check, so a Cargo.lock change that brings a crate or a
licence fails CI until this script is run again.
"""

import difflib
import json
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LICDIR = os.path.join(TOP, "packaging", "licenses")
TSV = os.path.join(LICDIR, "crates.tsv")
COPYRIGHT_IN = os.path.join(TOP, "packaging", "debian", "copyright.in")
COPYRIGHT = os.path.join(TOP, "debian", "copyright")
SPEC = os.path.join(TOP, "packaging", "rpm", "kpartx-rs.spec")

# Licences whose full text Debian ships in /usr/share/common-licenses.
COMMON = {"Apache-2.0": "Apache-2.0", "MPL-2.0": "MPL-2.0", "LGPL-2.1+": "LGPL-2.1"}
# SPDX identifiers spelt differently in DEP-5.
DEP5_NAME = {"LGPL-2.1-or-later": "LGPL-2.1+"}


def cargo_metadata(filter_platform=None):
    cmd = ["cargo", "metadata", "--format-version", "1", "--locked"]
    if os.path.isdir(os.path.join(TOP, "vendor")):
        cmd += ["--offline",
                "--config", 'source.crates-io.replace-with="vendored-sources"',
                "--config", 'source.vendored-sources.directory="vendor"']
    if filter_platform:
        cmd += ["--filter-platform", filter_platform]
    out = subprocess.run(cmd, cwd=TOP, check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)


def host_triple():
    out = subprocess.run(["rustc", "-vV"], check=True, stdout=subprocess.PIPE, text=True).stdout
    for line in out.splitlines():
        if line.startswith("host: "):
            return line[6:].strip()
    sys.exit("collect-licenses: no host triple in `rustc -vV`")


def normalise(expr):
    """An SPDX expression from a crate's license field ('MIT/Apache-2.0' is the old spelling)."""
    if not expr:
        return "UNKNOWN"
    expr = re.sub(r"\s*/\s*", " OR ", expr.strip())
    return re.sub(r"\s+", " ", expr)


def tokens(expr):
    return re.findall(r"\(|\)|[A-Za-z0-9.+-]+", expr)


def licence_names(expr):
    """The licences (with their exceptions) an SPDX expression names."""
    names, toks, i = [], tokens(expr), 0
    while i < len(toks):
        t = toks[i]
        if t in ("(", ")", "OR", "AND"):
            i += 1
            continue
        if i + 2 < len(toks) and toks[i + 1] == "WITH":
            names.append(t + " WITH " + toks[i + 2])
            i += 3
        else:
            names.append(t)
            i += 1
    return names


def dep5_licence(name):
    if " WITH " in name:
        lic, exc = name.split(" WITH ")
        return "%s with %s exception" % (DEP5_NAME.get(lic, lic), exc.replace("-exception", ""))
    return DEP5_NAME.get(name, name)


def dep5_expr(expr):
    out = []
    toks, i = tokens(expr), 0
    while i < len(toks):
        t = toks[i]
        if t in ("(", ")"):
            out.append(t)
        elif t in ("OR", "AND"):
            out.append(t.lower())
        elif i + 2 < len(toks) and toks[i + 1] == "WITH":
            out.append(dep5_licence(t + " WITH " + toks[i + 2]))
            i += 2
        else:
            out.append(dep5_licence(t))
        i += 1
    return " ".join(out).replace("( ", "(").replace(" )", ")")


def linked_ids(meta, root):
    """Package ids reachable from the root through normal dependencies, proc macros excluded."""
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    pkgs = {p["id"]: p for p in meta["packages"]}

    def is_proc_macro(pid):
        return any("proc-macro" in t["kind"] for t in pkgs[pid]["targets"])

    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]) and not is_proc_macro(dep["pkg"]):
                todo.append(dep["pkg"])
    return seen


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def licence_paragraph(name):
    """A DEP-5 stand-alone License paragraph."""
    if name in COMMON:
        body = ("On Debian systems, the full text of this licence can be found in\n"
                "/usr/share/common-licenses/%s." % COMMON[name])
    elif name == "MIT":
        text = read(os.path.join(TOP, "LICENSE-MIT"))
        body = text.split("\n\n", 1)[1]  # without the project's copyright line
    elif name.endswith(" exception"):
        lic, exc = name[:-len(" exception")].split(" with ")
        body = ("%s, with the following exception. On Debian systems, the full text of\n"
                "the licence can be found in /usr/share/common-licenses/%s.\n\n%s"
                % (lic, COMMON.get(lic, lic), read(os.path.join(LICDIR, exc + "-exception.txt"))))
    else:
        path = os.path.join(LICDIR, name + ".txt")
        if not os.path.exists(path):
            sys.exit("collect-licenses: no text for licence %s: add %s" % (name, path))
        body = read(path)
    lines = []
    for line in body.strip("\n").splitlines():
        line = line.rstrip()
        lines.append(" " + line if line else " .")
    return "License: %s\n%s\n" % (name, "\n".join(lines))


def generate():
    meta = cargo_metadata()
    host = cargo_metadata(host_triple())
    root = meta["resolve"]["root"]
    linked = linked_ids(host, root)
    project = next(p for p in meta["packages"] if p["id"] == root)

    # The workspace's own crates (kpartx and crates/*) are the project, not vendored crates.
    members = set(meta["workspace_members"])
    crates = sorted((p for p in meta["packages"] if p["id"] not in members),
                    key=lambda p: (p["name"], [int(x) if x.isdigit() else x
                                               for x in re.split(r"[.+-]", p["version"])]))
    tsv = ["# name\tversion\tlicense (SPDX)\tlinked into kpartx\n"]
    tsv += ["%s\t%s\t%s\t%s\n" % (p["name"], p["version"], normalise(p["license"]),
                                 "yes" if p["id"] in linked else "no") for p in crates]

    # debian/copyright
    stanzas, names = [], set(licence_names(normalise(project["license"])))
    for p in crates:
        expr = normalise(p["license"])
        names.update(licence_names(expr))
        authors = [re.sub(r"\s+", " ", a) for a in p.get("authors") or []]
        holders = authors or ["the %s authors" % p["name"]]
        stanzas.append("Files: vendor/%s-%s/*\nCopyright: %s\nLicense: %s\n" % (
            p["name"], p["version"], "\n           ".join(holders), dep5_expr(expr)))
    paragraphs = [licence_paragraph(dep5_licence(n))
                  for n in sorted(set(dep5_licence(n) for n in names))
                  for n in [n]]
    copyright_text = (read(COPYRIGHT_IN).replace("@PROJECT_LICENSE@",
                                                 dep5_expr(normalise(project["license"])))
                      .rstrip("\n") + "\n\n" + "\n".join(stanzas) + "\n" + "\n".join(paragraphs))

    # RPM License: the project's licence AND each distinct licence of a linked crate.
    exprs = [normalise(project["license"])]
    for p in crates:
        if p["id"] in linked:
            e = normalise(p["license"])
            if e not in exprs:
                exprs.append(e)
    # "Apache-2.0 OR MIT" and "MIT OR Apache-2.0" are one choice.
    unique = {}
    for e in exprs:
        key = " OR ".join(sorted(e.split(" OR "))) if "(" not in e and "AND" not in e else e
        unique.setdefault(key, e)
    parts = [("(%s)" % e) if (" OR " in e and len(unique) > 1 and not e.startswith("(")) or
             (" AND " in e and e.startswith("(")) else e for e in unique.values()]
    rpm_licence = " AND ".join(parts)
    spec = read(SPEC)
    spec_new, n = re.subn(r"(?m)^License:(\s*).*$", lambda m: "License:" + m.group(1) + rpm_licence,
                          spec, count=1)
    if n != 1:
        sys.exit("collect-licenses: no License: line in %s" % SPEC)

    return {TSV: "".join(tsv), COPYRIGHT: copyright_text, SPEC: spec_new}


def main():
    check = "--check" in sys.argv[1:]
    stale = 0
    for path, text in generate().items():
        old = read(path) if os.path.exists(path) else ""
        if old == text:
            continue
        rel = os.path.relpath(path, TOP)
        if check:
            stale += 1
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                       rel + " (committed)", rel + " (Cargo.lock)"))
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print("collect-licenses: wrote " + rel)
    if stale:
        print("collect-licenses: %d file(s) out of date with Cargo.lock; run "
              "packaging/collect-licenses.py" % stale, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
