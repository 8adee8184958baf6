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
    # Constant parts of scripts too large to compute (engine/bpmn/scripts.py, before the general line below).
    (r"a power whose result has more than ([\d,]+) bits is not allowed", "قوة ثابتة (أُس) ناتجها أكبر من \\1 بت "
                                                                         "غير مسموح بها في النصوص البرمجية والشروط"),
    (r"repeating text or a list to more than ([\d,]+) items is not allowed",
     "تكرار نص أو قائمة إلى أكثر من \\1 عنصر غير مسموح به في النصوص البرمجية والشروط"),
    (r"shifts by more than ([\d,]+) bits are not allowed", "الإزاحة بأكثر من \\1 بت غير مسموح بها في النصوص "
                                                           "البرمجية والشروط"),
    (r"exponents above ([\d,]+) are not allowed", "الأُسس الأكبر من \\1 غير مسموح بها في النصوص البرمجية والشروط"),
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
    # Rarer refusals of the diagram itself (engine/bpmn/parser.py, compiler.py, safe_xml.py).
    (r"^this (exclusive|inclusive) gateway '(.*?)' has (\d+) outgoing flows without a condition and no default",
     "لهذه البوابة '\\2' \\3 مسارات خارجة بلا شرط ولا مسار افتراضي"),
    (r"^this flow leaves an event and has a condition", "هذا المسار يخرج من حدث وعليه شرط، وBPMN لا يفحص الشروط "
                                                        "إلا على المسارات الخارجة من الأنشطة والبوابات"),
    (r"^this timer event does not say when it fires", "حدث المؤقت هذا لا يذكر متى ينطلق"),
    (r"^this timer event's value is empty", "قيمة حدث المؤقت هذا فارغة"),
    (r"^this service task does not say what it calls", "مهمة الخدمة هذه لا تذكر ما تستدعيه، وشبّاك لا يستدعي أنظمة "
                                                       "خارجية"),
    (r"^this service task calls '(.+?)'", "مهمة الخدمة هذه تستدعي '\\1'، وشبّاك لا يستدعي أنظمة خارجية"),
    (r"^this sub-process is empty", "هذه العملية الفرعية فارغة: لا خطوات مرسومة داخلها"),
    (r"^this sub-process has (.+?) start events", "لهذه العملية الفرعية عدد خاطئ من أحداث البداية (\\1)"),
    (r"^this sub-process has no end event", "هذه العملية الفرعية بلا حدث نهاية"),
    (r"^the process has no start event", "العملية بلا حدث بداية: تبدأ الحالة عند حدث البداية"),
    (r"^an end event ends its path", "حدث النهاية ينهي مساره: لا يجوز أن تخرج منه مسارات"),
    (r"^this multi-instance activity", "إعدادات النشاط متعدد النسخ غير مكتملة أو متعارضة"),
    (r"^this looping activity has neither", "هذا النشاط المتكرر بلا شرط تكرار ولا حد أقصى، فلن يتوقف"),
    (r"^this call activity does not say which process", "نشاط الاستدعاء هذا لا يذكر العملية التي يستدعيها"),
    (r"^Shubbak cannot run an? (.+)$", "شبّاك لا يستطيع تشغيل هذا العنصر (\\1)"),
    (r"^the process '(.+?)' is called by a call activity but is not in the files",
     "العملية '\\1' يستدعيها نشاط استدعاء لكنها ليست ضمن الملفات المرسلة"),
    (r"^the process '(.+?)' is called by a call activity but is marked as not executable",
     "العملية '\\1' يستدعيها نشاط استدعاء لكنها معلّمة بأنها غير قابلة للتشغيل"),
    (r"^a sequence flow from this element leads to '(.+?)'", "مسار تسلسل من هذا العنصر يقود إلى '\\1' خارج "
                                                             "العملية نفسها"),
    (r"^two processes have the id '(.+?)'", "عمليتان لهما المعرّف نفسه '\\1'"),
    (r"^two elements have the id '(.+?)'", "عنصران لهما المعرّف نفسه '\\1'"),
    (r"^this boundary event does not say what it catches", "حدث الحدود هذا لا يذكر ما يلتقطه"),
    (r"^this event refers to an undefined (\w+)", "هذا الحدث يشير إلى تعريف غير موجود (\\1)"),
    (r"^a cancel event can only be attached to a transaction", "حدث الإلغاء لا يُلحق إلا بمعاملة (transaction)"),
    (r"^this conditional event has no condition", "هذا الحدث الشرطي بلا شرط"),
    (r"^the slaDays property must be a number", "خاصية slaDays يجب أن تكون رقمًا"),
    (r"^the process id '(.+?)' cannot serve as the service code", "معرّف العملية '\\1' لا يصلح رمزًا للخدمة: "
                                                                  "أرسل service.toml يذكر رمز الخدمة"),
    (r"^service\.toml names process '(.+?)'", "ملف service.toml يذكر العملية '\\1' وهي ليست في المخططات"),
    (r"^the diagram could not be read", "تعذّرت قراءة المخطط"),
    (r"^this element could not be read", "تعذّرت قراءة هذا العنصر"),
    (r"^The file is not well-formed XML", "الملف ليس XML سليم البنية"),
    (r"^The file is empty", "الملف فارغ"),
    (r"^The file contains a DOCTYPE", "الملف يحتوي على تصريح DOCTYPE، ومخططات BPMN وDMN لا تحتاجه"),
    (r"^The file is .+ larger than the .+ allowed", "الملف أكبر من الحجم المسموح به للمخطط"),
    (r"^this is not a DMN document", "هذا ليس مستند DMN"),
    (r"^this is not valid Python", "هذا ليس Python صالحًا"),
    (r"^only plain \.bpmn, \.dmn, \.json and service\.toml", "تُقبل فقط ملفات .bpmn و.dmn و.json وservice.toml"),
    (r"^the form has no (.+)$", "النموذج بلا \\1"),
    (r'^(?:condition|timer expression|loop cardinality|completion condition) "(.*)": this is not valid Python.*'
     r"(Camunda/JUEL|FEEL)", "الشرط أو التعبير \"\\1\" ليس Python صالحًا؛ يبدو مكتوبًا بلغة تعبيرات محرك آخر "
                             "(Camunda/JUEL أو FEEL)، وشبّاك يقرأ تعبيرات Python على بيانات الحالة"),
    (r'^(?:condition|timer expression|loop cardinality|completion condition) "(.*)": this is not valid Python',
     "الشرط أو التعبير \"\\1\" ليس Python صالحًا"),
    (r"^(?:script|pre-script|post-script): this is not valid Python", "النص البرمجي ليس Python صالحًا"),
    (r"^this element (?:takes data from|puts data into) the process's data (?:input|output) '(.*?)'",
     "هذا العنصر يتبادل البيانات مع مدخل أو مخرج العملية '\\1' عبر ارتباط بيانات، وشبّاك لا يشغّله: "
     "كل مهمة ترى بيانات الحالة بأسمائها"),
    (r"^this element (?:takes data from|puts data into) the data store '(.*?)'",
     "هذا العنصر يتبادل البيانات مع مخزن البيانات '\\1'، وشبّاك بلا مخازن بيانات (بيانات الحالة محفوظة معها)"),
    (r"^this element (?:takes data from|puts data into) the data object '(.*?)'",
     "هذا العنصر يستخدم كائن البيانات '\\1' لكنه غير معرّف في هذه العملية"),
    (r"^this element (?:takes data from|puts data into) '(.*?)' through a data association, but nothing",
     "هذا العنصر يشير عبر ارتباط بيانات إلى '\\1' ولا يوجد في المخطط عنصر بهذا المعرّف"),
]]

