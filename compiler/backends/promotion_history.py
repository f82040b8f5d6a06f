"""The promotion history (generated/promotion/history.json): last compile's entries plus every
digest pinned now that it had not seen. Format and tamper-evidence: compiler.middle.promotion."""

from __future__ import annotations

from ..middle import promotion
from ..middle.check import CheckedRepository
from . import Document
from ..layout import PROMOTION_HISTORY


def emit(checked: CheckedRepository) -> list[Document]:
    pins = promotion.current_pins(checked.projects)
    entries = promotion.extend(checked.repo.promotion_history.entries, pins, checked.config)
    return [Document(PROMOTION_HISTORY, promotion.render(entries), "text")]
