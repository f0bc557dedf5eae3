"""``{{ line|amounts }}``: a sentence with its negative dollar amounts kept whole on one line.

Explanations are stored text ("long-term −$8,802.45"), and browsers may break a line between the
minus sign and the dollar sign. The filter escapes the text first, then wraps each ``−$1,234.56``
in ``<span class="nowrap">``.
"""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_NEGATIVE_AMOUNT = re.compile(r"\u2212\$[0-9][0-9,]*(?:\.[0-9]+)?")


@register.filter(is_safe=True)
def amounts(text: object) -> SafeString:
    escaped = str(escape(text))
    wrapped = _NEGATIVE_AMOUNT.sub(lambda m: f'<span class="nowrap">{m.group(0)}</span>', escaped)
    return mark_safe(wrapped)  # noqa: S308 - escaped above; only digits, $ and − are wrapped