# What to do about a refusal, where it is obvious: (pattern, fix in English, fix in Arabic).
_FIXES: list[tuple[re.Pattern[str], str, str]] = [(re.compile(p), en, ar) for p, en, ar in [
    (r"gateway .* without a condition",
     "add a condition to each outgoing flow, or mark one flow as the gateway's default",
     "أضف شرطًا لكل مسار خارج، أو اجعل أحدها المسار الافتراضي للبوابة"),
    (r"^this flow leaves an event and has a condition", "put a gateway after the event and give it the condition",
     "ضع بوابة بعد الحدث وانقل الشرط إليها"),
    (r"^this timer event", "give it a duration (such as P7D for 7 days), a date or a cycle",
     "أعطه مدة (مثل P7D لسبعة أيام) أو تاريخًا أو دورة"),
    (r"^this service task", "make it a user task if a person does the work, or a script task for a calculation",
     "اجعلها مهمة مستخدم إن كان شخص يؤدي العمل، أو مهمة نص برمجي إن كانت حسابًا"),
    (r"^this sub-process is empty", "draw its steps inside it, from a start event to an end event, or make it a task",
     "ارسم خطواتها داخلها من حدث بداية إلى حدث نهاية، أو اجعلها مهمة"),
    (r"^this sub-process has .+ start events", "keep exactly one start event inside it",
     "أبقِ حدث بداية واحدًا فقط داخلها"),
    (r"^this sub-process has no end event", "draw an end event inside it", "ارسم حدث نهاية داخلها"),
    (r"^the process has no start event", "draw a start event", "ارسم حدث بداية"),
    (r"^an end event ends its path", "remove the flows leaving the end event", "احذف المسارات الخارجة من حدث النهاية"),
    (r"^the task's form '(.+?)' was not sent", "add the form file, or correct the task's formJsonSchemaFilename",
     "أضف ملف النموذج، أو صحّح اسم النموذج في خصائص المهمة"),
    (r"^no executable process", "mark the process as executable", "علّم العملية بأنها قابلة للتشغيل"),
    (r"^two elements have the id", "give each element its own id", "أعطِ كل عنصر معرّفًا خاصًا به"),
    (r"^this event refers to an undefined", "define it in the diagram or remove the reference",
     "عرّفه في المخطط أو احذف الإشارة إليه"),
    (r"Camunda/JUEL .* or FEEL expression", "write the condition in Python over the case's data, such as: "
                                            "amount > 100 and decision == \"approve\"",
     "اكتب الشرط بلغة Python على بيانات الحالة، مثل: amount > 100 and decision == \"approve\""),
    (r"through a data association|the data store",
     "remove the data association: every task sees the case's data by name",
     "احذف ارتباط البيانات: كل مهمة ترى بيانات الحالة بأسمائها"),
    (r"more than [\d,]+ (?:bits|items) is not allowed|shifts by more than|exponents above",
     "use a smaller constant: a script must finish within its time and memory limits",
     "استخدم قيمة ثابتة أصغر: يجب أن ينتهي النص البرمجي ضمن حدَّي الوقت والذاكرة"),
    (r"(is not allowed in|cannot be used in|names starting with '_' are not allowed)",
     "use only the case's data, arithmetic, comparisons and the listed helper functions",
     "استخدم بيانات الحالة والعمليات الحسابية والمقارنات والدوال المساعدة المسموح بها فقط"),
    (r"^step \d+ \(.+?\)|^the case ended at|^after the last step|^the case's data differs",
     "correct the diagram, or the test case in paths.json if the rule changed on purpose",
     "صحّح المخطط، أو حالة الاختبار في paths.json إن كان تغيير القاعدة مقصودًا"),
]]


