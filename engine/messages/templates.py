"""The words of each stage's message, in Arabic and English, and how they are filled in.

Defaults live here; a service rewords any of them in its ``service.toml`` (``[messages.templates.<stage>]``).
A template may only use the placeholders of ``config.PLACEHOLDERS``: none of them names an officer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.messages.config import PLACEHOLDERS, MessageSettings

LANGUAGES = ("ar", "en")
DEFAULT_LANGUAGE = "ar"

DEFAULTS: dict[str, dict[str, str]] = {
    "received": {
        "ar": "شبّاك: تم استلام طلبكم ({service}) برقم {tracking_number} وسداد الرسوم {fee} {currency}. "
              "تابعوا الطلب بهذا الرقم.",
        "en": "Shubbak: your request ({service}) was received as {tracking_number}; fees paid: {fee} {currency}. "
              "Track it with this number.",
    },
    # The default "received" words when the case has no fee in its data.
    "received_free": {
        "ar": "شبّاك: تم استلام طلبكم ({service}) برقم {tracking_number}. تابعوا الطلب بهذا الرقم.",
        "en": "Shubbak: your request ({service}) was received as {tracking_number}. Track it with this number.",
    },
    "department": {
        "ar": "شبّاك: وصلت أوراق طلبكم {tracking_number} إلى {department} في {at}.",
        "en": "Shubbak: the papers of your request {tracking_number} reached {department} at {at}.",
    },
    "returned": {
        "ar": "شبّاك: طلبكم {tracking_number} يحتاج إلى استكمال أو تصحيح. يرجى مراجعة المركز.",
        "en": "Shubbak: your request {tracking_number} needs corrections. Please visit the center.",
    },
    # The default "returned" words when the step waits in the citizen's lane: they answer it from the phone.
    "returned_online": {
        "ar": "شبّاك: طلبكم {tracking_number} يحتاج إلى مستند. أرسلوه من هاتفكم: {citizen_url}",
        "en": "Shubbak: your request {tracking_number} needs a paper. Send it from your phone: {citizen_url}",
    },
    "ready_for_pickup": {
        "ar": "شبّاك: طلبكم {tracking_number} ({service}) جاهز للاستلام من المركز.",
        "en": "Shubbak: your request {tracking_number} ({service}) is ready for pickup at the center.",
    },
    "completed": {
        "ar": "شبّاك: اكتمل طلبكم {tracking_number}. شكرًا لكم، قيّموا الخدمة: {rating_url}",
        "en": "Shubbak: your request {tracking_number} is complete. Thank you; rate the service: {rating_url}",
    },
    "rejected": {
        "ar": "شبّاك: نعتذر، لم يتم قبول طلبكم {tracking_number}. يرجى مراجعة المركز لمعرفة الأسباب.",
        "en": "Shubbak: we are sorry, your request {tracking_number} was not accepted. Please visit the center "
              "for the reasons.",
    },
    # Not a stage: sent to the old and the new phone when the center corrects the citizen's contact details
    # (engine/cases/citizen_correction.py); a service can neither reword nor silence it.
    "contact_corrected": {
        "ar": "شبّاك: تم تصحيح بيانات الاتصال في طلبكم {tracking_number} بالمركز في {at}. إن لم تطلبوا ذلك "
              "يرجى مراجعة المركز.",
        "en": "Shubbak: the contact details of your request {tracking_number} were corrected at the center at {at}. "
              "If you did not ask for this, please visit the center.",
    },
    # Not stages: the case's money (engine/messages/stages.py), with the event that issues the bill or takes a
    # payment, in its transaction. {fee} is the bill's amount, or the payment's.
    "bill_issued": {
        "ar": "شبّاك: صدرت فاتورة رسوم طلبكم {tracking_number} ({service}) برقم {bill} بمبلغ {fee} {currency}. "
              "يرجى السداد بالمركز.",
        "en": "Shubbak: the fees of your request {tracking_number} ({service}) were billed as {bill}: {fee} "
              "{currency}. Please pay at the center.",
    },
    "bill_paid": {
        "ar": "شبّاك: تم سداد {fee} {currency} عن الفاتورة {bill} لطلبكم {tracking_number}، إيصال رقم "
              "{receipt_number}.",
        "en": "Shubbak: {fee} {currency} was paid on bill {bill} of your request {tracking_number}; receipt "
              "{receipt_number}.",
    },
    # Not a stage: sent when a supervisor approves a refund of a payment (engine/payments/refunds.py).
    "refunded": {
        "ar": "شبّاك: تمت الموافقة على رد مبلغ {fee} {currency} المدفوع عن طلبكم {tracking_number}. يرجى مراجعة "
              "المركز لاستلامه.",
        "en": "Shubbak: a refund of {fee} {currency} paid for your request {tracking_number} was approved. Please "
              "visit the center to collect it.",
    },
}

# The citizens' names of the catalog's departments (its lanes), when a service does not name them itself
# (``[messages.departments]``): a lane's id is a role's code, not words for an Arabic or English message.
DEPARTMENTS: dict[str, dict[str, str]] = {
    "civil_registry": {"ar": "مكتب السجل المدني", "en": "the civil registry"},
    "engineering": {"ar": "الإدارة الهندسية", "en": "the engineering department"},
    "civil_defense": {"ar": "الحماية المدنية", "en": "civil defence"},
    "licensing": {"ar": "إدارة التراخيص", "en": "the licensing department"},
    "municipal_services": {"ar": "إدارة الخدمات المحلية", "en": "municipal services"},
    "health_office": {"ar": "مكتب الصحة", "en": "the health office"},
    "medical_commission": {"ar": "القومسيون الطبي", "en": "the medical commission"},
    "traffic": {"ar": "إدارة المرور", "en": "the traffic department"},
    "utilities": {"ar": "إدارة المرافق", "en": "the utilities department"},
    "social_affairs": {"ar": "إدارة الشؤون الاجتماعية", "en": "the social affairs department"},
    "vehicle_inspection": {"ar": "الفحص الفني للمركبات", "en": "vehicle inspection"},
    "notary": {"ar": "مكتب الشهر العقاري والتوثيق", "en": "the notary office"},
}


def department_name(lane: str, language: str, overrides: MessageSettings) -> str:
    """The name of department ``lane`` in ``language``: the service's own, else the catalog's, else the lane's id."""
    own = overrides.departments.get(lane)
    if own is not None:
        return str(getattr(own, language))
    known = DEPARTMENTS.get(lane)
    return known[language] if known is not None else lane.replace("_", " ")


