"""The dashboard at ``/``, in a real headless Chromium driven by Selenium
against a real ``farout serve``: it loads with no console errors, fetches
nothing outside the service, draws its charts from the service's numbers,
and a click on a verdict records feedback that the summary then counts.

The browser is Debian's ``chromium`` with its ``chromium-driver`` (which
.ci/run installs), given by path so that Selenium Manager never runs and
nothing is downloaded. Without them the test skips, unless
``FAROUT_REQUIRE_BROWSER=1`` (set by .ci/run) makes that a failure.
"""

import os
import shutil
import urllib.request

import pytest
from servers import Server, make_key, payments

import farout as fo
from farout.client import Client
from farout.thresholds import Percentile

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        message = f"no browser to test the dashboard in: {', '.join(missing)} missing (.ci/run installs Debian's chromium and chromium-driver)"
        if os.environ.get("FAROUT_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,2000",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: Selenium Manager, which would download one, never runs
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, score key, admin client, model file) with scored rows."""
    folder = tmp_path_factory.mktemp("dashboard")
    tiers = {"low": Percentile(95), "high": Percentile(99.5)}
    det = fo.KMeansAnomalyDetector(n_clusters=3, random_state=0, tiers=tiers).fit(payments(2000, 0))
    model = det.save(folder / "payments.farout")
    registry = folder / "registry"
    admin_key, score_key = make_key(registry), make_key(registry, scope="score")
    server = Server(registry, None, "-q").start()
    try:
        admin = Client(server.url, admin_key)
        admin.upload(model)
        calm = payments(400, 1)
        shifted = payments(400, 2)
        shifted["amount"] *= 1.8  # a drift the page must show
        admin.detect(calm)
        admin.detect(shifted)
        yield server, score_key, admin, model
    finally:
        server.stop()


@pytest.fixture
def browser():
    driver = _browser()
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _numbers(driver, selector, attribute="data-count"):
    from selenium.webdriver.common.by import By

    return [
        float(e.get_attribute(attribute)) for e in driver.find_elements(By.CSS_SELECTOR, selector)
    ]


def _sign_in(driver, server, key, analyst):
    from selenium.webdriver.common.by import By

    driver.get(server.url + "/")
    _wait(driver, lambda d: d.find_element(By.ID, "setup").is_displayed())
    driver.find_element(By.ID, "api-key").send_keys(key)
    driver.find_element(By.ID, "analyst").send_keys(analyst)
    driver.find_element(By.ID, "save-settings").click()
    _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"))


def _errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_dashboard_loads_draws_the_service_numbers_and_records_a_verdict(served, browser):
    from selenium.webdriver.common.by import By

    server, key, admin, _ = served
    _sign_in(browser, server, key, "ann")
    assert _errors(browser) == []

    # the page fetched nothing outside the service, and no key sits in a URL
    urls = browser.execute_script(
        "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]"
    )
    assert len(urls) > 5 and all(u.startswith(server.url + "/") for u in urls), urls
    assert not any(key in u for u in urls)
    assert browser.execute_script("return localStorage.getItem('farout.apiKey')") == key

    monitoring = admin.monitoring(window="1h")
    # alert volume by severity: the bars add up to the flagged rows, per tier
    flagged = monitoring["alert_rate"]["flagged"]
    assert flagged > 20 and sum(_numbers(browser, "#alert-volume rect.alerts")) == flagged
    high = sum(w["by_severity"].get("high", 0) for w in monitoring["alert_rate"]["windows"])
    assert sum(_numbers(browser, "#alert-volume rect[data-severity='high']")) == high > 0
    # the score distributions: live and training counts, the threshold and the tiers
    assert sum(_numbers(browser, "#score-distribution rect.live")) == monitoring["rows"] == 800
    assert sum(_numbers(browser, "#score-distribution rect.training")) == 2000
    cuts = _numbers(browser, "#score-distribution line.cut", "data-cut")
    expected = [
        monitoring["threshold"]["cut"],
        *(t["cut"] for t in monitoring["threshold"]["tiers"]),
    ]
    assert cuts == pytest.approx(expected)
    # drift per feature: amount drifted, the others did not
    status = {
        row.get_attribute("data-feature"): row.get_attribute("data-status")
        for row in browser.find_elements(By.CSS_SELECTOR, "#drift tbody tr")
    }
    assert status == {"scores": "drift", "amount": "drift", "hour": "stable", "kind": "stable"}
    # the model versions, with the champion
    versions = browser.find_elements(By.CSS_SELECTOR, "#models tbody tr")
    assert [v.get_attribute("data-version") for v in versions] == ["1"]
    assert "champion" in versions[0].text
    # no verdicts yet: the precision chart is empty, the queue is full
    assert _numbers(browser, "#precision-by-tier rect", "data-reviewed") in ([], [0.0, 0.0])
    queue = browser.find_elements(By.CSS_SELECTOR, "#queue li")
    assert len(queue) == min(50, flagged)
    assert all(item.find_element(By.CLASS_NAME, "reason").text for item in queue)

    # a click posts the verdict at once, under the analyst's name
    first = queue[0]
    prediction_id = first.get_attribute("data-prediction")
    first.find_element(By.CSS_SELECTOR, "button[data-verdict='anomaly']").click()
    _wait(browser, lambda d: first.get_attribute("data-verdict") == "anomaly")
    summary = admin.feedback_summary()
    assert summary["verdicts"] == {"anomaly": 1, "normal": 0, "unsure": 0}
    assert summary["reviewed"] == 1
    (verdict,) = admin.prediction(prediction_id)["feedback"]
    assert (verdict["verdict"], verdict["analyst"]) == ("anomaly", "ann")
    tier = admin.prediction(prediction_id)["severity"]
    _wait(
        browser,
        lambda d: (
            _numbers(d, f"#precision-by-tier rect[data-tier='{tier}']", "data-reviewed") == [1.0]
        ),
    )
    assert _numbers(browser, f"#precision-by-tier rect[data-tier='{tier}']", "data-precision") == [
        1.0
    ]

    # a reload keeps the key and the name, and the judged alert leaves the queue
    browser.refresh()
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"))
    assert not browser.find_element(By.ID, "setup").is_displayed()
    ids = [
        e.get_attribute("data-prediction")
        for e in browser.find_elements(By.CSS_SELECTOR, "#queue li")
    ]
    assert prediction_id not in ids and len(ids) == min(50, flagged - 1)
    browser.find_element(By.CSS_SELECTOR, "#queue li button[data-verdict='normal']").click()
    _wait(browser, lambda d: admin.feedback_summary()["verdicts"]["normal"] == 1)
    assert admin.feedback_summary()["analysts"] == 1
    assert _errors(browser) == []


def test_dashboard_asks_again_for_a_refused_key_and_serves_its_own_icon(served, browser):
    from selenium.webdriver.common.by import By

    server, _, _, _ = served
    with urllib.request.urlopen(server.url + "/favicon.ico", timeout=10) as response:
        assert response.headers["Content-Type"] == "image/x-icon"
        assert response.read()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    with urllib.request.urlopen(server.url + "/", timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    browser.get(server.url + "/")
    browser.find_element(By.ID, "api-key").send_keys("fo_wrong_key")
    browser.find_element(By.ID, "analyst").send_keys("bob")
    browser.find_element(By.ID, "save-settings").click()
    _wait(browser, lambda d: "refused" in d.find_element(By.ID, "status").text)
    assert browser.find_element(By.ID, "setup").is_displayed()
    # the only errors are the refused requests themselves
    errors = _errors(browser)
    assert errors and all("401" in e["message"] for e in errors), errors
