"""The forwardUrl we register with Infobip: our public URL plus the forward path, with our credentials
embedded the way the receiver reads them (a secret path token, else Basic `user:password@`)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from infobip_inbound.contract.settings import Settings

# The path of the forward endpoint: the receiver serves it, registration builds the forwardUrl from it.
FORWARD_PATH = "/infobip/forward"

MASK = "***"


class NoForwardCredentials(ValueError):
    """No forward credential is configured to embed in the URL."""


def _endpoint(public_url: str) -> tuple[str, str, str]:
    """(scheme, host[:port] without credentials, forward path) of the service behind `public_url`."""
    parts = urlsplit(public_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {redact_forward_url(public_url)}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    default_port = 443 if parts.scheme == "https" else 80
    if parts.port is not None and parts.port != default_port:
        host += f":{parts.port}"
    base_path = parts.path.rstrip("/")
    if base_path.endswith(FORWARD_PATH):  # accept the full endpoint URL as well as the service root
        base_path = base_path[: -len(FORWARD_PATH)]
    return parts.scheme, host.lower(), base_path + FORWARD_PATH


def forward_url_for(public_url: str, settings: Settings) -> str:
    """The URL Infobip should POST to, with the first configured credential (the current one on rotation)."""
    scheme, host, path = _endpoint(public_url)
    if settings.forward_tokens:
        token = settings.forward_tokens[0].get_secret_value()
        return urlunsplit((scheme, host, f"{path}/{quote(token, safe='')}", "", ""))
    if settings.forward_basic_auth:
        user, _, password = settings.forward_basic_auth[0].get_secret_value().partition(":")
        return urlunsplit((scheme, f"{quote(user, safe='')}:{quote(password, safe='')}@{host}", path, "", ""))
    raise NoForwardCredentials(
        "no forward credentials to register: set INBOUND_FORWARD_TOKENS or INBOUND_FORWARD_BASIC_AUTH"
    )


def same_service(url: str, public_url: str) -> bool:
    """Whether `url` points at our forward endpoint behind `public_url`, whatever credentials it carries."""
    try:
        scheme, host, path = _endpoint(public_url)
        parts = urlsplit(url)
        other_scheme, other_host, _ = _endpoint(urlunsplit((parts.scheme, parts.netloc, "", "", "")))
    except ValueError:
        return False
    other_path = parts.path.rstrip("/")
    on_path = other_path == path or (other_path.startswith(path + "/") and "/" not in other_path[len(path) + 1 :])
    return (scheme, host) == (other_scheme, other_host) and on_path


def redact_forward_url(url: str) -> str:
    """The URL with any password and forward path token masked, for output and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{hostport}"
    path = parts.path
    marker = FORWARD_PATH + "/"
    if marker in path:
        head, _, tail = path.rpartition(marker)
        path = f"{head}{marker}{MASK}" if tail else path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))
