"""The comparison's data and folds, decided once, before any model: every model is trained and tested
on the same photos of the same subjects.

`prepare` reads each stage folder the models need, keeps the photos that reached *every* one of
them (a photo the align stage rejected is left out of the CNN too), applies the identity
normalisation, and cuts each model's data to its classes. `plan_folds` then assigns whole
subjects (or, for the thesis's random split, photos) to test and validation sets by photo key,
so the split of any model's data follows from the keys alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import ModelData, PhotoSet, choose_classes, load_photos, model_data, reads_features, source_key
from .errors import UserError
from .kinds import kind as kind_of
from .normalization import Normalisation, normalise
from .progress import say
from .settings import Settings
from .splits import Split, fold_of_subject, fold_split, make_split


@dataclass
class Prepared:
    """Each model's data over the shared photos, and the shared photos' keys, subjects and parts."""

    datasets: dict[str, ModelData]
    keys: list[str]
    subjects: np.ndarray
    parts: np.ndarray
    emotions: np.ndarray
    normalisation: Normalisation
    left_out: dict[str, int]  # photos a source had that another model's source did not


@dataclass(frozen=True)
class FoldPlan:
    """One fold's test and validation photos, by key; every other shared photo trains."""

    index: int
    repeat: int
    test: frozenset[str]
    validation: frozenset[str]

    def split(self, data: ModelData) -> Split:
        """This fold's indices into one model's data.

        Validation may be the test photos themselves: the thesis's separate test source is both.
        """
        keys = np.array(data.keys)
        test = np.isin(keys, list(self.test))
        validation = np.isin(keys, list(self.validation))
        everything = np.arange(len(keys))
        return Split(everything[~test & ~validation], everything[validation], everything[test])


def prepare(config: Settings, kinds: list[str]) -> Prepared:
    """Load what `kinds` read, keep the photos all of them have, normalise, and cut per model."""
    wanted = {(source_key(config, k), reads_features(k)) for k in kinds}
    photos: dict[tuple[str, bool], PhotoSet] = {w: load_photos(config, w[0], w[1]) for w in sorted(wanted)}
    shared = set.intersection(*(set(p.keys) for p in photos.values()))
    left_out = {f"{key}{' (features)' if features else ''}": len(p) - len(shared)
                for (key, features), p in photos.items()}
    if not shared:
        raise UserError("models: no photo reached every model's stage folder; run the stages for all of them")
    mode = config.subject_normalization
    missing: set[str] = set()
    for w, p in photos.items():
        p = p.select(np.isin(p.keys, list(shared)))
        p, without = normalise(p.take(np.argsort(p.keys)), mode)  # one order for every source
        missing.update(without)
        photos[w] = p
    reference = next(iter(photos.values()))
    keep = ~np.isin(reference.keys, list(missing))
    photos = {w: p.select(~np.isin(p.keys, list(missing))) for w, p in photos.items()}
    subjects_without = sorted({str(s) for s, k in zip(reference.subjects, reference.keys, strict=True) if k in missing})
    normalisation = Normalisation(mode, tuple(sorted(missing)), tuple(subjects_without))
    if missing:
        say(f"  subject_normalization {mode}: {len(missing)} photos of {len(subjects_without)} persons have no "
            f"reference and are left out of every model")
    reference = reference.select(keep)
    if len(reference) == 0:
        raise UserError(f"subject_normalization: no photo has a reference in mode {mode!r}")
    classes: dict[str, list[str]] = {}
    datasets: dict[str, ModelData] = {}
    for k in kinds:
        network = kind_of(k).floor_of or k  # a floor has its network's classes
        if network not in classes:
            classes[network] = choose_classes(config, network, reference.emotions)
        datasets[k] = model_data(photos[(source_key(config, k), reads_features(k))], k, classes[network])
    return Prepared(datasets, reference.keys, reference.subjects, reference.parts, reference.emotions,
                    normalisation, left_out)


def plan_folds(prepared: Prepared, config: Settings, repeat: int = 0) -> list[FoldPlan]:
    """The folds of one repeat: K subject-disjoint folds, or the single configured split."""
    s = config.split
    seed = int(s.seed) + repeat
    keys = np.array(prepared.keys)
    k = int(config.evaluation.folds)
    if k > 1:
        fold_map = fold_of_subject(prepared.subjects, k, seed)
        plans = []
        for fold in range(k):
            split = fold_split(prepared.subjects, fold_map, fold, s.validation_fraction, seed)
            if len(split.test):
                plans.append(FoldPlan(fold, repeat, frozenset(keys[split.test]), frozenset(keys[split.validation])))
        return plans
    split = make_split(prepared.subjects, prepared.parts, s.method, s.validation_fraction, s.test_fraction,
                       seed)
    return [FoldPlan(0, repeat, frozenset(keys[split.test]), frozenset(keys[split.validation]))]
