"""A real browser drives notebook 04 in JupyterLab: a slider moved with the keyboard must make the explorer show the
F1 that the pure function ``melab.metrics.decode_and_score`` gives for the new value.

Debian's ``chromium`` is driven by Python Playwright (``executable_path``); Playwright's own browser download is not
used. Without chromium the test is skipped, with the reason in the pytest summary (``-ra``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "04_interval_decoding.ipynb"
SCREENSHOT = REPO / "build" / "browser" / "04_decoding_explorer.png"
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIDEO, STEP = "sub01_1", 0.05  # the video notebook 04's explorer shows, and its float sliders' step

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found: install Debian's chromium (`make browser`) "
                       "to run the real-browser test"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyter_lab(tmp_path):
    """JupyterLab on localhost serving a copy of notebook 04 (so autosave never touches the repository)."""
    root = tmp_path / "served"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')  # no news pop-up
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, TQDM_DISABLE="1", JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"JupyterLab did not start; see {tmp_path / 'server.log'}") from None
                    time.sleep(0.5)
            yield f"{url}/lab/tree/{NOTEBOOK.name}?token={token}"
        finally:
            os.kill(server.pid, signal.SIGTERM)  # the server shuts its kernel down on SIGTERM
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(server.pid, signal.SIGKILL)
                server.wait()


def explorer_inputs():
    """What notebook 04 passes to its explorer, rebuilt here from the shipped files."""
    from melab.data.splits import str3_classes, to_str3
    from melab.train import ARTEFACTS, load_roi_corpus, load_scores

    scores, _ = load_scores(ARTEFACTS / "spotter_lab_loso.npz")
    events = load_roi_corpus().events
    events["emotion"] = [to_str3(e, dataset="synthetic") for e in events["emotion"]]
    truth = events[events["video"] == VIDEO]
    return scores[VIDEO], truth, list(str3_classes("synthetic")) + ["neutral"]


def test_a_slider_moved_in_the_browser_shows_the_pure_f1(jupyter_lab, tmp_path):
    from playwright.sync_api import sync_playwright

    from melab.metrics import decode_and_score

    sources = ["".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text())["cells"]]
    assert any(f'VIDEO = "{VIDEO}"' in source for source in sources), "the notebook's explorer shows another video"
    s, truth, labels = explorer_inputs()

    def pure_f1(params):
        _, table = decode_and_score(s.spot, truth, class_probs=s.probs, labels=labels, **params)
        return f"{table['f1'].item():.4f}"

    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000})
        try:
            page = browser.new_page()
            page.goto(jupyter_lab)
            wait_idle = "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]" \
                        ".some(e => e.textContent.includes('| Idle'))"
            page.wait_for_function(wait_idle, timeout=90_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            f1_cell = page.locator('td[data-metric="f1"]')
            f1_cell.wait_for(timeout=90_000)

            def slider(name):
                label = page.locator(".widget-label").get_by_text(name, exact=True)
                return page.locator(".widget-slider").filter(has=label)

            def readout(name):
                return float(slider(name).locator(".widget-readout").inner_text())

            params = {name: readout(label) for name, label in
                      [("k", "k (frames)"), ("p", "p"), ("low", "low"), ("high", "high"), ("smooth", "smooth")]}
            params = params | {"k": int(params["k"]), "smooth": int(params["smooth"]),
                               "method": page.locator(".widget-dropdown select").input_value()}
            assert f1_cell.inner_text() == pure_f1(params)

            # the fewest ArrowRight presses on `high` after which the pure F1 differs
            presses = next(n for n in range(1, 8)
                           if pure_f1(params | {"high": round(params["high"] + n * STEP, 2)}) != pure_f1(params))
            expected = pure_f1(params | {"high": round(params["high"] + presses * STEP, 2)})
            handle = slider("high").locator(".noUi-handle")
            handle.focus()
            for _ in range(presses):
                handle.press("ArrowRight")
            page.wait_for_function("want => document.querySelector('td[data-metric=\"f1\"]').textContent === want",
                                   arg=expected, timeout=30_000)
            assert readout("high") == pytest.approx(params["high"] + presses * STEP)
            assert f1_cell.inner_text() == expected != pure_f1(params)

            page.wait_for_function(wait_idle, timeout=30_000)  # the timeline is redrawn after the table
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.locator(".melab-scores").scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
