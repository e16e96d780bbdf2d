"""`infobip_inbound.handlers` is the handler authors' interface: its exported names are exactly these, each
one is the object the older paths give (they keep working), and the documents import only from it."""

from __future__ import annotations

import re

import infobip_inbound.handlers as handlers
from infobip_inbound import testing
from infobip_inbound.contract import model
from infobip_inbound.workers import handler_api
from infobip_inbound.workers import reply as reply_module
from tests.support import ROOT

EXPORTED = {
    "SCHEMA_VERSION",
    "CallContext",
    "CannotReply",
    "HandlerRun",
    "NotInHandler",
    "PermanentFailure",
    "Reply",
    "RetryLater",
    "Source",
    "UserResponse",
    "areply",
    "envelope",
    "infobip_result",
    "reply",
    "run_handler",
    "user_response",
}


def test_the_exported_members_are_the_public_interface() -> None:
    assert set(handlers.__all__) == EXPORTED and len(handlers.__all__) == len(EXPORTED)
    public = {name for name in vars(handlers) if not name.startswith("_") and name != "annotations"}
    assert public == EXPORTED  # nothing public that is not exported


def test_the_older_paths_give_the_same_objects() -> None:
    assert handlers.UserResponse is model.UserResponse
    assert handlers.CallContext is handler_api.CallContext
    assert handlers.PermanentFailure is handler_api.PermanentFailure
    assert handlers.RetryLater is handler_api.RetryLater
    assert handlers.reply is reply_module.reply and handlers.areply is reply_module.areply
    assert handlers.run_handler is testing.run_handler and handlers.user_response is testing.user_response


def test_the_handler_documents_import_only_from_it() -> None:
    documents = [
        ROOT / "README.md",
        ROOT / "docs" / "handlers.md",
        ROOT / "docs" / "replying.md",
        *(ROOT / "examples" / "handler-package").rglob("*.py"),
    ]
    for path in documents:
        imports = re.findall(r"^\s*(?:from|import) (infobip_inbound[\w.]*)", path.read_text(), flags=re.MULTILINE)
        # Sending (not a handler's concern) uses the Infobip client and the settings.
        outside = ("infobip_inbound.infobip", "infobip_inbound.contract.settings")
        handler_imports = [name for name in imports if not name.startswith(outside)]
        assert set(handler_imports) <= {"infobip_inbound.handlers"}, (path, handler_imports)
