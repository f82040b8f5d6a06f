"""The lineage pages: an index of teams and one page per team, self-contained, laid out left to right
by the compiler, and working in a real browser (headless Chromium from Debian, driven by Selenium
with the system chromedriver)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import EXAMPLES

from compiler.backends import lineage_html
from compiler.build import Layout, load_and_check

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SOURCE = "risk/fraud-detection:sources.transactions"
OTHER_TEAMS_SERVING = "growth/merchant-recs:serving.recs-api"


@pytest.fixture(scope="module")
def pages(checked_examples, tmp_path_factory) -> Path:
    """What compile writes under generated/ for the lineage pages (the index and each team's)."""
    out = tmp_path_factory.mktemp("generated")
    for doc in lineage_html.emit(checked_examples):
        (out / doc.path).parent.mkdir(parents=True, exist_ok=True)
        (out / doc.path).write_text(doc.content, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def page(pages) -> Path:
    """risk's page: risk's project and, of growth's, what follows from training on risk's model."""
    return pages / lineage_html.team_path("risk")


def test_the_index_links_every_team_page(pages):
    html = (pages / lineage_html.PATH).read_text(encoding="utf-8")
    links = re.findall(r'href="(teams/[^"]+)"', html)
    assert sorted(set(links)) == ["teams/growth.html", "teams/risk.html"]
    assert all((pages / "lineage" / link).is_file() for link in links)
    assert "fraud-detection" in html and "merchant-recs" in html


def test_a_team_page_shows_the_projects_it_exchanges_models_with(checked_examples):
    assert {n.split(":")[0] for n in lineage_html.team_nodes(checked_examples, "growth")} == \
        {"growth/merchant-recs", "risk/fraud-detection"}  # merchant-recs trains on risk's model


# -- the file itself ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", [lineage_html.PATH, lineage_html.team_path("risk")])
def test_the_page_needs_no_network(pages, path):
    html = (pages / path).read_text(encoding="utf-8")
    assert not re.search(r"""<(script|link|img|iframe)[^>]*\s(src|href)=""", html)
    assert "@import" not in html and not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "default-src 'none'" in html  # and the browser is told to refuse any fetch


def test_the_layout_runs_left_to_right_by_stage(checked_examples):
    page = lineage_html._Page(checked_examples)
    boxes, _ = page.boxes()
    page.place(boxes, page.shown_edges())
    x = {b.id: b.x for b in boxes}
    for a, b, _ in page.shown_edges():
        assert x[a] < x[b], f"{a} → {b} runs right to left"
    order = ["source", "step", "artifact", "evaluation", "serving", "release"]
    for kind in ("evaluation", "serving", "release"):
        earlier = [b.x for b in boxes if order.index(b.kind) < order.index(kind)]
        assert min(b.x for b in boxes if b.kind == kind) > max(earlier)


def test_projects_are_bands_grouped_by_team(checked_examples):
    page = lineage_html._Page(checked_examples)
    boxes, _ = page.boxes()
    bands, _ = page.place(boxes, page.shown_edges())
    teams = [b["team"] for b in bands if b["type"] == "team"]
    assert teams == sorted(set(teams))
    for box in boxes:
        band = next(b for b in bands if b.get("project") == box.project)
        assert band["y"] < box.y and box.y + lineage_html.NODE_H <= band["y"] + band["height"]


def test_spec_text_cannot_break_out_of_the_page(example_repo):
    from conftest import edit

    edit(example_repo / "specs/growth/merchant-recs.yaml",
         "description: Recommends", "description: </script><script>alert(1)</script> Recommends")
    html = lineage_html.render_team(load_and_check(Layout(example_repo)), "growth")
    assert "<script>alert(1)" not in html
    assert html.count("</script>") == 2  # the data block's and the page script's own


def test_the_pages_are_the_same_bytes_every_time(checked_examples):
    again = load_and_check(Layout(EXAMPLES))
    assert [(d.path, d.content) for d in lineage_html.emit(checked_examples)] == \
        [(d.path, d.content) for d in lineage_html.emit(again)]


# -- in the browser ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        message = f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI installs them (.ci/run); never skip the browser test there
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mlopsc-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={profile}", "--window-size=2440,1000",
                 "--hide-scrollbars"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def loaded(browser, page):
    browser.get(page.as_uri())
    browser.get_log("browser")  # start each test with an empty console
    return browser


def _node(driver, node_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'g.node[data-id="{node_id}"]')


def _classes(element) -> set[str]:
    return set((element.get_attribute("class") or "").split())


def test_the_page_loads_without_console_errors_and_shows_every_project(browser, page, checked_examples):
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    titles = [t.text.split()[0] for t in browser.find_elements(By.CSS_SELECTOR, ".project-band .band-title")
              if t.is_displayed()]
    # The page's own team first, then the other teams' parts of projects.
    assert titles == [p.model.metadata.name for p in checked_examples.projects if p.model.metadata.team == "risk"] + \
        [p.model.metadata.name for p in checked_examples.projects if p.model.metadata.team == "growth"]
    shown = {e.get_attribute("data-project") for e in browser.find_elements(By.CSS_SELECTOR, "g.node")
             if e.is_displayed()}
    assert shown == {p.key for p in checked_examples.projects}


def test_clicking_a_source_highlights_another_teams_serving_target(loaded, tmp_path):
    from selenium.webdriver.common.by import By

    _node(loaded, SOURCE).click()
    assert "selected" in _classes(_node(loaded, SOURCE))
    serving = _node(loaded, OTHER_TEAMS_SERVING)
    assert "downstream" in _classes(serving)
    assert serving.get_attribute("data-team") != "risk"
    assert "downstream" in _classes(_node(loaded, "risk/fraud-detection:serving.fraud-api.environments.production"))
    unrelated = _node(loaded, "risk/fraud-detection:sources.chargebacks")  # feeds nothing transactions feeds
    assert not _classes(unrelated) & {"selected", "upstream", "downstream"}
    assert float(unrelated.value_of_css_property("opacity")) < 0.5  # it recedes
    panel = loaded.find_element(By.ID, "details").text
    assert "2026-11-01" in panel and "team growth" in panel and "recs-api" in panel
    shot = tmp_path / "lineage.png"
    assert loaded.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert not [e for e in loaded.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_a_node_id_in_the_url_opens_selected(browser, page):
    from urllib.parse import quote

    browser.get(page.as_uri() + "#" + quote(OTHER_TEAMS_SERVING, safe=""))
    assert "selected" in _classes(_node(browser, OTHER_TEAMS_SERVING))
    assert "upstream" in _classes(_node(browser, SOURCE))


def test_a_node_link_to_the_index_opens_its_teams_page(browser, pages):
    from urllib.parse import quote

    browser.get((pages / lineage_html.PATH).as_uri() + "#" + quote(SOURCE, safe=""))
    assert browser.current_url.split("#")[0].endswith("/lineage/teams/risk.html")
    assert "selected" in _classes(_node(browser, SOURCE))


def test_the_index_page_links_to_a_team_page_that_works(browser, pages):
    from selenium.webdriver.common.by import By

    browser.get((pages / lineage_html.PATH).as_uri())
    browser.find_element(By.LINK_TEXT, "growth").click()
    assert browser.current_url.endswith("/lineage/teams/growth.html")
    assert _node(browser, "growth/merchant-recs:steps.train").is_displayed()
    assert not [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_clicking_a_release_highlights_its_upstream(loaded):
    _node(loaded, "risk/fraud-detection:serving.fraud-api.environments.production").click()
    assert "upstream" in _classes(_node(loaded, SOURCE))
    assert "upstream" in _classes(_node(loaded, "risk/fraud-detection:evaluations.holdout"))
    assert not _classes(_node(loaded, OTHER_TEAMS_SERVING)) & {"upstream", "downstream"}


def test_filtering_by_project_restacks_the_bands(loaded):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    growth_train = _node(loaded, "growth/merchant-recs:steps.train")
    risk_train = _node(loaded, "risk/fraud-detection:steps.train")
    before = growth_train.rect["y"]
    Select(loaded.find_element(By.ID, "project-filter")).select_by_value("growth/merchant-recs")
    assert not risk_train.is_displayed()
    assert growth_train.is_displayed()
    assert growth_train.rect["y"] < before  # growth's band moved up into the space risk's left
    cross = loaded.find_elements(By.CSS_SELECTOR, "path.edge.cross-team")
    assert cross and not any(e.is_displayed() for e in cross)
    Select(loaded.find_element(By.ID, "project-filter")).select_by_value("")
    assert risk_train.is_displayed() and growth_train.rect["y"] == before


def test_a_team_page_shows_its_own_team_first_in_view(loaded):
    """Another team's part of a project comes after the page's team, marked as what it is, and its
    band starts at its first node rather than spanning the page empty."""
    from selenium.webdriver.common.by import By

    assert _node(loaded, "risk/fraud-detection:steps.train").rect["y"] < 1000  # no scrolling needed
    bands = [b for b in loaded.find_elements(By.CSS_SELECTOR, "g.band") if b.is_displayed()]
    assert [b.get_attribute("data-team") for b in bands][:2] == ["risk", "risk"]
    relation = loaded.find_element(By.CSS_SELECTOR, 'g.team-band[data-team="growth"] .team-relation')
    assert relation.text.startswith("downstream of risk")
    growth = loaded.find_element(By.CSS_SELECTOR, 'g.project-band[data-team="growth"]')
    assert "(part)" in growth.find_element(By.CSS_SELECTOR, ".band-title").text
    first = min(e.rect["x"] for e in loaded.find_elements(By.CSS_SELECTOR, 'g.node[data-team="growth"]'))
    assert 0 < first - growth.find_element(By.CSS_SELECTOR, ".band-bg").rect["x"] <= 2 * lineage_html.BAND_PAD


def test_a_team_page_links_to_the_index_and_the_other_teams(loaded, pages):
    from selenium.webdriver.common.by import By

    assert not loaded.find_elements(By.ID, "team-filter")  # a team page switches pages instead
    nav = loaded.find_element(By.CSS_SELECTOR, "nav.team-nav")
    current = nav.find_element(By.CSS_SELECTOR, "[aria-current=page]")
    assert current.text == "risk"
    nav.find_element(By.LINK_TEXT, "growth").click()
    assert loaded.current_url.endswith("/lineage/teams/growth.html")
    assert _node(loaded, "growth/merchant-recs:steps.train").is_displayed()
    loaded.find_element(By.PARTIAL_LINK_TEXT, "All teams").click()
    assert loaded.current_url.endswith("/lineage/index.html")


def test_a_team_has_the_same_colour_on_the_index_and_every_page(pages):
    index = (pages / lineage_html.PATH).read_text(encoding="utf-8")
    on_index = dict(re.findall(r'id="team-([a-z0-9-]+)" style="--team:(#[0-9a-f]{6})"', index))
    assert sorted(on_index) == ["growth", "risk"] and len(set(on_index.values())) == 2
    for team in on_index:
        html = (pages / lineage_html.team_path(team)).read_text(encoding="utf-8")
        pills = dict(re.findall(r'data-team="([a-z0-9-]+)">\s*<rect class="team-pill"[^>]*fill:(#[0-9a-f]{6})', html))
        nav = dict(re.findall(r'style="--team:(#[0-9a-f]{6})">([a-z0-9-]+)</a>', html))
        assert pills and all(on_index[t] == color for t, color in pills.items())
        assert {t: c for c, t in nav.items()} == on_index
