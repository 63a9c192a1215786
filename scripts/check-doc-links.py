#!/usr/bin/env python3
"""Checks the relative links of the project's Markdown documents.

Usage: scripts/check-doc-links.py [FILE.md ...]
Without arguments: README.md, docs/*.md and tests/vm/README.md.

Every `[text](path)` and `[text](path#anchor)` link that is not a URL must name a file or
directory that exists (relative to the document). When it has an anchor and names a Markdown
file (or none: `(#anchor)` is the document itself), that file must have a heading whose GitHub
slug is the anchor. Slugs follow GitHub: lowercase, punctuation other than '-' and '_' dropped,
each space a '-', and "-1", "-2" ... appended to repeated slugs. Code blocks and inline code are
ignored. Prints one line per broken link; exit status 1 if there is any. No dependencies.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+).*?\1")
LINK = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text):
    """The lines of TEXT outside fenced code blocks, with their line numbers."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in "-_ ")
    return text.replace(" ", "-")


_anchors = {}


def anchors(path):
    """Every anchor the headings of the Markdown file PATH define."""
    if path not in _anchors:
        seen = {}
        found = set()
        for _, line in prose_lines(path.read_text(encoding="utf-8")):
            m = HEADING.match(line)
            if not m:
                continue
            s = slug(m.group(2))
            n = seen.get(s, 0)
            seen[s] = n + 1
            found.add(s if n == 0 else f"{s}-{n}")
        _anchors[path] = found
    return _anchors[path]


def check(doc):
    """Prints the broken links of DOC; returns how many."""
    broken = 0
    for number, line in prose_lines(doc.read_text(encoding="utf-8")):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if not target or URL.match(target):
                continue
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            where = f"{doc.relative_to(ROOT)}:{number}: ({target})"
            if not dest.exists():
                print(f"{where}: {path} does not exist")
                broken += 1
            elif anchor and dest.is_file() and dest.suffix == ".md":
                if anchor not in anchors(dest):
                    print(f"{where}: no heading #{anchor} in {dest.relative_to(ROOT)}")
                    broken += 1
    return broken


def main(args):
    if args:
        docs = [Path(a).resolve() for a in args]
    else:
        docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
                ROOT / "tests/vm/README.md"]
    broken = sum(check(d) for d in docs)
    print(f"doc links: {len(docs)} documents, {broken} broken links")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
