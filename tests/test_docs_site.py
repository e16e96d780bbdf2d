"""The documentation cannot drift from the code: the configuration page is what the settings render, and every
setting is described (the site itself is built strictly by `make docs` in CI: a broken link fails)."""

from __future__ import annotations

from pathlib import Path

from infobip_inbound.contract.settings import Settings
from infobip_inbound.shell import settings_reference

ROOT = Path(__file__).resolve().parent.parent


def test_the_configuration_page_is_what_the_settings_render() -> None:
    page = (ROOT / settings_reference.PAGE).read_text()
    assert page == settings_reference.render(), "docs/configuration.md is stale: run `make docs-config`"


def test_every_setting_is_described() -> None:
    undescribed = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undescribed == []
    for variable, _, _, description in settings_reference.rows():
        assert description, f"{variable} has no description"
