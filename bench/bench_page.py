"""Benchmark: the graph page (`graphkit graph --format html`) on a generated repo.

    python bench/bench_page.py [--packages 5000] [--files 20000] [--runs 5]

Generates the repo with bench/gen_repo.py (seeded), writes the page for the change
HEAD~1..HEAD (affected targets coloured), and reports:

- the page's size (goal: under 5 MB at 5,000 packages);
- the time to write it (one process, warm memo);
- the time to open it in headless Chromium (Debian's, through Selenium): from the
  navigation's start to the page's first drawing laid out (goal: under 2 s), and
  the time to focus one target after a search, median of --runs fresh loads.

Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model  # bench/machine.py, beside this script

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=5000)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch) / "repo"
        subprocess.run(
            [
                sys.executable,
                str(HERE / "gen_repo.py"),
                str(repo),
                "--packages",
                str(args.packages),
                "--files",
                str(args.files),
                "--seed",
                str(args.seed),
            ],
            check=True,
            capture_output=True,
        )
        page = Path(scratch) / "graph.html"
        command = [
            "graphkit",
            "graph",
            "--format",
            "html",
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "-o",
            str(page),
        ]
        subprocess.run(command, cwd=repo, check=True)  # cold: fills the memo
        start = time.perf_counter()
        subprocess.run(command, cwd=repo, check=True)
        write_s = time.perf_counter() - start
        size = page.stat().st_size

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1400,900",
            f"--user-data-dir={scratch}/profile",
        ):
            options.add_argument(arg)
        driver = webdriver.Chrome(
            service=Service(shutil.which("chromedriver") or "chromedriver"), options=options
        )
        opens, focuses, targets = [], [], 0
        try:
            for _ in range(args.runs):
                driver.get("about:blank")
                driver.get(page.as_uri())
                while driver.execute_script("return document.body.dataset.ready") != "true":
                    time.sleep(0.01)
                # performance.now() counts from the navigation's start.
                opens.append(driver.execute_script("return performance.now()") / 1000)
                targets = driver.execute_script(
                    "return JSON.parse("
                    "document.getElementById('graph-data').textContent).targets.length"
                )
                focuses.append(
                    driver.execute_script(
                        "const t0 = performance.now();"
                        "window.graphkitPage.focus('//libs/group00/pkg0000:pkg0000');"
                        "return (performance.now() - t0) / 1000;"
                    )
                )
        finally:
            driver.quit()

    chromium = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout
    print(
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {chromium.strip()}\n"
    )
    print(
        f"| packages | targets | page size | write (warm) | open (median of {args.runs}) "
        "| focus pkg0000 (median) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {args.packages:,} | {targets:,} | {size / 1e6:.2f} MB | {write_s:.2f} s "
        f"| {statistics.median(opens):.2f} s (range {min(opens):.2f} to {max(opens):.2f}) "
        f"| {statistics.median(focuses):.2f} s |"
    )


if __name__ == "__main__":
    main()
