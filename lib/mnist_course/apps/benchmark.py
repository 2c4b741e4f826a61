"""Speed, measured: our data path against the reference pipeline, and epoch times.

    python -m mnist_course.apps.benchmark            # writes reports/benchmark.md
    python -m mnist_course.apps.benchmark --course   # also times a full course run

1. Throughput. The Step 4 model with its augmentation (random rotation of ±7°) trains
   for a fixed number of batches through (a) this project's path: the split as one
   normalised tensor on the device, batches by indexing, rotation on the whole batch;
   and (b) the reference pipeline: ``torchvision.datasets.MNIST`` with per-image
   ``RandomRotation`` / ``ToTensor`` / ``Normalize`` through a ``DataLoader`` (one worker
   per CPU core, pinned memory on CUDA, persistent workers). Same model, batch size,
   optimizer and device; the two alternate for several repeats and the median images
   per second of each is reported with their ratio.
2. One full epoch (train + test evaluation) of every step model with the settings of
   its recorded run (reports/), split into training and evaluation seconds.
3. With ``--course``: one full course run (every step notebook, all epochs and seeds)
   through the course command, its reports written to a temp folder so ``reports/``
   keeps the recorded run.

Writes ``reports/benchmark.md`` and ``reports/benchmark.json``; the README quotes the
latter through ``python scripts/update_readme.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision import datasets, transforms

from ..engine.augmentation import Augmentation
from ..engine.data import MNIST_MEAN, MNIST_STD, batches, ensure_mnist, load_mnist, random_rotate
from ..engine.models import MODELS, get_model
from ..engine.paths import atomic_write_text, recorded_reports_dir
from ..engine.reporting import load_reports
from ..engine.settings import quick_from_env
from ..engine.training import Extras, TrainConfig, config_from_record, device_name, fit, resolve_device
from .runner import run_course

BATCH_SIZE = 128     # images per step, as in the notebooks
MAX_ROTATION = 7.0   # degrees, Step 4's augmentation


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_steps(model, optimizer, pairs, device, n_batches: int, augment=None) -> float:
    """Run ``n_batches`` training steps from the iterator ``pairs``; return seconds."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(n_batches):
        X, y = next(pairs)
        X = X.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if augment is not None:
            X = augment(X)
        loss = F.cross_entropy(model(X), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return time.perf_counter() - start


def _forever(make_iter):
    while True:
        yield from make_iter()


def reference_loader(root: Path, device: torch.device, num_workers: int):
    """The reference pipeline: per-image PIL transforms in DataLoader workers."""
    transform = transforms.Compose([
        transforms.RandomRotation((-MAX_ROTATION, MAX_ROTATION), fill=(0,)),
        transforms.ToTensor(),
        transforms.Normalize((MNIST_MEAN,), (MNIST_STD,)),
    ])
    dataset = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    return torch.utils.data.DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, num_workers=num_workers,
                                       pin_memory=device.type == "cuda", persistent_workers=num_workers > 0,
                                       drop_last=True)



def throughput(root: Path, device: torch.device, n_batches: int, repeats: int) -> dict:
    """Images per second of both pipelines, alternating; medians and the ratio."""
    num_workers = os.cpu_count() or 1
    torch.manual_seed(0)
    model = get_model("step4").to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    train = load_mnist(True, root, device)
    generator = torch.Generator(device=device).manual_seed(0)
    ours = _forever(lambda: batches(train, BATCH_SIZE, shuffle=True, generator=generator))
    loader = reference_loader(root, device, num_workers)
    reference = _forever(lambda: iter(loader))
    # Warm-up of both (worker start-up, allocator, kernels) is not timed.
    _train_steps(model, optimizer, ours, device, 10, lambda X: random_rotate(X, MAX_ROTATION, generator))
    _train_steps(model, optimizer, reference, device, 10)
    rates = {"ours": [], "reference": []}
    for _ in range(repeats):
        seconds = _train_steps(model, optimizer, ours, device, n_batches,
                               lambda X: random_rotate(X, MAX_ROTATION, generator))
        rates["ours"].append(n_batches * BATCH_SIZE / seconds)
        seconds = _train_steps(model, optimizer, reference, device, n_batches)
        rates["reference"].append(n_batches * BATCH_SIZE / seconds)
    ours_median = statistics.median(rates["ours"])
    reference_median = statistics.median(rates["reference"])
    return {"ours": ours_median, "reference": reference_median, "ratio": ours_median / reference_median,
            "runs": rates, "num_workers": num_workers, "n_batches": n_batches, "repeats": repeats}


