"""`python -m lab voices ...`: manage the voice library from the command line.

Enrolled voices are then usable by name everywhere, e.g.
``python -m lab tts --voice NAME --text ...``. Enrolling needs ``--consent``,
the command-line form of the consent checkbox in the app.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from lab import voices


def _summary(voice: voices.Voice) -> dict[str, Any]:
    ref = voice.meta.get("reference", {})
    return {"name": voice.name, "display_name": voice.display_name, "folder": str(voice.folder),
            "speech_seconds": ref.get("speech_seconds"), "dnsmos": ref.get("dnsmos"),
            "warnings": ref.get("warnings", []), "embedding_model": voice.meta.get("embedding_model")}


def _print(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(payload))
        return
    for voice in payload.get("voices", [payload] if "name" in payload else []):
        speech = voice["speech_seconds"]
        print(f"{voice['name']:<24} {voice['display_name']:<24} {speech if speech is None else round(speech, 1)} s "
              f"of speech  {'; '.join(voice['warnings'])}")
    if "deleted" in payload:
        print(f"deleted {payload['deleted']}")


def cmd_voices(args: argparse.Namespace) -> int:
    """Run one voice-library action; user errors (VoiceError, AudioError) propagate to lab.__main__."""
    if args.action == "list":
        payload: dict[str, Any] = {"voices": [_summary(v) for v in voices.list_voices()]}
    elif args.action == "enroll":
        payload = _summary(voices.enroll(args.name, args.file, consent=args.consent, overwrite=args.overwrite))
    elif args.action == "rename":
        payload = _summary(voices.rename_voice(args.name, args.new_name))
    else:
        payload = {"deleted": voices.delete_voice(args.name)}
    _print(payload, args.json)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``voices list|enroll|rename|delete``."""
    parser = subparsers.add_parser("voices", help="list, enroll, rename or delete voices of the voice library")
    actions = parser.add_subparsers(dest="action", required=True)
    p = actions.add_parser("list", help="every enrolled voice")
    p.add_argument("--json", action="store_true")
    p = actions.add_parser("enroll", help="clean, check and store a reference recording under NAME")
    p.add_argument("name")
    p.add_argument("file", help="reference recording (3-30 s of one person speaking)")
    p.add_argument("--consent", action="store_true", help=voices.CONSENT_TEXT)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true")
    p = actions.add_parser("rename", help="give a voice a new name")
    p.add_argument("name")
    p.add_argument("new_name")
    p.add_argument("--json", action="store_true")
    p = actions.add_parser("delete", help="remove a voice with its audio and embeddings")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    parser.set_defaults(func=cmd_voices)
