"""A case file for auditors: one signed zip that can be checked without the database.

Members: ``manifest.json`` (what is inside, with the SHA-256 and size of every other member), ``case.json``
(the case row), ``state.json`` (its stored workflow state), ``events.json`` (its whole hash chain),
``process/v<N>/...`` (the files of each process version the case ran on), ``documents/<kind>/v<N>-<name>``
(every version of every scan, read back from the document store and checked against its recorded SHA-256),
and ``ledger.json`` (the latest seal with this case's sealed head and its Merkle proof) once the case has been
sealed. Each scan's SHA-256 is also in its ``document_uploaded`` event, so the chain vouches for the bytes.

The zip's comment holds the installation's public key and an Ed25519 signature over every byte before the
comment, so a changed byte anywhere in the file fails :func:`check`. A signature only says "signed by this
key": whoever checks must compare the key with the installation's published one (``expected_key``).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from engine.audit import ledger, signing
from engine.bpmn.compiler import content_hash
from engine.cases import documents
from engine.catalog import processes
from engine.core import chain as audit
from engine.core import clock
from engine.core.errors import Corrupted, Forbidden, NotFound
from engine.core.settings import Settings
from engine.people.users import Actor
from storage.models.audit import AuditEvent
from storage.models.cases import Case
from storage.models.catalog import ProcessVersion

FORMAT = "shubbak-case-file/1"
_PREFIX = b"shubbak-signature:v1:"
_COMMENT_BYTES = len(_PREFIX) + 64 + 1 + 128  # public key hex, ":", signature hex
_EOCD = b"PK\x05\x06"


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True, default=str).encode("utf-8")


def _case_row(case: Case) -> dict[str, Any]:
    row = case.model_dump(exclude={"state"})
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def _event_row(ev: AuditEvent) -> dict[str, Any]:
    return {"seq": ev.seq, "at": ev.at, "actor": ev.actor, "kind": ev.kind, "task": ev.task, "data": ev.data,
            "after": ev.after, "prev_hash": ev.prev_hash, "hash": ev.hash}


def _versions(session: Session, case: Case, events: list[AuditEvent]) -> list[ProcessVersion]:
    """The versions the case ran on, first to last (the opened one, then each migration's)."""
    shas = [ev.data.get("sha256") if ev.kind == "case_opened" else ev.data.get("to_sha256")
            for ev in events if ev.kind in ("case_opened", "case_migrated")]
    rows = [session.exec(select(ProcessVersion).where(ProcessVersion.sha256 == sha)).first() for sha in shas if sha]
    found = [row for row in rows if row is not None]
    current = session.get(ProcessVersion, case.process_version_id)
    if current is not None and all(row.id != current.id for row in found):
        found.append(current)
    return found


def _ledger_proof(session: Session, case_id: int) -> dict[str, Any] | None:
    last: Any = None
    roots: ledger.Roots | None = None
    for entry, state, _own in ledger.folded(session):
        last, roots = entry, state
    if last is None or roots is None or case_id not in roots.leaves:
        return None
    order = sorted(roots.leaves)
    hashes = [ledger.leaf_hash(cid, roots.leaves[cid]) for cid in order]
    tracking, seq, head = roots.leaves[case_id]
    sealed = {k: getattr(last, k) for k in ("seq", "sealed_at", "case_count", "leaf_count", "root", "prev_hash",
                                            "hash", "public_key", "signature")}
    if last.nodes:  # central's seal pinning center nodes' seals: covered by its hash (engine/audit/ledger.py)
        sealed["nodes"] = last.nodes
    return {"seal": sealed,
            "leaf": {"case_id": case_id, "tracking_number": tracking, "audit_seq": seq, "audit_head": head},
            "proof": ledger.merkle_proof(hashes, order.index(case_id))}


def _scans(session: Session, case_id: int, actor: Actor, settings: Settings,
           members: dict[str, bytes]) -> dict[str, Any]:
    """Every version of every scan into ``members``; what the manifest says of them."""
    try:
        rows = documents.list_documents(session=session, actor=actor, settings=settings, case_id=case_id)
    except Forbidden:
        return {"included": False, "reason": f"{actor.username} may not read this case's scans"}
    store = documents.store_for(settings)
    files, unreadable = [], []
    for doc in rows:
        entry = {"id": doc.id, "kind": doc.kind, "version": doc.version, "filename": doc.filename,
                 "content_type": doc.content_type, "size": doc.size, "sha256": doc.sha256,
                 "uploaded_by": doc.uploaded_by}
        assert doc.id is not None
        try:
            _doc, chunks = documents.open_content(session=session, actor=actor, settings=settings, store=store,
                                                  document_id=doc.id, verify=True)
            content = b"".join(chunks)
        except Corrupted as exc:  # the store lost or changed it: the case file says so, and does not hold
            unreadable.append({**entry, "reason": exc.message})
            continue
        name = f"documents/{doc.kind}/v{doc.version}-{doc.id}-{_safe(doc.filename)}"
        members[name] = content
        files.append({**entry, "member": name})
    return {"included": True, "files": files, "unreadable": unreadable}


def _safe(filename: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in filename)[-80:] or "file"


def build(*, session: Session, case_id: int, actor: Actor, settings: Settings) -> tuple[str, bytes]:
    """``(file name, archive bytes)`` of one case, exported by ``actor`` (whose right to read the scans
    decides whether they are in it). Reads only; the archive is built in memory."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("case.not_found", case_id=case_id)
    events = audit.events_of(session, case_id)
    members: dict[str, bytes] = {
        "case.json": _json(_case_row(case)),
        "state.json": _json({"state_format": case.state_format, "state": case.state}),
        "events.json": _json([_event_row(ev) for ev in events]),
    }
    versions = []
    for row in _versions(session, case, events):
        for name, content in sorted(processes.decode_files(row.files).items()):
            members[f"process/v{row.version}/{name}"] = content
        versions.append({"version": row.version, "sha256": row.sha256, "service_code": row.service_code})
    scans = _scans(session, case_id, actor, settings, members)
    proof = _ledger_proof(session, case_id)
    if proof is not None:
        members["ledger.json"] = _json(proof)
    key = signing.installation_key(settings)
    moment = clock.now()
    manifest = {
        "format": FORMAT, "exported_at": clock.iso(moment), "exported_by": actor.username,
        "case": {"id": case.id, "tracking_number": case.tracking_number, "service_code": case.service_code},
        "process_versions": versions, "public_key": signing.public_hex(key), "documents": scans,
        "members": {name: {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
                    for name, content in members.items()},
    }
    session.rollback()
    stamp = moment.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in [("manifest.json", _json(manifest)), *members.items()]:
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), content, compress_type=zipfile.ZIP_DEFLATED)
        archive.comment = b"\0" * _COMMENT_BYTES
    data = buffer.getvalue()
    body = data[:-_COMMENT_BYTES]
    comment = _PREFIX + signing.public_hex(key).encode("ascii") + b":" + signing.sign(key, body).encode("ascii")
    assert len(comment) == _COMMENT_BYTES
    return f"case-{case.tracking_number}.zip", body + comment


@dataclass
class Checked:
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    public_key: str | None = None
    key_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def check(data: bytes, *, expected_key: str | None = None) -> Checked:
    """Everything that can be checked in a case file without the database; ``problems`` empty when it holds."""
    out = Checked()
    comment = data[-_COMMENT_BYTES:]
    eocd = data[-_COMMENT_BYTES - 22:-_COMMENT_BYTES]
    if (not comment.startswith(_PREFIX) or not eocd.startswith(_EOCD)
            or int.from_bytes(eocd[-2:], "little") != _COMMENT_BYTES):
        out.problems.append("no Shubbak signature at the end of the file: not a case file, or bytes were added")
        return out
    public, _, signature = comment[len(_PREFIX):].decode("ascii", "replace").partition(":")
    out.public_key = public
    if not signing.verify(public, data[:-_COMMENT_BYTES], signature):
        out.problems.append("the signature does not match the file: it was changed after it was exported")
    if expected_key is not None:
        out.key_checked = True
        if public.lower() != expected_key.strip().lower():
            out.problems.append(f"signed with key {public[:16]}…, not with the installation's published key "
                                f"{expected_key.strip()[:16]}…")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    except Exception as exc:  # noqa: BLE001 - an untrusted file: zipfile and zlib fail in many ways
        out.problems.append(f"the archive cannot be read: {type(exc).__name__}: {exc}")
        return out
    _check_members(files, out)
    return out


def _load(files: dict[str, bytes], name: str, out: Checked) -> Any:
    try:
        return json.loads(files[name])
    except (KeyError, ValueError) as exc:
        out.problems.append(f"{name} is missing or unreadable ({type(exc).__name__})")
        return None


def _check_members(files: dict[str, bytes], out: Checked) -> None:
    manifest = _load(files, "manifest.json", out)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        out.problems.append("manifest.json is not a Shubbak case file manifest")
        return
    out.manifest = manifest
    if manifest.get("public_key") != out.public_key:
        out.problems.append("the manifest names another key than the one that signed the file")
    listed: dict[str, Any] = manifest.get("members", {})
    for name in sorted(set(files) - set(listed) - {"manifest.json"}):
        out.problems.append(f"{name} is in the archive but not in the manifest")
    for name, entry in sorted(listed.items()):
        content = files.get(name)
        if content is None:
            out.problems.append(f"{name} is in the manifest but not in the archive")
        elif hashlib.sha256(content).hexdigest() != entry.get("sha256") or len(content) != entry.get("bytes"):
            out.problems.append(f"{name} does not match its SHA-256 in the manifest")
    events = _load(files, "events.json", out)
    case = _load(files, "case.json", out)
    if isinstance(events, list) and isinstance(case, dict):
        _check_events(case, events, files, manifest, out)


def _check_events(case: dict[str, Any], events: list[dict[str, Any]], files: dict[str, bytes],
                  manifest: dict[str, Any], out: Checked) -> None:
    prev = audit.GENESIS
    for number, ev in enumerate(events, start=1):
        digest = audit.event_hash(case_id=case.get("id", 0), seq=ev.get("seq", 0), at=ev.get("at", ""),
                                  actor=ev.get("actor", ""), kind=ev.get("kind", ""), task=ev.get("task"),
                                  data=ev.get("data"), prev_hash=ev.get("prev_hash", ""), after=ev.get("after"))
        if ev.get("seq") != number or ev.get("prev_hash") != prev or digest != ev.get("hash"):
            out.problems.append(f"events.json: the hash chain breaks at event {number}")
            return
        prev = digest
    if len(events) != case.get("audit_seq") or prev != (case.get("audit_head") or audit.GENESIS):
        out.problems.append("case.json's recorded head is not the last event of events.json")
    last = next((ev for ev in reversed(events) if ev.get("after")), None)
    if last is not None:
        after = last["after"]
        state = _load(files, "state.json", out)
        if isinstance(state, dict) and audit.sha256_text(str(state.get("state"))) != after.get("state_sha256"):
            out.problems.append(f"state.json is not the state event {last['seq']} recorded")
        if audit.data_digest(case.get("data")) != after.get("data_sha256"):
            out.problems.append(f"case.json's data is not the data event {last['seq']} recorded")
    _check_versions(events, files, manifest, out)
    _check_documents(events, files, manifest, out)
    if "ledger.json" in files:
        _check_ledger(case, events, _load(files, "ledger.json", out), out)


def _check_versions(events: list[dict[str, Any]], files: dict[str, bytes], manifest: dict[str, Any],
                    out: Checked) -> None:
    recorded = [ev["data"].get("sha256") if ev.get("kind") == "case_opened" else ev["data"].get("to_sha256")
                for ev in events if ev.get("kind") in ("case_opened", "case_migrated")]
    listed = {v.get("sha256"): v.get("version") for v in manifest.get("process_versions", [])}
    for sha in recorded:
        number = listed.get(sha)
        prefix = f"process/v{number}/"
        package = {name[len(prefix):]: content for name, content in files.items() if name.startswith(prefix)}
        if number is None or content_hash(package) != sha:
            out.problems.append(f"the process version the events name ({str(sha)[:12]}…) is not the one enclosed")


def _check_documents(events: list[dict[str, Any]], files: dict[str, bytes], manifest: dict[str, Any],
                     out: Checked) -> None:
    """Every scan the events record is in the file with the bytes they record (when scans are included)."""
    scans = manifest.get("documents", {})
    if not scans.get("included"):
        return
    for entry in scans.get("unreadable", []):
        out.problems.append(f"scan {entry.get('kind')} v{entry.get('version')} could not be read back when "
                            f"exported: {entry.get('reason')}")
    enclosed = {entry.get("id"): entry for entry in scans.get("files", [])}
    for ev in events:
        if ev.get("kind") != "document_uploaded":
            continue
        recorded = ev.get("data", {})
        entry = enclosed.get(recorded.get("document_id"))
        content = files.get(entry.get("member", "")) if entry else None
        if content is None:
            out.problems.append(f"the scan recorded by event {ev.get('seq')} is not in the case file")
        elif hashlib.sha256(content).hexdigest() != recorded.get("sha256"):
            out.problems.append(f"the scan recorded by event {ev.get('seq')} is not the file event "
                                f"{ev.get('seq')} recorded")


def _check_ledger(case: dict[str, Any], events: list[dict[str, Any]], found: Any, out: Checked) -> None:
    if not isinstance(found, dict):
        return
    seal, leaf, proof = found.get("seal", {}), found.get("leaf", {}), found.get("proof", [])
    try:
        leaf_bytes = ledger.leaf_hash(int(leaf["case_id"]), (leaf["tracking_number"], int(leaf["audit_seq"]),
                                                              leaf["audit_head"]))
        root = ledger.root_from_proof(leaf_bytes, proof)
        digest = ledger.seal_hash(**{k: seal[k] for k in ("seq", "sealed_at", "case_count", "leaf_count", "root",
                                                            "prev_hash", "public_key")}, nodes=seal.get("nodes", ""))
    except (KeyError, TypeError, ValueError):
        out.problems.append("ledger.json is not a seal with a proof")
        return
    if root != seal.get("root") or digest != seal.get("hash"):
        out.problems.append("ledger.json: the proof does not lead to the seal's root, or the seal was changed")
    elif not signing.verify(seal.get("public_key", ""), digest.encode("ascii"), seal.get("signature", "")):
        out.problems.append("ledger.json: the seal's signature does not match")
    elif seal.get("public_key") != out.public_key:
        out.problems.append("ledger.json: the seal was signed with another key than the file")
    sealed_seq = int(leaf.get("audit_seq", 0))
    if leaf.get("case_id") != case.get("id") or not (
            0 < sealed_seq <= len(events) and events[sealed_seq - 1].get("hash") == leaf.get("audit_head")):
        out.problems.append("ledger.json: the sealed head is not an event of this case's chain")
