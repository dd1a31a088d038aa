"""Makes copies of two libraries of the `pulumi` binary whose start-up work is deferred to first use.

Every `pulumi` process spent about 0.3 s of CPU (of 0.4 s for `pulumi version`; `GODEBUG=inittrace=1`) in the
package initialisers of two forks of zxcvbn-go, a password-strength estimator that parses five word lists from
JSON at start-up. Pulumi calls it only in `config set` of a plain value (does it look like a secret?) and in
`esc env set`. The test suite runs about ten thousand `pulumi` processes. The copy moves that parsing from
`init` into a `sync.Once` taken by the one function that reads the lists (`matching.Omnimatch`, which already
loaded them lazily when they were missing), so every answer stays the same and only its time moves. The build
module then `replace`s the library with the copy (Go refuses an `-overlay` of files in the module cache).

Usage: lazy_init.py OUT_DIR MODULE=DIR... -> prints `MODULE=COPY` for each library copied. Each source edit must
match exactly; a library whose source differs is not copied (said on stderr): the build never depends on this.
"""
from __future__ import annotations

import shutil
import stat
import sys
from pathlib import Path

# (file inside the module, [(text as published, text in the overlay)])
EDITS = {
    "frequency/frequency.go": [
        ('import (\n\t"encoding/json"\n\t"log"\n', 'import (\n\t"encoding/json"\n\t"log"\n\t"sync"\n'),
        ("\nfunc init() {\n",
         "\nvar loaded sync.Once\n\n// Load fills Lists once (acs-infra's build: at first use, not at start-up).\n"
         "func Load() { loaded.Do(load) }\n\nfunc load() {\n"),
    ],
    "matching/matching.go": [
        ('import (\n\t"sort"\n', 'import (\n\t"sort"\n\t"sync"\n'),
        ("func init() {\n\tloadFrequencyList()\n}\n", "func init() {}\n"),
        ("func loadFrequencyList() {\n",
         "var loadedLists sync.Once\n\nfunc loadFrequencyList() { loadedLists.Do(loadLists) }\n\n"
         "func loadLists() {\n\tfrequency.Load()\n"),
    ],
}


def patched(module_path: str, module: Path, copy: Path) -> bool:
    """Copies `module` to `copy` with the edits; False (and no copy) when its source is not the one expected."""
    texts = {}
    for name, edits in EDITS.items():
        source = module / name
        text = source.read_text() if source.is_file() else ""
        for old, new in edits:
            if text.count(old) != 1:
                print(f"[lazy_init] {module.name}: {name} is not as expected; built unchanged", file=sys.stderr)
                return False
            text = text.replace(old, new)
        texts[name] = text
    shutil.copytree(module, copy)  # the module cache's files are read-only
    for path in [copy, *copy.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    for name, text in texts.items():
        (copy / name).write_text(text)
    if not (copy / "go.mod").exists():  # a module from before Go modules: a replacement directory needs one
        (copy / "go.mod").write_text(f"module {module_path}\n")
    return True


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    for spec in argv[1:]:
        module_path, directory = spec.split("=", 1)
        copy = out / module_path.replace("/", "_")
        if patched(module_path, Path(directory), copy):
            print(f"{module_path}={copy}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
