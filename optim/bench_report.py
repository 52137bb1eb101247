"""The speed appendix's report of one stored benchmark table (``make bench``'s ``<device>.json``):
what was measured, on what, and against which target — headings, sentences and tables, in the
order the appendix shows them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from IPython.display import Markdown


def _step_table(result: dict) -> pd.DataFrame:
    steps = pd.DataFrame(result["steps"]["rows"])
    if "ratio_q1" in steps:  # the spread of the round-by-round ratios
        steps["rounds (IQR)"] = [f"{a:.2f}–{b:.2f}×" for a, b in zip(steps.pop("ratio_q1"), steps.pop("ratio_q3"))]
    return steps


def report(result: dict, path: Path) -> Iterator[object]:
    """The display items of one stored benchmark ``result`` (read from ``path``)."""
    yield Markdown(f"## {result['hardware']}\n\n`{path}` · torch {result['torch']} · measured {result['date']}")
    steps = _step_table(result)
    yield Markdown(f"**Optimizer step**, {result['steps']['numel']:,} float32 values in {result['steps']['tensors']} "
                   f"tensors, median of {result['steps']['repeats']} steps:")
    yield (steps.style.format({"ours_ms": "{:.2f}", "reference_ms": "{:.2f}", "ratio": "{:.2f}×", "target": "≤ {:.2f}×"})
           .hide(axis="index"))
    if "paths" in result:
        yield Markdown("**Single-tensor vs multi-tensor path** of our optimizers, same parameters:")
        yield pd.DataFrame(result["paths"]).style.format({"single_ms": "{:.2f}", "foreach_ms": "{:.2f}",
                                                          "foreach_over_single": "{:.2f}×"}).hide(axis="index")
    yield Markdown("**Training throughput** of the book's training loop (Adam; the second epoch's training loop, its "
                   "test-set evaluation not counted):")
    yield pd.DataFrame(result["throughput"]).style.format({"epoch_s": "{:.3f}", "images_per_s": "{:,.0f}"}).hide(axis="index")
    if "book" in result:
        book = result["book"]
        rerender = (f"; re-rendered from the results it stored: {book['rerender_s']:.0f} s (target "
                    f"{book['rerender_target_s']} s)." if "rerender_s" in book else ".")
        yield Markdown(f"**Whole book**, quick profile from an empty cache: {book['seconds']:.0f} s (target "
                       f"{book['target_s']} s){rerender}")
    if "engine" in result:
        engine = result["engine"]
        yield Markdown(
            f"**Training engine**, full training loop with evaluation ({engine['n_train']:,} images, "
            f"{engine['epochs']} epochs, Adam): the engine now (bf16 autocast and channels_last where the CPU has "
            "native bf16, several runs at once, one thread each) against the engine as it was (one fp32 run on all "
            "cores) and against a plain PyTorch loop a reader would write (fp32, DataLoader). Images per second "
            f"summed over the runs at once; the share of the bf16 matmul peak "
            f"({engine['matmul_peak_gflops']['bf16']:,.0f} GFLOP/s measured in the same run; fp32: "
            f"{engine['matmul_peak_gflops']['fp32']:,.0f}) counts a training image as three forward passes:")
        yield pd.DataFrame(engine["rows"]).style.format({
            "baseline_img_s": "{:,.0f}", "plain_img_s": "{:,.0f}", "engine_img_s": "{:,.0f}",
            "engine_over_baseline": "{:.2f}×", "engine_over_plain": "{:.2f}×", "target": "≥ {:.1f}×",
            "gflop_per_image": "{:.4f}", "share_of_bf16_peak": "{:.1%}"}).hide(axis="index")
    missed = steps[~steps.met]
    yield Markdown("Targets missed: " + (", ".join(f"{r.optimizer} ({r.ratio:.2f}× vs ≤ {r.target:.2f}×)"
                                                  for r in missed.itertuples()) if len(missed) else "none") + ".")


def bf16_table(results: list[dict]) -> pd.DataFrame:
    """One row per stored ``python -m optim.bf16bench`` result: seconds per training step in
    fp32, and bf16 autocast with PyTorch's kernels and with fp32 kernels rounded once
    (:mod:`optim.bf16`) as multiples of it, measured side by side on one CPU."""
    from .bf16bench import FORMS

    rows = []
    for r in results:
        s = r["seconds_per_step"]
        rows.append({"CPU": r["cpu"], "native bf16": "yes" if r["native_bf16"] else "no", "model": r["model"],
                     "measured": r["date"], "fp32 (s per step)": s[FORMS[0]],
                     "bf16, PyTorch's kernels (× fp32)": s[FORMS[1]] / s[FORMS[0]],
                     "bf16, fp32 kernels rounded (× fp32)": s[FORMS[2]] / s[FORMS[0]]})
    return pd.DataFrame(rows)