SUBJECTS = {
    "ar": "شبّاك: طلبكم {tracking_number}",
    "en": "Shubbak: your request {tracking_number}",
}


@dataclass(frozen=True)
class Text:
    subject: str
    body: str


def language_of(citizen: Any) -> str:
    """The citizen's language from the intake data (``citizen.language``); Arabic when missing or unknown."""
    found = citizen.get("language") if isinstance(citizen, dict) else None
    return found if found in LANGUAGES else DEFAULT_LANGUAGE


def template(stage: str, language: str, overrides: MessageSettings, params: dict[str, str]) -> str:
    wording = overrides.templates.get(stage)
    own = getattr(wording, language) if wording is not None else None
    if own:
        return str(own)
    if stage == "received" and not params.get("fee"):
        stage = "received_free"
    if stage == "returned" and params.get("citizen_url"):
        stage = "returned_online"
    return DEFAULTS[stage][language]


def render(stage: str, language: str, params: dict[str, str], overrides: MessageSettings) -> Text:
    """The message of ``stage`` in ``language`` with ``params`` filled in (a missing one reads as empty)."""
    values = {key: params.get(key, "") for key in PLACEHOLDERS}
    body = template(stage, language, overrides, values).format_map(values)
    return Text(subject=SUBJECTS[language].format_map(values), body=" ".join(body.split()))
