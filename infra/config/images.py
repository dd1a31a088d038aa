"""Container image references as registries parse them: what Railway is given to pull, checked before it is."""
from __future__ import annotations

import re

# A container image reference as registries parse it (distribution/reference): [registry[:port]/]path[:tag][@digest]
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REF = re.compile(rf"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::\d+)?/)?{_PATH}(?:/{_PATH})*"
                       r"(?::\w[\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")
IMAGE_RULE = "<registry>/<name>:<tag> or <registry>/<name>@sha256:<64 hex>, lowercase name, no spaces"
IMAGE_NAME_MAX = 255  # the OCI distribution spec's cap on `<registry>/<name>` (Railway documents none of its own)


def check_image_ref(v: str) -> str:
    """Railway pulls the reference as given: one with a space or an uppercase name fails there, after the stack
    changed; refused here instead."""
    if not IMAGE_REF.fullmatch(v):
        raise ValueError(f"{v[:80]!r} is not an image reference: {IMAGE_RULE} (e.g. ghcr.io/acme/app:1.2)")
    name = image_name(v)
    if len(name) > IMAGE_NAME_MAX:
        raise ValueError(f"{name[:40]!r}... is {len(name)} characters: registries take at most {IMAGE_NAME_MAX} "
                         "for <registry>/<name>")
    return v


def image_name(ref: str) -> str:
    """`<registry>/<name>` of a reference: without its digest and tag (a `:` after the last `/` starts the tag)."""
    head = ref.split("@", 1)[0]
    slash = head.rfind("/")
    colon = head.rfind(":")
    return head[:colon] if colon > slash else head
