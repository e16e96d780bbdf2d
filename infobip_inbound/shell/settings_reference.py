"""The configuration reference page (docs/configuration.md), rendered from `Settings` itself.

`make docs-config` writes it; a test fails when the page in the tree differs from what this renders, so the
page can never drift from the code. Every variable is listed with its type, default and description; a secret's
default is never printed.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from infobip_inbound.contract.settings import OTHER_ENV_DOCS, Settings

PAGE = Path("docs") / "configuration.md"

_HEADER = """\
# Configuration

Every setting is an environment variable prefixed `INBOUND_`; the same names, lower-case and without the
prefix, are keys of the optional TOML file named by `INBOUND_CONFIG_FILE` (variables win over the file).
Lists take JSON (`'["a", "b"]'`) or, where noted, a comma-separated string; objects take JSON; a setting
holding a model is also set field by field (`INBOUND_HTTP_RELAY__URL`). Invalid configuration stops the process
at start with one message naming the setting; a variable that no setting reads is reported with the closest
known name. Secrets are read from the environment, compared in constant time and redacted from every log line,
error and stored record. Besides these: `PROMETHEUS_MULTIPROC_DIR` (where a role's processes share metric
samples; a new directory in `/tmp` by default, emptied at start) and the standard `OTEL_*` variables
([tracing](messages.md#tracing-opentelemetry)).

This page is generated from the code (`make docs-config`); CI fails when it is out of date.
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return " / ".join(json.dumps(arg) for arg in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "null"
    if annotation is SecretStr:
        return "secret"
    return getattr(annotation, "__name__", str(annotation))


def _secret(annotation: Any) -> bool:
    return "SecretStr" in repr(annotation)


def _default(info: FieldInfo) -> str:
    if _secret(info.annotation):
        return "(unset)"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "(required)"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=False)
    if value is None:
        return "(unset)"
    if isinstance(value, Path):
        value = str(value)
    if hasattr(value, "pattern"):  # a compiled regular expression
        value = value.pattern
    return "`" + json.dumps(value, default=str) + "`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _model(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds (an output's own settings, a policy), if it holds one."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def rows() -> list[tuple[str, str, str, str]]:
    """(variable, type, default, description) of every setting, in declaration order; a setting holding a
    model is listed whole (JSON) and then field by field (`<NAME>__<FIELD>`)."""
    prefix = Settings.model_config.get("env_prefix", "")
    nested = Settings.model_config.get("env_nested_delimiter") or ""
    found = []
    for name, info in Settings.model_fields.items():
        variable = f"{prefix}{name}".upper()
        found.append((variable, _type_name(info.annotation), _default(info), info.description or ""))
        model = _model(info.annotation)
        if model is None or not nested or typing.get_origin(info.annotation) in (list, dict):
            continue  # a list or map of models is given whole (JSON, or tables in the file)
        for field_name, field_info in model.model_fields.items():
            found.append(
                (
                    f"{variable}{nested}{field_name.upper()}",
                    _type_name(field_info.annotation),
                    _default(field_info),
                    field_info.description or "",
                )
            )
    return found


def render() -> str:
    lines = [_HEADER, "| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for variable, type_name, default, description in rows():
        lines.append(f"| `{variable}` | {_cell(type_name)} | {_cell(default)} | {_cell(description)} |")
    lines += ["", "## Read outside the settings", "", "| Variable | Description |", "|---|---|"]
    for variable, description in sorted(OTHER_ENV_DOCS.items()):
        lines.append(f"| `{variable}` | {_cell(description)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    PAGE.write_text(render())
    print(f"written: {PAGE}")


if __name__ == "__main__":
    main()
