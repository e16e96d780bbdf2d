"""One option vocabulary for every command: where two commands named one thing two ways, the first name below
is the one, and the other is still accepted (hidden from `--help`) for a release.

    --application  (was --app)          --processes  (serve's --workers)
    --email        (omni's --email-address)
    --push-text, --push-title  (push send's --text, --title)

A test walks every command's `--help` and holds the vocabulary (tests/test_cli_vocabulary.py).
"""

from __future__ import annotations

import click


class Aliased(click.Option):
    """An option shown by its first name; the names after it are accepted, not shown."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        opts = self.opts
        self.opts = opts[:1]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = opts


# The names the vocabulary retired, each with the one to use instead.
RETIRED = {
    "--app": "--application",
    "--workers": "--processes",
    "--email-address": "--email",
    "--text": "--push-text",
    "--title": "--push-title",
}
