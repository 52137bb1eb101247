"""Where the project keeps things, and the names every module agrees on."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]           # the checkout: chapters/, data/, _toc.yml
BUILD = ROOT / "_build"                               # executed chapters, the HTML book, bench drafts
CLAIMS = BUILD / "claims"                             # each chapter's claims table, for the scoreboard
PROFILES = ("quick", "full")                          # a chapter's sizes: CPU minutes, or paper scale
DEVICES = ("auto", "cpu", "cuda")                     # where a run trains ("auto": CUDA if available)
