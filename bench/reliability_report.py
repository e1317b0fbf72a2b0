#!/usr/bin/env python3
"""Runs the bad-input gtest cases with XML output and writes docs/RELIABILITY.md from them, from
the libFuzzer logs and from the fault-injection log bench/reliability.sh left in $RESULTS
(BUILD_DIR/reliability); the numbers also go to bench/results/reliability.json. Usage: reliability_report.py SOURCE_DIR SECONDS_SO_FAR"""
import concurrent.futures
import datetime
import glob
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

src = sys.argv[1]
seconds_before = int(sys.argv[2])
build = os.environ["BUILD_DIR"]
results = os.environ["RESULTS"]
fuzz_seconds = int(os.environ["FUZZ_SECONDS"])
t0 = time.time()

# Bad-input tests other than the *Adversarial suites: names that say what bad input they try.
BAD_INPUT = re.compile(
    r"Adversarial|Refus|Reject|Malformed|Corrupt|Truncat|Invalid|Bad[A-Z]|Missing|Unknown|"
    r"Wrong|Garbage|Torn|Tamper|Mismatch|Overflow|Errors?[A-Z]|Error$|Fails|NotFound|Outside|"
    r"Damaged|Unreadable|Duplicate|Overlap|Out[Oo]f[Rr]ange|NotA[A-Z]|Nonexistent|Unsupported")
# Bad-input tests not run here, listed as such: their fixture trains models for minutes.
HEAVY = re.compile(os.environ.get("RELIABILITY_HEAVY", r"^GroundTruth\."))


def gtest_entries():
    """(ctest name, binary, extra args, env) of every non-gpu gtest entry."""
    shown = json.loads(subprocess.run(["ctest", "--show-only=json-v1"], cwd=build, check=True,
                                      capture_output=True, text=True).stdout)
    for t in shown["tests"]:
        cmd = t.get("command") or []
        if len(cmd) < 2 or not cmd[0].endswith("run_gtest.sh") or t["name"].startswith("gpu/"):
            continue
        env = dict(os.environ)
        for p in t.get("properties", []):
            if p["name"] == "ENVIRONMENT":
                env.update(kv.split("=", 1) for kv in p["value"])
        yield t["name"], cmd[1], cmd[2:], env


def list_tests(binary, args, env):
    out = subprocess.run([binary, "--gtest_list_tests", *args], env=env, capture_output=True,
                         text=True, check=True).stdout
    suite, names = None, []
    for line in out.splitlines():
        if not line.strip() or line.startswith("Running main"):
            continue
        if not line.startswith(" "):
            suite = line.split()[0]
        else:
            names.append(suite + line.split()[0])
    return names


def run_selected(entry):
    name, binary, args, env = entry
    tests = list_tests(binary, args, env)
    chosen = [t for t in tests if BAD_INPUT.search(t)]
    heavy = [t for t in chosen if HEAVY.search(t)]
    chosen = [t for t in chosen if not HEAVY.search(t)]
    cases = [{"entry": name, "suite": t.split(".")[0], "test": t.split(".", 1)[1],
              "adversarial": t.split(".")[0].endswith("Adversarial"), "status": "not run"}
             for t in heavy]
    if not chosen:
        return name, cases
    xml = os.path.join(results, "xml", name.replace("/", "_") + ".xml")
    subprocess.run([binary, "--gtest_filter=" + ":".join(chosen), "--gtest_output=xml:" + xml],
                   env=env, capture_output=True, text=True, cwd=build)
    if os.path.exists(xml):
        for case in ET.parse(xml).getroot().iter("testcase"):
            suite = case.get("classname")
            status = "failed" if case.find("failure") is not None else (
                "skipped" if case.get("result") == "skipped" or case.find("skipped") is not None
                else "passed")
            base = suite.split("/")[-1] if suite.split("/")[-1].endswith("Adversarial") else suite
            cases.append({"entry": name, "suite": suite, "test": case.get("name"),
                          "adversarial": base.endswith("Adversarial"), "status": status})
    else:
        cases.append({"entry": name, "suite": "?", "test": "(no XML: the binary did not run)",
                      "adversarial": False, "status": "failed"})
    return name, cases


with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    bad = [c for _, cs in sorted(pool.map(run_selected, list(gtest_entries()))) for c in cs]


