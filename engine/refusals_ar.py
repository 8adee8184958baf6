"""Arabic words for the most common refusals of a deploy, so an analyst can act on them in either language.

Each problem of a refused package gets ``message_ar`` beside its English ``message``: the Arabic sentence
when the refusal is one of those below, None otherwise (the English one then stands alone). Element ids, file
and field names stay as they are in the diagram.
"""

from __future__ import annotations

import re
from typing import Any

_PATTERNS: list[tuple[re.Pattern[str], str]] = [(re.compile(p), t) for p, t in [
    (r"^the task's form '(.+)' was not sent with the diagram$", "نموذج المهمة '\\1' لم يُرسل مع المخطط"),
    (r"^no executable process", "لا توجد عملية قابلة للتشغيل: علّم العملية المطلوب تشغيلها بـ "
                                "isExecutable=\"true\""),
    (r"^(\d+) executable processes \((.+?)\)", "توجد \\1 عمليات قابلة للتشغيل (\\2): علّم واحدة فقط، "
                                               "أو اذكرها في process_id داخل service.toml"),
    (r"^this flow leaves the \w+ gateway '(.+?)' without a condition",
     "هذا المسار يخرج من البوابة '\\1' بلا شرط: أعطه شرطًا، أو اجعله المسار الافتراضي للبوابة"),
    (r"^the package has no \.bpmn file$", "الحزمة لا تحتوي على ملف .bpmn"),
    (r"^this is not a BPMN 2\.0 document", "هذا ليس مستند BPMN 2.0 (يجب أن يكون جذره bpmn:definitions)"),
    (r"^the form is not valid JSON", "النموذج ليس JSON صالحًا"),
    (r"^not a valid JSON Schema", "النموذج ليس JSON Schema صالحًا"),
    (r"(is not allowed in|cannot be used in|names starting with '_' are not allowed)",
     "نص برمجي أو شرط بما لا يُسمح به (الأسباب بالإنجليزية في message)"),
    (r"^step (\d+) \((.+?)\): the task is in the lane '(.+?)', not '(.+?)'$",
     "الخطوة \\1 (\\2): المهمة في المسار '\\3' وليست في '\\4'"),
    (r"^step (\d+) \((.+?)\): the task is not waiting", "الخطوة \\1 (\\2): المهمة ليست في الانتظار عند هذه الخطوة"),
    (r"^step (\d+) \((.+?)\): the form '(.+?)' refuses the data", "الخطوة \\1 (\\2): النموذج '\\3' يرفض البيانات"),
    (r"^after the last step the case has not ended", "لم تنتهِ الحالة بعد الخطوة الأخيرة"),
    (r"^the case ended at '(.+?)', not at '(.+?)'$", "انتهت الحالة عند '\\1' وليس عند '\\2'"),
    (r"^the case's data differs", "بيانات الحالة في نهايتها تختلف عن المتوقع (expected_data)"),
    (r"^the process failed at '(.+?)'", "فشلت العملية عند '\\1'"),
]]


def arabic(message: str) -> str | None:
    """The Arabic of one refusal's English ``message``, or None when it is not one of the common ones."""
    for pattern, template in _PATTERNS:
        found = pattern.search(message)
        if found is not None:
            return found.expand(template)
    return None


def with_arabic(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``details`` with ``message_ar`` added to each problem that has a ``message``."""
    return [{**d, "message_ar": arabic(str(d["message"]))} if "message" in d else d for d in details]
