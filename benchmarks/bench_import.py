"""Benchmark: import 1,000 synthetic Go Pilot recordings and print how long it took (target: under 30 s).

The recordings are the two fixture recordings (tests/fixtures/pilot-go-recordings), alternated, each with its
own id and task, one of five projects, and every time shifted by its own offset (start, end and each line's
timestamp). The import runs as `pilot metrics import pilot-recordings` does, with the progress bar drawn on
stderr, into a fresh database in a temporary directory; then once more, when every recording is skipped.

    python benchmarks/bench_import.py [--count N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tqdm import tqdm

from hookspecs.manager import PluginHost
from pilot_metrics_plugin import importer
from pilot_metrics_plugin.plugin import MetricsPlugin

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pilot-go-recordings"
TEMPLATES = ("TG-1763980000000", "TG-1763990000000")
PROJECTS = ("shop", "billing", "search", "mobile", "infra")
_STAMP = re.compile(rb'^\{"timestamp":"([^"]+)"')
_GO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _load_template(name: str) -> tuple[dict, list[tuple[datetime, bytes]]]:
    metadata = json.loads((FIXTURES / name / "metadata.json").read_text())
    lines = []
    for line in (FIXTURES / name / "stream.jsonl").read_bytes().splitlines():
        match = _STAMP.match(line)
        assert match, "every fixture line starts with its timestamp"
        stamp = datetime.strptime(match.group(1).decode(), _GO_TIME).replace(tzinfo=timezone.utc)
        lines.append((stamp, line[match.end():]))
    return metadata, lines


def make_recordings(root: Path, count: int) -> None:
    templates = [_load_template(name) for name in TEMPLATES]
    base_ms = 1_760_000_000_000
    for i in range(count):
        metadata, lines = templates[i % len(templates)]
        shift = timedelta(minutes=7 * i)
        recording_id = f"TG-{base_ms + i * 420_000}"
        directory = root / recording_id
        directory.mkdir(parents=True)
        start = _parse(metadata["start_time"]) + shift
        end = _parse(metadata["end_time"]) + shift
        project = PROJECTS[i % len(PROJECTS)]
        meta = {
            **metadata,
            "id": recording_id,
            "task_id": f"GH-{1000 + i}",
            "project_path": f"/home/user/Projects/{project}",
            "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "stream_path": str(directory / "stream.jsonl"),
        }
        (directory / "metadata.json").write_text(json.dumps(meta, indent=2))
        with open(directory / "stream.jsonl", "wb") as out:
            for stamp, rest in lines:
                moved = (stamp + shift).strftime(_GO_TIME).encode()
                out.write(b'{"timestamp":"' + moved + b'"' + rest + b"\n")


def timed_import(directory: Path, db: Path) -> tuple[float, importer.ImportReport]:
    plugin = MetricsPlugin(db_path=db)
    host = PluginHost.create([("metrics", plugin)], load_entrypoints=False)
    started = time.perf_counter()
    sources = importer.find_recordings(directory, plugin.config().projects)
    store = plugin.open_store()
    with tqdm(total=len(sources), file=sys.stderr, unit="source", desc="importing", leave=False) as bar:
        report = importer.run_import(host, plugin, sources, store=store, advance=lambda: bar.update(1))
    store.close()
    return time.perf_counter() - started, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and print its path")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        recordings = work / "recordings"
        started = time.perf_counter()
        make_recordings(recordings, args.count)
        size_mb = sum(p.stat().st_size for p in recordings.rglob("*") if p.is_file()) / 1e6
        print(f"made {args.count} recordings ({size_mb:,.0f} MB) in {time.perf_counter() - started:.1f} s")
        seconds, report = timed_import(recordings, work / "metrics.db")
        print(report.summary())
        each_ms = seconds / args.count * 1000
        print(f"import: {seconds:.1f} s, {args.count} recordings ({each_ms:.1f} ms each), target under 30 s")
        seconds_again, report = timed_import(recordings, work / "metrics.db")
        print(report.summary())
        print(f"again (all skipped): {seconds_again:.2f} s")
        return 0 if seconds < 30 and not report.failed else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
