#!/usr/bin/env python3
"""Keeps the user guides (docs/guides/*.md) from rotting.

Usage: guides_test.py <source dir> <scratch dir> <guide>=<executable> ...

Each guide docs/guides/<guide>.md has a program examples/guides/<guide>.cpp. The program marks
the code the guide shows with a line `// [snippet: NAME]` before it and `// [end]` after it; the
guide puts `<!-- snippet: NAME -->` on the line before the fenced code block that shows it.
Checks:
  1. every marked block is byte-identical to its region of the .cpp once the region's common
     indentation is stripped; every region is shown, and shown once;
  2. the guide has no unmarked C++ block; a shell or CMake block may only name build targets
     (`build/examples/X`, `--target X`) that examples/CMakeLists.txt declares and `-DMICA_*`
     options that CMakeLists.txt declares;
  3. links stay inside the repository and point at files that exist;
  4. each built guide program exits 0 (run in its own empty scratch directory).
"""
import os
import re
import shutil
import subprocess
import sys

SNIPPET_BEGIN = re.compile(r"^\s*// \[snippet: ([A-Za-z0-9_-]+)\]\s*$")
SNIPPET_END = re.compile(r"^\s*// \[end\]\s*$")
MD_MARKER = re.compile(r"^<!-- snippet: ([A-Za-z0-9_-]+) -->\s*$")
FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)\s*$")
COMMAND_LANGS = {"sh", "console", "cmake", "text"}

failures = []


def fail(where, what):
    failures.append(f"{where}: {what}")
    print(f"FAIL {where}: {what}")


def dedent(lines):
    """Strips the indentation common to the non-blank lines; blank lines become empty."""
    widths = [len(l) - len(l.lstrip(" ")) for l in lines if l.strip()]
    cut = min(widths) if widths else 0
    return [l[cut:] if l.strip() else "" for l in lines]


def cpp_snippets(path):
    """{name: text} of the marked regions of a program."""
    snippets, name, body, start = {}, None, [], 0
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines, 1):
        begin, end = SNIPPET_BEGIN.match(line), SNIPPET_END.match(line)
        if begin:
            if name is not None:
                fail(f"{path}:{i}", f"snippet '{begin.group(1)}' starts inside snippet '{name}' (line {start})")
            name, body, start = begin.group(1), [], i
            if name in snippets:
                fail(f"{path}:{i}", f"snippet '{name}' is marked twice")
        elif end:
            if name is None:
                fail(f"{path}:{i}", "`// [end]` without a snippet")
            else:
                snippets[name] = "\n".join(dedent(body))
                name = None
        elif name is not None:
            body.append(line.rstrip("\r"))
    if name is not None:
        fail(f"{path}:{start}", f"snippet '{name}' has no `// [end]`")
    return snippets