def fuzz_results():
    rows = []
    for corpus in sorted(glob.glob(os.path.join(src, "tests/fuzz/corpus/*"))):
        target = os.path.basename(corpus)
        seeds = len(os.listdir(corpus))
        regressions = len([f for f in os.listdir(corpus) if f.startswith("crash-")])
        log = os.path.join(results, "fuzz", target, "fuzz.log")
        row = {"target": target, "seeds": seeds, "regression_inputs": regressions}
        if not os.path.exists(log):
            row["status"] = "not measured (no fuzz build: run tests/sanitize.sh)"
            rows.append(row)
            continue
        text = open(log, errors="replace").read()
        stats = dict(re.findall(r"^stat::(\w+):\s*(\d+)", text, re.M))
        crashes = glob.glob(os.path.join(results, "fuzz", target, "crash-*")) + glob.glob(
            os.path.join(results, "fuzz", target, "timeout-*")) + glob.glob(
            os.path.join(results, "fuzz", target, "oom-*"))
        row.update({k: int(v) for k, v in stats.items()})
        if "exited with status 77" in text or "skipped, needs" in text:
            row["status"] = "skipped (input files missing)"
        elif crashes or "ERROR: " in text or "number_of_executed_units" not in stats:
            row["status"] = "FAILED: %d crash inputs (see %s)" % (len(crashes), log)
        else:
            row["status"] = "no crash"
        rows.append(row)
    return rows


def fault_results():
    log_path = os.path.join(results, "faults", "ctest.log")
    text = open(log_path, errors="replace").read() if os.path.exists(log_path) else ""
    numbers = dict(re.findall(r"Test #(\d+): (\S+)", text))
    outcome = dict((n, s) for n, s in re.findall(r"Test\s+#\d+: (\S+) \.+\**\s*(\w+)", text))
    rows = {}
    hangs = []
    for num, line in re.findall(r"^(\d+): reliability: (.*)$", text, re.M):
        name = numbers.get(num, "?")
        m = re.match(r"hang injected: (.*)$", line)
        if m:
            hangs.append({"test": name, "hang": m.group(1), "status": outcome.get(name, "?")})
            continue
        row = rows.setdefault(name, {"test": name, "faults": [], "files": 0, "bytes": 0})
        m = re.match(r"fault injected: (.*), survived", line)
        if m:
            row["faults"].append(m.group(1))
        m = re.match(r"compared (\d+) files, (\d+) bytes, 0 differ", line)
        if m:
            row["files"] += int(m.group(1))
            row["bytes"] += int(m.group(2))
    for name, status in outcome.items():
        if name not in {h["test"] for h in hangs}:
            rows.setdefault(name, {"test": name, "faults": [], "files": 0, "bytes": 0})
            rows[name]["status"] = status
    return list(rows.values()), hangs


fuzz = fuzz_results()
faults, hangs = fault_results()
commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True,
                        text=True).stdout.strip()
# Only tracked source counts as dirt (as bench/provenance.py): not the documents generators write.
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                        ":(exclude)docs", ":(exclude)bench/results"], cwd=src,
                       capture_output=True, text=True).stdout.strip()
total_seconds = seconds_before + int(time.time() - t0)
summary = {"commit": commit, "dirty": bool(dirty), "bad_inputs": bad, "fuzz": fuzz,
           "faults": faults, "hangs": hangs, "seconds": total_seconds, "fuzz_seconds": fuzz_seconds}
json.dump(summary, open(os.path.join(src, "bench/results/reliability.json"), "w"), indent=1)

# The document.
by_suite = {}
for c in bad:
    key = (c["entry"], c["suite"])
    s = by_suite.setdefault(key, {"passed": 0, "failed": 0, "skipped": 0, "not run": 0,
                                  "adversarial": c["adversarial"]})
    s[c["status"]] += 1
adv = [c for c in bad if c["adversarial"]]
other = [c for c in bad if not c["adversarial"]]


def count(cases, status):
    return sum(1 for c in cases if c["status"] == status)


lines = [
    "# Reliability",
    "",
    "Produced by `bench/reliability.sh` (bench/reliability_report.py) on commit `%s`%s, %s, "
    "%d CPUs, in %d s. Regenerate after a change with:" % (
        commit[:12], " with uncommitted changes" if dirty else "",
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        os.cpu_count(), total_seconds),
    "",
    "    bench/reliability.sh   # needs build/ and the ASan fuzz build of tests/sanitize.sh",
    "",
    "Every number below comes from a run of the tests at that commit, not from a list kept by "
    "hand: new `*Adversarial` suites, fuzz targets and fault tests are counted when they exist.",
    "",
    "## Bad inputs tried",
    "",
    "The test cases of every gtest suite whose name ends in `Adversarial`, and of the other tests "
    "whose names say they feed a bad input (refused, malformed, corrupt, truncated, missing, "
    "unknown, ...: the pattern is `BAD_INPUT` in bench/reliability_report.py), run with "
    "`--gtest_output=xml` and counted from the XML.",
    "",
    "| | cases | passed | failed | skipped | not run |",
    "|---|---:|---:|---:|---:|---:|",
]
for label, cases in (("`*Adversarial` suites", adv), ("other bad-input tests", other),
                     ("**all**", bad)):
    lines.append("| %s | %d | %d | %d | %d | %d |" % (
        label, len(cases), count(cases, "passed"), count(cases, "failed"),
        count(cases, "skipped"), count(cases, "not run")))
