"""The label vocabulary: eight emotions, and each dataset's words for them."""

from __future__ import annotations

from .errors import UserError

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "disgusted",
    "surprised",
    "fearful",
    "contemptuous",
)

# The thesis's gradient FNN drops fear and contempt (it confused fear with sadness).
THESIS_SIX: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "disgusted", "surprised")

SYNONYMS: dict[str, str] = {
    # RaFD
    "happy": "happy", "sad": "sad", "angry": "angry", "disgusted": "disgusted",
    "surprised": "surprised", "fearful": "fearful", "contemptuous": "contemptuous",
    "neutral": "neutral",
    # common words and CK+ / FER2013 names
    "happiness": "happy", "joy": "happy", "smile": "happy", "smiling": "happy",
    "sadness": "sad", "anger": "angry", "disgust": "disgusted", "surprise": "surprised",
    "fear": "fearful", "afraid": "fearful", "scared": "fearful", "contempt": "contemptuous",
    "calm": "neutral",
    # JAFFE codes
    "ne": "neutral", "ha": "happy", "sa": "sad", "an": "angry", "di": "disgusted",
    "su": "surprised", "fe": "fearful",
}


def canonical(word: str, where: str = "") -> str:
    """Map a dataset's word for an emotion onto the vocabulary, or raise naming where it came from."""
    key = word.strip().lower()
    if key in SYNONYMS:
        return SYNONYMS[key]
    suffix = f" in {where}" if where else ""
    raise UserError(f"unknown emotion {word!r}{suffix}; known: {', '.join(EMOTIONS)}")


def resolve_classes(names: list[str] | tuple[str, ...], key: str) -> tuple[str, ...]:
    """Validate a configured class list (order kept) against the vocabulary."""
    out = []
    for name in names:
        emotion = canonical(str(name), where=key)
        if emotion in out:
            raise UserError(f"{key}: {emotion!r} is listed twice")
        out.append(emotion)
    if len(out) < 2:
        raise UserError(f"{key}: a classifier needs at least two emotions, got {out}")
    return tuple(out)
