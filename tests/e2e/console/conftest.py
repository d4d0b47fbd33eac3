"""The console end to end: real headless Chromium, the console server, real services on the test infra.

Each backend runs as its own ``playbooks serve`` process allowing the console's origin through CORS;
the console server runs in a thread and tells the page where each backend is. Screenshots land in
the test's tmp folder, and in ``$PLAYBOOKS_SCREENSHOT_DIR`` (e.g. docs/screenshots) when that is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from playbooks_dev.embedded import free_port
from playbooks_dev.testing import Infra, ServiceProcess
from playbooks_platform.console import CONSOLE_BACKENDS, ConsoleSettings, create_console_app
from playbooks_platform.service import installed_services

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
]

# What the tests' runbooks may execute in real mode (the operator's cap; empty executes nothing).
BACKEND_ENV = {"runbook-runtime": {"PLAYBOOKS_REAL_MODE_COMMANDS": json.dumps(["echo"])}}

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -r tests/e2e/console/requirements.txt")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)


@dataclass
class Console:
    url: str
    services: dict[str, str]

    def backend(self, name: str) -> str:
        if name not in self.services:
            pytest.skip(f"{name} is not installed in this checkout")
        return self.services[name]


@contextlib.contextmanager
def serve_console(port: int, services: dict[str, str]) -> Iterator[str]:
    """The console server in a thread on ``port``, telling the page the given service URLs."""
    app = create_console_app(ConsoleSettings(service_urls=services))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the console server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# Package scope: the backends stop when the console's tests are done, so they never consume, beside
# another test's services, the messages that test is watching.
@pytest.fixture(scope="package")
def console(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    workdir = tmp_path_factory.mktemp("console")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    procs: list[ServiceProcess] = []
    for name in sorted(set(CONSOLE_BACKENDS) & set(installed_services())):
        # A data folder of its own: the default .data/ may be locked by a dev stack (the vector index is).
        env = {
            "PLAYBOOKS_CORS_ORIGINS": json.dumps([origin]),
            "PLAYBOOKS_DATA_DIR": str(workdir / f"{name}-data"),
        } | BACKEND_ENV.get(name, {})
        procs.append(ServiceProcess(name, infra, workdir, **env))

    async def start_all() -> None:
        for proc in procs:
            await proc.start()
        await asyncio.gather(*(proc.ready() for proc in procs))

    services = {p.name: p.url for p in procs}
    try:
        asyncio.run(start_all())
        with serve_console(port, services) as url:
            yield Console(url, services)
    finally:
        for proc in procs:
            proc.stop()


@pytest.fixture(scope="package")
def dead_console() -> Iterator[Console]:
    """A console whose every backend is down (a port nothing listens on)."""
    dead = f"http://127.0.0.1:{free_port()}"
    with serve_console(free_port(), dict.fromkeys(CONSOLE_BACKENDS, dead)) as url:
        yield Console(url, {})


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})  # script errors, for a failure's message
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


# The height of the page's content, or of the open modal's card when that is taller.
FULL_HEIGHT = """
const modal = document.querySelector("#modal:not([hidden]) > .card");
const modalHeight = modal ? modal.getBoundingClientRect().height + 80 : 0;
return Math.ceil(Math.max(document.documentElement.scrollHeight, modalHeight));
"""


@pytest.fixture
def screenshot(browser: webdriver.Chrome, tmp_path: Path) -> Callable[..., Path]:
    def shoot(name: str, max_height: int = 3000) -> Path:
        """The whole page (or the open modal) up to ``max_height`` pixels, not only the window's first screen."""
        path = tmp_path / f"{name}.png"
        size = browser.get_window_size()
        height = browser.execute_script(FULL_HEIGHT)
        browser.set_window_size(size["width"], min(max(size["height"], height + 140), max_height))
        browser.execute_script("window.scrollTo(0, 0)")
        try:
            browser.save_screenshot(str(path))
        finally:
            browser.set_window_size(size["width"], size["height"])
        if target := os.environ.get("PLAYBOOKS_SCREENSHOT_DIR"):
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(target) / path.name)
        return path

    return shoot


@dataclass
class Driver:
    """The browser on the console, with the few moves every test makes."""

    browser: webdriver.Chrome
    console: Console

    def sign_in(self, token: str, page: str) -> None:
        """A fresh tab state, signed in with ``token`` through the sign-in form, then ``page`` opened."""
        self.browser.get(self.console.url + "/")
        self.browser.execute_script("sessionStorage.clear()")
        self.browser.get(self.console.url + "/#/" + page)
        self.find("[data-test=token]").send_keys(token)
        self.find("[data-test=sign-in]").click()

    def wait(self, condition: Callable[[webdriver.Chrome], object], timeout: float = 15) -> object:
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        # A page re-renders after each action: an element found a moment ago may be gone; look again.
        wait = WebDriverWait(
            self.browser, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
        )
        try:
            return wait.until(condition)
        except TimeoutException:
            # Say what the page showed instead, so a failure can be understood from the log alone.
            body = self.browser.find_element("css selector", "body").text
            errors = [e["message"] for e in self.browser.get_log("browser") if e.get("source") == "javascript"]
            said = "".join(f"\nscript error: {m}" for m in errors)
            raise AssertionError(f"the page never got there; it shows:\n{body}{said}") from None

    def ready(self, name: str) -> None:
        """Wait until the page ``name`` finished loading (the router marks it on the view)."""
        self.find(f"#view[data-ready='{name}']")

    def find(self, css: str):  # -> WebElement, waiting for it to appear
        return self.wait(lambda b: (found := b.find_elements("css selector", css)) and found[0])

    def all(self, css: str) -> list:
        return self.browser.find_elements("css selector", css)

    def text(self, css: str) -> str:
        return str(self._again(lambda: self.find(css).text))

    def attr(self, css: str, name: str) -> str | None:
        """An attribute of the first match (found again if a live page re-rendered it meanwhile)."""
        return self._again(lambda: self.find(css).get_attribute(name))  # type: ignore[no-any-return]

    def click(self, css: str) -> None:
        self._again(lambda: self.find(css).click())

    def type(self, css: str, keys: str) -> None:
        """Type into (or choose a file for) the first match, found again if a live page re-rendered it."""
        self._again(lambda: self.find(css).send_keys(keys))

    def _again(self, read: Callable[[], object], tries: int = 20) -> object:
        # A live page (the run page follows its run) may replace an element between finding and using it.
        from selenium.common.exceptions import StaleElementReferenceException

        for _ in range(tries - 1):
            try:
                return read()
            except StaleElementReferenceException:
                continue
        return read()


def _poll(check: Callable[[], object], timeout: float = 20, interval: float = 0.2) -> object:
    """Call ``check()`` until it returns something truthy (for API state the page is about to show)."""
    deadline = time.monotonic() + timeout
    while not (last := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not there after {timeout}s (last: {last!r})")
        time.sleep(interval)
    return last


@pytest.fixture
def poll() -> Callable[..., object]:
    return _poll


@pytest.fixture
def page(browser: webdriver.Chrome, console: Console) -> Driver:
    return Driver(browser, console)