def recorded_step_configs(reports_dir: Path) -> dict[str, tuple[TrainConfig, Augmentation | None, Extras | None]]:
    """The training settings of each recorded step run (the "config" of
    ``reports/0N_*.json`` with its pieces, ``training.config_from_record``: (config,
    augment, extras)), by model name ("step1" ...). Raises FileNotFoundError if there are
    no step reports (run the course first)."""
    names = {cls.__name__: name for name, cls in MODELS.items()}
    configs = {names[r["model"]]: config_from_record(r) for r in load_reports(reports_dir) if r["model"] in names}
    if not configs:
        raise FileNotFoundError(f"no step reports in {reports_dir}; run `python -m mnist_course` first")
    return dict(sorted(configs.items()))


def epoch_times(root: Path, device: torch.device,
                configs: dict[str, tuple[TrainConfig, Augmentation | None, Extras | None]]) -> dict:
    """Seconds of one full epoch (train + evaluation on the 10,000 test images) per step
    model, with that step's recorded settings (its schedule compressed into one epoch;
    :func:`recorded_step_configs`)."""
    train, test = load_mnist(True, root, device), load_mnist(False, root, device)
    times = {}
    for name, (config, augment, extras) in configs.items():
        torch.manual_seed(1)
        config = replace(config, num_epochs=1)
        if extras is not None:  # the one epoch is timed augmented, as most epochs of the run are
            extras = replace(extras, clean_last_epochs=0)
        row = fit(get_model(name), train, test, config, log=None, augment=augment,
                  extras=extras)[0]
        times[name] = {"seconds": row["seconds"], "train_seconds": row["train_seconds"],
                       "eval_seconds": row["eval_seconds"]}
    return times