def md_blocks(path):
    """[(line, language, marker name or None, text)] of the fenced blocks of a guide."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, i, pending = [], 0, None
    while i < len(lines):
        line = lines[i]
        marker, fence = MD_MARKER.match(line), FENCE.match(line)
        if marker:
            if pending:
                fail(f"{path}:{pending[0]}", f"marker '{pending[1]}' is not followed by a code block")
            pending = (i + 1, marker.group(1))
        elif fence:
            lang, start, body = fence.group(1), i + 1, []
            i += 1
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            if i == len(lines):
                fail(f"{path}:{start}", "code block is never closed")
            blocks.append((start, lang, pending[1] if pending else None, "\n".join(body)))
            pending = None
        elif line.strip() and pending:
            fail(f"{path}:{pending[0]}", f"marker '{pending[1]}' is not followed by a code block")
            pending = None
        i += 1
    if pending:
        fail(f"{path}:{pending[0]}", f"marker '{pending[1]}' is not followed by a code block")
    return blocks


def declared(source):
    """(targets of examples/CMakeLists.txt, MICA_* options and cache variables of CMakeLists.txt)."""
    with open(os.path.join(source, "examples", "CMakeLists.txt"), encoding="utf-8") as f:
        text = f.read()
    targets = set(re.findall(r"add_executable\(([A-Za-z0-9_.-]+)", text))
    # Targets made in a loop: add_executable(guide_${g} ...) over set(MICA_GUIDES a b c).
    lists = {k: v.split() for k, v in re.findall(r"set\((MICA_\w+)\s+([^)$]*)\)", text)}
    for prefix, var in re.findall(r"add_executable\(([A-Za-z0-9_]*)\$\{(\w+)\}", text):
        for loop_var, items in re.findall(r"foreach\((\w+)\s+\$\{(\w+)\}\)", text):
            if loop_var == var:
                targets.update(prefix + item for item in lists.get(items, []))
    with open(os.path.join(source, "CMakeLists.txt"), encoding="utf-8") as f:
        top = f.read()
    options = set(re.findall(r"option\((MICA_\w+)", top)) | set(re.findall(r"set\((MICA_\w+)", top))
    options |= set(re.findall(r"\$\{(MICA_\w+)\}", top))
    return targets, options


def check_commands(where, text, targets, options):
    for name in re.findall(r"build[\w.-]*/examples/([A-Za-z0-9_.-]+)", text):
        if name not in targets:
            fail(where, f"names build/examples/{name}, which examples/CMakeLists.txt does not build")
    for name in re.findall(r"--target\s+([A-Za-z0-9_.-]+)", text):
        if name not in targets:
            fail(where, f"names the target {name}, which examples/CMakeLists.txt does not declare")
    for name in re.findall(r"-D(MICA_\w+)", text):
        if name not in options:
            fail(where, f"sets -D{name}, which CMakeLists.txt does not declare")


def check_links(path, source):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if re.search(r"https?://|www\.", text):
        fail(path, "links outside the repository")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), target))):
            fail(path, f"links to {target}, which does not exist")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    source, scratch = sys.argv[1], sys.argv[2]
    exes = dict(arg.split("=", 1) for arg in sys.argv[3:])
    guides_dir = os.path.join(source, "docs", "guides")
    guides = sorted(f[:-3] for f in os.listdir(guides_dir) if f.endswith(".md"))
    if not guides:
        fail(guides_dir, "no guides")
    targets, options = declared(source)
    shutil.rmtree(scratch, ignore_errors=True)

    for guide in guides:
        failed_before = len(failures)
        md = os.path.join(guides_dir, guide + ".md")
        cpp = os.path.join(source, "examples", "guides", guide + ".cpp")
        check_links(md, source)
        blocks = md_blocks(md)
        if not os.path.exists(cpp):
            fail(md, f"has no program {cpp}")
            continue
        snippets = cpp_snippets(cpp)
        shown = {}
        for line, lang, name, text in blocks:
            where = f"{md}:{line}"
            if name is None:
                if lang in COMMAND_LANGS:
                    check_commands(where, text, targets, options)
                else:
                    fail(where, f"```{lang} block without a `<!-- snippet: NAME -->` marker")
                continue
            if lang != "cpp":
                fail(where, f"snippet '{name}' should be a ```cpp block, not ```{lang}")
            if name in shown:
                fail(where, f"snippet '{name}' is shown twice (first at line {shown[name]})")
            shown[name] = line
            if name not in snippets:
                fail(where, f"snippet '{name}' is not marked in {cpp}")
            elif text != snippets[name]:
                fail(where, f"snippet '{name}' differs from {cpp}:\n--- guide\n{text}\n--- program\n{snippets[name]}")
        for name in snippets:
            if name not in shown:
                fail(cpp, f"snippet '{name}' is not shown in {md}")

        exe = exes.get(guide)
        if exe is None:
            fail(md, f"no executable given for guide '{guide}' (pass {guide}=<path>)")
            continue
        work = os.path.join(scratch, guide)
        os.makedirs(work)
        try:
            p = subprocess.run([exe], cwd=work, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            fail(exe, "timed out after 120 s")
            continue
        if p.returncode != 0:
            fail(exe, f"exited {p.returncode}\n{p.stdout}{p.stderr}")
        if len(failures) == failed_before:
            print(f"ok {guide}: {len(shown)} snippets match, program exited 0")

    for guide in exes:
        if guide not in guides:
            fail(guide, f"an executable was given but docs/guides/{guide}.md does not exist")
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print(f"all {len(guides)} guides pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
