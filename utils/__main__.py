"""The course's command line: ``python -m utils <command>`` (``--help`` lists them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import chapters as course


def _doctor(args: argparse.Namespace) -> int:
    from . import runtime

    if args.gpu_check:  # ./course setup on an NVIDIA machine: both frameworks must see the GPU
        problems = runtime.gpu_problems()
        for line in problems:
            print(f"[course] ERROR {line}", file=sys.stderr)
        return 1 if problems else 0
    print(runtime.describe())
    return 0


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "render_only", False):  # bench --render-only: the page from the json alone
        from . import benchmarks

        md = benchmarks.render(Path(args.docs))
        print(f"Wrote {md} and its charts from {md.with_suffix('.json')} (nothing was run)")
        return 0
    from . import runner, runtime

    dry_run = runtime.dry_run_requested()
    if dry_run and args.profile not in (None, "full"):
        raise runtime.ConfigError(f"COURSE_DRY_RUN=1 dry-runs the full profile; --profile "
                                  f"{args.profile} contradicts it (drop --profile).")
    if args.command == "bench" and dry_run:
        print("COURSE_DRY_RUN=1 runs a few steps of each training: it measures nothing, so "
              "`bench` does not record it. Use `python -m utils run` for a dry run, or unset "
              "COURSE_DRY_RUN to benchmark.")
        return 2

    try:
        runs = runner.run_chapters(args.chapters, args.profile, args.timeout, args.framework,
                                   resume=getattr(args, "resume", False))
    except runner.Stopped as stopped:
        if stopped.runs:
            print("\n" + runner.table(stopped.runs))
        return 130
    if not runs:
        print("Nothing ran: no chapter notebooks found in solutions/.")
        return 1
    print("\n" + runner.table(runs))
    print(f"\nExecuted notebooks (with outputs and figures) are in {runner.BUILD}/")
    if args.command == "bench":
        md = runner.write_benchmarks(runs, args.profile, Path(args.docs))
        print(f"Wrote {md} and {md.with_suffix('.json')}")
    failed = [r for r in runs if not r.ok]
    for r in failed:
        print(f"FAILED {r.chapter}/{r.framework}: {r.error}\n  see {r.output}")
    missed = [r for r in runs if r.missed()]
    for r in missed:
        print(f"MISSED {r.chapter}/{r.framework}: target(s) {', '.join(r.missed())} "
              f"(the notebook ran to the end; see its output in {r.output})")
    return 1 if failed or missed else 0


def _exercises(args: argparse.Namespace) -> int:
    from . import exercises

    changed = exercises.generate(course.ROOT / "solutions", course.ROOT / "chapters",
                                 check=args.check)
    if args.check:
        for path in changed:
            print(f"out of date: {path} (run: python -m utils exercises)")
        return 1 if changed else 0
    print(f"chapters/ generated from solutions/: {len(changed)} notebook(s) updated")
    return 0


def _grade_check(args: argparse.Namespace) -> int:
    from . import grading

    checks = grading.check_chapters(args.chapters, args.profile, args.timeout,
                                    Path(args.keep) if args.keep else None)
    print("\n" + grading.table(checks))
    bad = [(c, c.problems()) for c in checks if c.problems()]
    for c, problems in bad:
        print(f"PROBLEM {c.name}:\n  " + "\n  ".join(problems))
    return 1 if bad else 0


def _clean(args: argparse.Namespace) -> int:
    import nbformat

    for path in sorted(course.ROOT.glob("*/*/*.ipynb")):
        if path.parts[-3] not in ("chapters", "solutions"):
            continue
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        text = nbformat.writes(nb) + "\n"
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"cleaned {path.relative_to(course.ROOT)}")
    return 0


def _book(args: argparse.Namespace) -> int:
    from . import book

    if args.action == "preprocess":  # mdBook: `… preprocess` or `… preprocess supports html`
        return book.preprocessor_main(args.rest)
    if args.action == "supports":
        return book.preprocessor_main(["supports", *args.rest])
    if args.rest:
        raise SystemExit(f"python -m utils book build: unexpected arguments {args.rest}")
    index = book.build_site(out=Path(args.out) if args.out else None)
    print(f"Wrote the book to {index.parent}/: open {index} in a browser, or serve it with "
          f"python -m http.server -d {index.parent}")
    return 0


def _launch(args: argparse.Namespace) -> int:
    from . import launcher

    framework = "pytorch" if args.framework == "torch" else args.framework
    return launcher.launch(course.resolve([args.chapter])[0], framework, args.nproc,
                           args.profile, args.run_dir, args.fresh)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="print the runtime report: devices (a convolution "
                            "on each), versions, each chapter's precision, the profile")
    doctor.add_argument("--gpu-check", action="store_true",
                        help="on an NVIDIA machine, exit 1 with one line per framework that "
                             "cannot use the GPU (what ./course setup runs)")
    for name, text in (("run", "execute chapter notebooks headless into build/ and summarise"),
                       ("bench", "like run, and write docs/benchmarks.md + .json")):
        p = sub.add_parser(name, help=text)
        p.add_argument("chapters", nargs="*", help="e.g. 00_setup or 01 (default: all)")
        p.add_argument("--profile", choices=["smoke", "quick", "full"],
                       help="default: chosen automatically per machine")
        p.add_argument("--timeout", type=int, default=None, help="seconds per cell")
        p.add_argument("--framework", action="append", choices=["pytorch", "keras"],
                       help="only this framework's notebooks (repeatable; default: both)")
        if name == "run":
            p.add_argument("--resume", action="store_true", help="skip the notebooks the "
                           "previous run finished in the same profile (after Ctrl-C or a "
                           "failure), and continue with the rest")
        if name == "bench":
            p.add_argument("--docs", default=str(course.ROOT / "docs"), help="output folder")
            p.add_argument("--render-only", action="store_true", help="run nothing: rewrite "
                           "benchmarks.md and its charts from benchmarks.json")
    p = sub.add_parser("launch", help="chapter 07's distributed training outside the notebook "
                       "(torchrun, or TensorFlow's multi-worker launcher)")
    p.add_argument("chapter", help="07 or 07_scale_out")
    p.add_argument("--nproc", default="2", help="CPU processes (default 2), or gpu: one per GPU")
    p.add_argument("--framework", choices=["pytorch", "torch", "keras"], default="pytorch")
    p.add_argument("--profile", choices=["smoke", "quick", "full"],
                   help="the notebook's sizes of this profile (default: chosen for the machine)")
    p.add_argument("--run-dir", help="default: build/scale_out/<framework>; a checkpoint "
                   "there is resumed")
    p.add_argument("--fresh", action="store_true", help="delete the run folder first")
    p = sub.add_parser("exercises", help="generate chapters/ from solutions/")
    p.add_argument("--check", action="store_true", help="only report out-of-date notebooks")
    p = sub.add_parser("grade-check", help="check the exercises with nbgrader itself: "
                       "generate_assignment, then autograde the unchanged stub (0 points) and "
                       "the solution (full points), per notebook")
    p.add_argument("chapters", nargs="+", help="e.g. 00_setup or 01")
    p.add_argument("--profile", choices=["smoke", "quick", "full"], default="smoke",
                   help="COURSE_PROFILE while autograding (default: smoke)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    p.add_argument("--keep", metavar="DIR", help="build the nbgrader courses in DIR and keep "
                   "them (default: a temporary folder, deleted afterwards)")
    sub.add_parser("clean", help="strip outputs from the notebooks in chapters/ and solutions/")
    p = sub.add_parser("book", help="build the course book as a static site in build/book/ "
                       "(default), or act as mdBook's preprocessor (preprocess, supports)")
    p.add_argument("action", nargs="?", choices=["build", "preprocess", "supports"],
                   default="build", help="build (default): the static site; preprocess: mdBook's "
                   "preprocessor (JSON on stdin/stdout); supports RENDERER: exit 0 if supported")
    p.add_argument("rest", nargs="*", help="preprocess: [supports RENDERER]; supports: RENDERER")
    p.add_argument("--out", help="build: output folder (default: book.toml's build-dir)")
    args = parser.parse_args(argv)
    handler = {"doctor": _doctor, "run": _run, "bench": _run, "exercises": _exercises,
               "launch": _launch,
               "grade-check": _grade_check, "clean": _clean, "book": _book}[args.command]
    from .runtime import ConfigError

    try:
        return handler(args)
    except ConfigError as e:  # a bad setting: one line naming it and the valid choices
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