def arabic(message: str) -> str | None:
    """The Arabic of one refusal's English ``message``, or None when it is not one of the common ones."""
    for pattern, template in _PATTERNS:
        found = pattern.search(message)
        if found is not None:
            return found.expand(template)
    return None


def fix(message: str) -> tuple[str, str] | None:
    """What to do about a refusal (English, Arabic), when it is obvious; None otherwise."""
    for pattern, english, arabic_fix in _FIXES:
        if pattern.search(message):
            return english, arabic_fix
    return None


def with_arabic(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``details`` with ``message_ar`` added to each problem that has a ``message``."""
    return [{**d, "message_ar": arabic(str(d["message"]))} if "message" in d else d for d in details]


# Why a case cannot move to a new version (engine/bpmn/diff.py), one sentence per element.
_MOVES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), t) for p, t in [
    (r"^'(.+?)'(.*?), already done, is not in the new version$", "'{0}'{1} أُنجز ولم يعد في الإصدار الجديد"),
    (r"^'(.+?)'(.*?), already done, changed in the new version \((.+)\)$",
     "'{0}'{1} أُنجز وتغيّر في الإصدار الجديد ({2})"),
    (r"^'(.+?)'(.*?), where the case waits, is not in the new version$",
     "'{0}'{1} الذي ينتظر عنده الطلب لم يعد في الإصدار الجديد"),
    (r"^the subprocess '(.+?)' it runs is not in the new version$", "العملية الفرعية '{0}' التي يجريها الطلب لم تعد "
                                                                     "في الإصدار الجديد"),
    (r"^the case is already on version (\d+)$", "الطلب على الإصدار {0} بالفعل"),
]]
_CHANGE_WORDS = {"name": "الاسم", "type": "النوع", "incoming flows": "المسارات الداخلة",
                 "outgoing flows": "المسارات الخارجة", "conditions": "الشروط", "default flow": "المسار الافتراضي",
                 "script": "النص البرمجي", "lane": "المسار", "properties": "الخصائص", "event": "الحدث",
                 "documentation": "التوثيق", "its definition": "تعريفه"}


def migration_reason_ar(reason: str) -> str | None:
    """The Arabic of why a case cannot move (``; ``-joined sentences), or None when a part is not known."""
    out = []
    for part in reason.split("; "):
        for pattern, template in _MOVES:
            found = pattern.match(part)
            if found is not None:
                groups = list(found.groups())
                if len(groups) == 3:
                    groups[2] = "، ".join(_CHANGE_WORDS.get(w, w) for w in groups[2].split(", "))
                if len(groups) >= 2 and groups[1].startswith(" (in '"):
                    groups[1] = " (في '" + groups[1][len(" (in '"):]
                out.append(template.format(*groups))
                break
        else:
            return None
    return "؛ ".join(out)
