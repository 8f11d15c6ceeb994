#!/usr/bin/env python3
"""Open an `exp-summary --html` page in headless Chromium and report what a
reader meets, as one JSON object on stdout, for the integration tests to
judge:

  console_errors  every console error and uncaught exception
  requests        every request the page made beyond its own file
  rows            the results table's rows
  figures, svgs   the plots' figures, and the SVG pictures among them
  failures        the failure groups' rows, each as its cells' text
  note, sorted_note
                  the line above the table, first and after the sorts
  ascending, descending
                  the sort column's cells after one click on its header,
                  then after a second
  screenshot_bytes
                  distinct byte values in the screenshot's pixels (a blank
                  page has two or three)

Usage: check_report.py PAGE --sort HEADER --screenshot OUT.png
Chromium: $EXP_CHROMIUM, else `chromium` on PATH (playwright's own browser
download is never used). As root, Chromium needs --no-sandbox.
"""

import argparse
import json
import os
import shutil
import struct
import sys
import zlib

from playwright.sync_api import sync_playwright


def chromium():
    path = os.environ.get("EXP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        sys.exit("check_report.py: no chromium (set EXP_CHROMIUM)")
    return path


def distinct_pixel_bytes(png):
    """Distinct byte values in a PNG's decompressed image data."""
    at, data = 8, b""
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        if kind == b"IDAT":
            data += png[at + 8 : at + 8 + length]
        at += 12 + length
    return len(set(zlib.decompress(data)))


def column_cells(page, index):
    return page.eval_on_selector_all(
        "#results tbody tr", "(rows, i) => rows.map(r => r.cells[i].textContent)", index
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("page")
    parser.add_argument("--sort", required=True)
    parser.add_argument("--screenshot", required=True)
    args = parser.parse_args()
    url = "file://" + os.path.abspath(args.page)
    report = {"console_errors": [], "requests": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: report["console_errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: report["console_errors"].append(str(e)))
        page.on("request", lambda r: report["requests"].append(r.url) if r.url != url else None)
        page.goto(url, wait_until="load")
        report["rows"] = page.locator("#results tbody tr").count()
        report["figures"] = page.locator("figure").count()
        report["svgs"] = page.locator("figure svg").count()
        report["note"] = page.inner_text("#results-note")
        report["failures"] = page.eval_on_selector_all(
            "table.failures tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.innerText))"
        )
        headers = page.eval_on_selector_all("#results thead th", "ths => ths.map(th => th.textContent)")
        index = headers.index(args.sort)
        header = page.locator("#results thead th").nth(index)
        header.click()
        report["ascending"] = column_cells(page, index)
        header.click()
        report["descending"] = column_cells(page, index)
        report["sorted_note"] = page.inner_text("#results-note")
        png = page.screenshot(path=args.screenshot, full_page=True)
        report["screenshot_bytes"] = distinct_pixel_bytes(png)
        browser.close()
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