def course_time(device: str | None) -> dict:
    """Wall-clock seconds of a full course run (executed copies and reports in a temp
    folder, so ``reports/`` keeps the recorded run)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        results = run_course(device=device, output_dir=Path(tmp) / "runs", recorded_dir=Path(tmp) / "reports",
                             trial_dir=Path(tmp) / "trial")
        seconds = time.perf_counter() - start
    failed = [name for name, r in results.items() if r["error"]]
    return {"seconds": seconds, "notebooks": len(results), "failed": failed}


def render(result: dict) -> str:
    """reports/benchmark.md from the measured figures."""
    t = result["throughput"]
    lines = [
        "# Benchmark",
        "",
        f"Generated by `python -m mnist_course.apps.benchmark` on {result['finished_at']}. "
        f"Device: **{result['device']}**; CPU cores: {result['cpu_count']}; torch {result['torch_version']}; "
        f"Python {result['python_version']}; {result['platform']}.",
        "",
        "## Data pipeline: Step 4 model with ±7° rotation, batch 128",
        "",
        f"{t['n_batches']} training batches per measurement, the two pipelines alternating, "
        f"{t['repeats']} repeats, median shown. Reference: `torchvision.datasets.MNIST` with per-image "
        f"`RandomRotation`/`ToTensor`/`Normalize` through a `DataLoader` with {t['num_workers']} workers"
        f"{' and pinned memory' if 'cuda' in result['device_type'] else ''}.",
        "",
        "| pipeline | images / s (median) | all repeats |",
        "| --- | ---: | --- |",
        f"| this project (tensor on device, batch rotation) | {t['ours']:,.0f} | "
        f"{', '.join(f'{r:,.0f}' for r in t['runs']['ours'])} |",
        f"| reference (DataLoader, per-image transforms) | {t['reference']:,.0f} | "
        f"{', '.join(f'{r:,.0f}' for r in t['runs']['reference'])} |",
        "",
        f"**Speed-up: {t['ratio']:.2f}×**",
        "",
        "## One full epoch per step model (60,000 training + 10,000 test images)",
        "",
        "| model | epoch (s) | training (s) | test evaluation (s) | evaluation share |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, e in result["epochs"].items():
        lines.append(f"| {name} | {e['seconds']:.1f} | {e['train_seconds']:.1f} | {e['eval_seconds']:.2f} | "
                     f"{100 * e['eval_seconds'] / e['seconds']:.1f}% |")
    lines += ["", "## Full course run", ""]
    course = result.get("course")
    recorded = result.get("recorded_course")
    if course:
        lines.append(f"All {course['notebooks']} step notebooks, full epochs, through the course command in this "
                     f"benchmark run: **{course['seconds'] / 60:.1f} min** ({course['seconds']:.0f} s)"
                     + (f"; failed: {', '.join(course['failed'])}" if course["failed"] else "") + ".")
    else:
        lines.append("Not measured in this benchmark run (pass `--course`).")
    if recorded:
        per = ", ".join(f"{name} {r['seconds']:.0f} s" for name, r in recorded["notebooks"].items())
        lines += ["", f"The recorded course run (`reports/course_run.json`, finished {recorded['finished_at']}, "
                      f"device as in the step reports): **{recorded['total_seconds'] / 60:.1f} min** "
                      f"for {len(recorded['notebooks'])} notebooks ({per})."]
    lines += ["", "## GPU", "",
              "Measured on this run's device only. " + ("" if result["device_type"] == "cuda" else
                                                         "No GPU was available, so no GPU figures were measured."),
              ""]
    return "\n".join(lines)


def readme_excerpt(result: dict) -> str:
    """The README's quote of the benchmark (from ``reports/benchmark.json``): device,
    speed-up, epoch times."""
    t = result["throughput"]
    lines = [f"Measured on {result['device']} ({result['cpu_count']} CPU cores), torch {result['torch_version']}, "
             f"{t['repeats']} alternating repeats of {t['n_batches']} batches, {result['finished_at'][:10]}:",
             "",
             f"- Step 4 model with ±7° rotation, batch 128: this project's data path **{t['ours']:,.0f} images/s**, "
             f"the reference DataLoader pipeline {t['reference']:,.0f} images/s: **{t['ratio']:.2f}×**."]
    epochs = ", ".join(f"{name} {e['seconds']:.1f} s (evaluation {100 * e['eval_seconds'] / e['seconds']:.0f}%)"
                       for name, e in result["epochs"].items())
    lines.append(f"- One full epoch (train + test): {epochs}.")
    recorded = result.get("recorded_course")
    if recorded:
        # Name the notebooks it ran: a course run records only when it runs every notebook
        # of its time, and later steps are recorded on their own (course --steps).
        lines.append(f"- The last full course run ({recorded['finished_at'][:10]}): "
                     f"{recorded['total_seconds'] / 60:.1f} min for its {len(recorded['notebooks'])} notebooks "
                     f"({', '.join(recorded['notebooks'])}).")
    if result["device_type"] != "cuda":
        lines.append("- GPU: none was available for this measurement.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_course.apps.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--data-dir", help="folder containing MNIST/ (default: $MNIST_DATA_DIR, else data/)")
    parser.add_argument("--batches", type=int, default=100, help="training batches per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternations of the two pipelines")
    parser.add_argument("--course", action="store_true", help="also time a full course run")
    parser.add_argument("--output", type=Path, help="where to write the markdown (default: reports/benchmark.md)")
    args = parser.parse_args(argv)
    if args.course and quick_from_env():
        parser.error("--course times a full course run, but MNIST_COURSE_QUICK asks for quick mode; unset it")
    device = resolve_device(args.device, verbose=True)
    root = ensure_mnist(args.data_dir)
    result = {"device": device_name(device), "device_type": device.type, "cpu_count": os.cpu_count(),
              "torch_version": torch.__version__, "python_version": platform.python_version(),
              "platform": platform.platform(terse=True)}
    print("throughput ...", flush=True)
    result["throughput"] = throughput(root, device, args.batches, args.repeats)
    print(f"  ours {result['throughput']['ours']:,.0f} img/s, reference {result['throughput']['reference']:,.0f} "
          f"img/s, ratio {result['throughput']['ratio']:.2f}", flush=True)
    print("one epoch per step model ...", flush=True)
    reports_dir = recorded_reports_dir()
    result["epochs"] = epoch_times(root, device, recorded_step_configs(reports_dir))
    if args.course:
        print("full course run ...", flush=True)
        result["course"] = course_time(args.device)
    recorded = reports_dir / "course_run.json"
    if recorded.is_file():
        result["recorded_course"] = json.loads(recorded.read_text())
    result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    text = render(result)
    path = atomic_write_text(args.output or reports_dir / "benchmark.md", text)
    atomic_write_text(path.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    print(text)
    print(f"written to {path} and {path.with_suffix('.json').name}; refresh the README's speed section "
          f"with `python scripts/update_readme.py`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