lines += [
    "",
    "Not run: bad-input cases of suites whose fixture trains models for minutes "
    "(`RELIABILITY_HEAVY`, now `%s`); the full suite runs them." % HEAVY.pattern,
    "",
    "By kind (ctest entry and suite; `*Adversarial` suites first):",
    "",
    "| entry | suite | cases | passed | failed | skipped | not run |",
    "|---|---|---:|---:|---:|---:|---:|",
]
for (entry, suite), s in sorted(by_suite.items(), key=lambda kv: (not kv[1]["adversarial"], kv[0])):
    lines.append("| %s | %s | %d | %d | %d | %d | %d |" % (
        entry, ("**%s**" % suite) if s["adversarial"] else suite,
        s["passed"] + s["failed"] + s["skipped"] + s["not run"], s["passed"], s["failed"],
        s["skipped"], s["not run"]))
lines += [
    "",
    "## Fuzzing",
    "",
    "Each libFuzzer target of tests/fuzz (clang, ASan + UBSan build of tests/sanitize.sh) ran "
    "for %d s from its seed corpus tests/fuzz/corpus/<target>/ (two targets at a time); "
    "executions are libFuzzer's `stat::number_of_executed_units`. The same targets run in CI "
    "(`fuzz/<target>`, 25 s each) and every build replays the corpora (`fuzz/<target>_replay`). "
    "Regression inputs are corpus files named `crash-*`: inputs that crashed a target before "
    "their fix." % fuzz_seconds,
    "",
    "| target | executions | exec/s | new inputs | peak RSS MiB | seeds | regression inputs | "
    "result |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
]
for r in fuzz:
    lines.append("| %s | %s | %s | %s | %s | %d | %d | %s |" % (
        r["target"], r.get("number_of_executed_units", "-"), r.get("average_exec_per_sec", "-"),
        r.get("new_units_added", "-"), r.get("peak_rss_mb", "-"), r["seeds"],
        r["regression_inputs"], r["status"]))
total_execs = sum(r.get("number_of_executed_units", 0) for r in fuzz)
lines += ["", "Total: %d executions." % total_execs]
lines += [
    "",
    "## Faults injected into training runs",
    "",
    "The fault tests (ctest `dist/kill_resume`, `ops/preempt_mpirun`; `ops/slurm` with "
    "`SLURM=1`) each print one `reliability:` line per fault they inject into a 2-rank "
    "`dqt_worker` run and per final-checkpoint comparison; a run survived when it resumed and "
    "finished, and bytes lost counts the bytes of its final checkpoint that differ from an "
    "uninterrupted run's (`cmp` of every shard file and the manifest).",
    "",
    "| test | faults injected | runs survived | files compared | bytes compared | bytes lost | "
    "result |",
    "|---|---|---:|---:|---:|---:|---|",
]
for r in faults:
    ok = r.get("status") == "Passed"
    lines.append("| %s | %d: %s | %s | %d | %d | %s | %s |" % (
        r["test"], len(r["faults"]), "; ".join(r["faults"]) or "-",
        len(r["faults"]) if ok else "0 (failed)", r["files"], r["bytes"], "0" if ok else "unknown",
        r.get("status", "not run")))
n_faults = sum(len(r["faults"]) for r in faults)
n_ok = sum(len(r["faults"]) for r in faults if r.get("status") == "Passed")
lines += ["", "Total: %d faults injected, %d runs survived, %d bytes compared, %s bytes lost." % (
    n_faults, n_ok, sum(r["bytes"] for r in faults),
    "0" if faults and n_ok == n_faults else "unknown")]
lines += [
    "",
    "## Hangs injected",
    "",
    "`dist/watchdog` stops one rank of a 3-rank `dqt_worker` run with SIGSTOP once training is "
    "under way; the collective watchdog (`parallel.collective_timeout_s`) must end the job with a "
    "non-zero exit and both live ranks must name the stopped rank (its world rank and pid). "
    "Without the watchdog the job waits forever (the test's 120 s guard then fails it). MPI "
    "collectives only: a rank stopped in an NCCL collective is not covered.",
    "",
    "| test | hang injected | result |",
    "|---|---|---|",
]
for h in hangs:
    lines.append("| %s | %s | %s |" % (h["test"], h["hang"], h["status"]))
if not hangs:
    lines.append("| dist/watchdog | not run | - |")
lines += [""]
open(os.path.join(src, "docs/RELIABILITY.md"), "w").write("\n".join(lines))
failed = count(bad, "failed") + sum(1 for r in fuzz if r["status"].startswith("FAILED")) + sum(
    1 for r in faults if r.get("status") != "Passed") + sum(
    1 for h in hangs if h["status"] != "Passed")
sys.exit(1 if failed else 0)
