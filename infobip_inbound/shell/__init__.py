"""The application shell: the CLI and what only it runs. Nothing imports it."""
