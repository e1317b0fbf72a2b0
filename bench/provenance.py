"""Where a generated number came from: the commit, the configs and the machine.

Every bench script records this in its JSON (key "provenance") and names it in the document
it writes, so a reader can tell whether a figure is stale. Used as a module by the report
scripts, or from the shell:

  python3 bench/provenance.py --command "bench/x.sh" [--config launch/configs/a.pbtxt ...]

prints the JSON object on stdout.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*args):
    result = subprocess.run(["git", "-C", HERE, *args], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def _cpu_model():
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "unknown"
    match = re.search(r"Model name:\s*(.*)", text)
    return match.group(1).strip() if match else "unknown"


def provenance(command, configs=()):
    """The commit (with "-dirty" when tracked files differ from it), configs with their sha256."""
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    # Only tracked source counts as dirt: generated docs and results are what the script writes.
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                 ":(exclude)docs", ":(exclude)bench/results")
    config_hashes = {}
    for path in configs:
        full = path if os.path.isabs(path) else os.path.join(HERE, path)
        with open(full, "rb") as f:
            config_hashes[path] = hashlib.sha256(f.read()).hexdigest()[:16]
    return {
        "commit": commit + ("-dirty" if dirty else ""),
        "command": command,
        "configs": config_hashes,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
    }


def describe(p):
    """One markdown sentence naming the command, commit, configs and machine."""
    configs = ", ".join(f"`{path}` (sha256 {digest})" for path, digest in p["configs"].items())
    text = f"Produced by `{p['command']}` on commit `{p['commit']}` ({p['date_utc']} UTC"
    text += f"; {p['cpu']}, {p['cores']} cores)"
    if configs:
        text += f" from {configs}"
    return text + "."


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command", required=True)
    parser.add_argument("--config", action="append", default=[])
    args = parser.parse_args()
    print(json.dumps(provenance(args.command, args.config)))
