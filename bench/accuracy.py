"""Accuracy of the configured face pipeline on labelled photos.

    python -m bench.accuracy --images ../shared/faces/lfw/images --pairs ../shared/faces/lfw/pairsDevTrain.txt
    python -m bench.accuracy --manifest ../shared/faces/lfw/manifest.csv --identification
    python -m bench.accuracy --manifest ../shared/faces/lfw/manifest.csv --quality --distractors
    python -m bench.accuracy --manifest ../shared/faces/lfw/manifest.csv --identification --distractors --vector-type float16

Pairs: accuracy at the model's default threshold and 10-fold (threshold chosen on nine folds,
scored on the tenth), TAR at FAR 0.1% and 1%, a logistic fit of P(same | distance), a ROC plot.
Identification: the first photo of each person with two or more is enrolled; the remaining photos
are the known probes and the one-photo people the never-enrolled probes. With --distractors, every
other one-photo person is enrolled too (a larger gallery, fewer strangers). Prints rank-1 identification and the false accept
rate of strangers at the default threshold, and the threshold that accepts at most 1% of them
(with --sweep, that threshold for each cut-off of the runner-up ratio: how a default is chosen).
A photo where no face is found counts as an error, never as skipped. --quality measures every
photo's face (recognition/quality.py), prints the quantiles the limits are set from and what the
model's limits refuse, and repeats the open set with those photos refused at enrolment.
--vector-type float16 runs the open set on the FAISS index storing fp16 (FAISS_VECTOR_TYPE) and adds
the recall@10 of every probe's ten nearest photos against the float32 index's.
"""

import argparse
import csv
import uuid
from collections import defaultdict
from pathlib import Path

import numpy as np

from .embeddings import embed_paths

NO_FACE_DISTANCE = 2.0  # the largest cosine distance: a missing face never matches


def read_pairs(pairs_file: Path, images: Path):
    pairs = []
    for line in pairs_file.read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3:
            name, i, j = parts
            pairs.append((images / name / f"{name}_{int(i):04d}.jpg", images / name / f"{name}_{int(j):04d}.jpg", True))
        elif len(parts) == 4:
            a, i, b, j = parts
            pairs.append((images / a / f"{a}_{int(i):04d}.jpg", images / b / f"{b}_{int(j):04d}.jpg", False))
    return pairs


def cosine_distance(a, b) -> float:
    if a is None or b is None:
        return NO_FACE_DISTANCE
    return float(max(0.0, 1.0 - np.dot(a, b)))


def best_threshold(distances, same) -> float:
    candidates = np.unique(distances)
    accuracies = [np.mean((distances <= t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracies))])


def ten_fold_accuracy(distances, same, folds: int = 10):
    """LFW-style: each fold holds an equal share of same and different pairs."""
    fold_of = np.empty(len(same), dtype=int)
    for label in (True, False):
        members = np.flatnonzero(same == label)
        fold_of[members] = np.arange(len(members)) * folds // len(members)
    scores, thresholds = [], []
    for fold in range(folds):
        test = fold_of == fold
        threshold = best_threshold(distances[~test], same[~test])
        thresholds.append(threshold)
        scores.append(np.mean((distances[test] <= threshold) == same[test]))
    return float(np.mean(scores)), float(np.std(scores)), thresholds


def tar_at_far(distances, same, far: float):
    negatives = np.sort(distances[~same])
    allowed = int(np.floor(far * len(negatives)))
    # Accept strictly below the (allowed+1)-th closest impostor.
    threshold = negatives[allowed] - 1e-9 if allowed < len(negatives) else negatives[-1]
    return float(np.mean(distances[same] <= threshold)), float(threshold)


def fit_logistic(distances, same, iterations: int = 50):
    """P(same | d) = 1 / (1 + exp(a * (d - b))), fitted by Newton's method on pairs with faces."""
    keep = distances < NO_FACE_DISTANCE
    x, y = distances[keep], same[keep].astype(float)
    design = np.stack([x, np.ones_like(x)], axis=1)
    # Start at the accuracy-optimal distance with a slope on the scale of the distances: Newton's
    # method diverges from a start far off (models' distances differ by an order of magnitude).
    slope = 4.0 / np.std(x)
    weights = np.array([-slope, slope * best_threshold(x, same[keep])])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-design @ weights))
        gradient = design.T @ (y - p)
        hessian = -(design.T * (p * (1 - p))) @ design
        weights -= np.linalg.solve(hessian, gradient)
    slope, intercept = weights
    return float(-slope), float(-intercept / slope)  # a, b


def run_pairs(args, calibration):
    pairs = read_pairs(Path(args.pairs), Path(args.images))
    embeddings = embed_paths(sorted({str(p) for a, b, _ in pairs for p in (a, b)}), workers=args.workers)
    distances = np.array([cosine_distance(embeddings[str(a)], embeddings[str(b)]) for a, b, _ in pairs])
    same = np.array([s for _, _, s in pairs])
    missing = sum(v is None for v in embeddings.values())
    fixed = np.mean((distances <= calibration.threshold) == same)
    mean, std, thresholds = ten_fold_accuracy(distances, same)
    print(f"pairs: {len(pairs)} ({same.sum()} same, {(~same).sum()} different); photos with no face found: {missing}")
    print(f"accuracy at the default threshold {calibration.threshold:.4f}: {fixed:.4f}")
    print(f"10-fold accuracy: {mean:.4f} +- {std:.4f} (fold thresholds {min(thresholds):.4f}..{max(thresholds):.4f})")
    print(f"accuracy-optimal threshold on all pairs: {best_threshold(distances, same):.4f}")
    for far in (0.001, 0.01):
        tar, threshold = tar_at_far(distances, same, far)
        print(f"TAR at FAR {far:.1%}: {tar:.4f} (threshold {threshold:.4f})")
    a, b = fit_logistic(distances, same)
    print(f"logistic fit P(same|d) = 1/(1+exp({a:.3f}*(d-{b:.4f})))")
    if args.plot:
        plot_roc(distances, same, Path(args.plot))
        print(f"ROC plot: {args.plot}")


def plot_roc(distances, same, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = np.unique(distances)
    tar = [np.mean(distances[same] <= t) for t in thresholds]
    far = [np.mean(distances[~same] <= t) for t in thresholds]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(far, tar)
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title("ROC, LFW pairsDevTrain")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def run_identification(args, calibration, refused: frozenset = frozenset()):
    """Open-set figures. Photos in `refused` are not enrolled (as the quality check at enrolment
    would refuse them): their people's other photos then count as strangers."""
    from recognition.vectors.faiss_index import FaissIndex

    manifest = Path(args.manifest)
    photos = defaultdict(list)
    with manifest.open() as handle:
        for row in csv.DictReader(handle):
            photos[row["identity"]].append(str(manifest.parent / row["path"]))
    known = {name: paths for name, paths in photos.items() if len(paths) > 1}
    singles = sorted(name for name, paths in photos.items() if len(paths) == 1)
    distractors, strangers = (singles[0::2], singles[1::2]) if args.distractors else ([], singles)
    embeddings = embed_paths([p for paths in photos.values() for p in paths], workers=args.workers)
    not_enrolled = sorted(name for name in known if photos[name][0] in refused)
    known = {name: paths for name, paths in known.items() if name not in not_enrolled}
    distractors = [name for name in distractors if photos[name][0] not in refused]

    enrolled = [(name, photos[name][0]) for name in sorted(known)] + [(n, photos[n][0]) for n in distractors]
    index = FaissIndex(vector_type=args.vector_type)
    names = {}
    ids, vectors, people = [], [], []
    for vector_id, (name, path) in enumerate(enrolled):
        if embeddings[path] is None:
            continue
        ids.append(vector_id)
        vectors.append(embeddings[path])
        person = uuid.uuid5(uuid.NAMESPACE_OID, name)
        people.append(person)
        names[person] = name
    index.add(ids, np.stack(vectors), people)

    def nearest(path):
        """(name, distance, ratio of the distance to the runner-up's) of the nearest person."""
        if embeddings[path] is None:
            return None, NO_FACE_DISTANCE, 1.0
        found = index.search_people(embeddings[path], 2)
        ratio = found[0].distance / max(found[1].distance, 1e-6) if len(found) > 1 else 0.0
        return names[found[0].person_id], found[0].distance, ratio

    probe_paths = [path for name in sorted(known) for path in known[name][1:]] + [photos[name][0] for name in strangers]
    if args.vector_type != "float32":
        reference = FaissIndex()
        reference.add(ids, np.stack(vectors), people)
        queries = np.stack([embeddings[path] for path in probe_paths if embeddings[path] is not None])
        found, exact = index.nearest(queries, 10)[1], reference.nearest(queries, 10)[1]
        shared = [len(set(f) & set(e)) for f, e in zip(found.tolist(), exact.tolist())]
        print(
            f"{args.vector_type} index: recall@10 against float32 over {len(queries)} probes: {np.mean(shared) / 10:.5f} "
            f"({10 * len(shared) - sum(shared)} of {10 * len(shared)} neighbours differ)"
        )
    known_results = [(name, *nearest(path)) for name in sorted(known) for path in known[name][1:]]
    stranger_results = [nearest(photos[name][0]) for name in strangers]
    stranger_results += [nearest(path) for name in not_enrolled for path in photos[name][1:]]
    stranger_distances = np.array([d for _, d, _ in stranger_results])
    stranger_ratios = np.array([r for _, _, r in stranger_results])
    known_correct = np.array([found == name for name, found, _, _ in known_results])
    known_distances = np.array([d for _, _, d, _ in known_results])
    known_ratios = np.array([r for _, _, _, r in known_results])

    def report(threshold, label, max_ratio=1.0):
        accepted = (known_distances <= threshold) & (known_ratios <= max_ratio)
        strangers_accepted = np.mean((stranger_distances <= threshold) & (stranger_ratios <= max_ratio))
        ratio_test = f", ratio test {max_ratio:.2f}" if max_ratio < 1 else ""
        print(
            f"{label} {threshold:.4f}{ratio_test}: rank-1 identified {np.mean(known_correct & accepted):.4f}, "
            f"known probes given a wrong name {np.mean(~known_correct & accepted):.4f}, "
            f"strangers accepted {strangers_accepted:.4f}"
        )

    print(
        f"gallery: {len(ids)} people ({len(known)} with probes, {len(distractors)} distractors); "
        f"known probes {len(known_results)}; never-enrolled probes {len(stranger_results)}; "
        f"photos with no face found: {sum(v is None for v in embeddings.values())}"
        + (f" ({len(refused)} photos refused for quality; {len(not_enrolled)} people not enrolled)" if refused else "")
    )
    print(f"rank-1 accuracy with no threshold: {known_correct.mean():.4f}")
    report(calibration.threshold, "at the default", calibration.max_ratio)
    report(calibration.threshold, "distance alone at the default")
    for threshold in args.guide:
        report(threshold, "at", calibration.max_ratio)
    allowed = int(0.01 * len(stranger_distances))

    def largest_threshold(candidates):
        """Just below the distance of the (allowed+1)-th nearest of these strangers."""
        ranked = np.sort(candidates)
        return ranked[allowed] - 1e-9 if allowed < len(ranked) else NO_FACE_DISTANCE - 1e-9

    report(largest_threshold(stranger_distances), "distance alone at the threshold accepting at most 1% of strangers")
    if args.sweep:
        print("largest threshold accepting at most 1% of strangers, per runner-up ratio cut-off:")
        for max_ratio in np.arange(0.50, 1.001, 0.05):
            report(largest_threshold(stranger_distances[stranger_ratios <= max_ratio]), "  at", max_ratio)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", help="folder of LFW-style images (Name/Name_0001.jpg)")
    parser.add_argument("--pairs", help="LFW pairs file")
    parser.add_argument("--manifest", help="CSV of path,identity")
    parser.add_argument("--identification", action="store_true")
    parser.add_argument("--distractors", action="store_true", help="enrol half the one-photo people")
    parser.add_argument("--guide", type=float, nargs="*", default=[], help="more thresholds to report")
    parser.add_argument(
        "--quality", action="store_true",
        help="with --manifest: the quality of every photo, what the limits refuse, and the open set refusing them",
    )
    parser.add_argument("--sweep", action="store_true", help="calibrate: thresholds per ratio cut-off at 1%% strangers")
    parser.add_argument("--plot", default="bench/roc.png", help="where to write the ROC plot ('' for none)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--vector-type", default="float32", help="the FAISS index's: float32 or float16")
    args = parser.parse_args()
    from .embeddings import setup_django

    setup_django()
    from recognition.calibration import calibration_for
    from recognition.service import get_service

    service = get_service()
    calibration = calibration_for(service.model_key)
    print(f"pipeline: {service.model_key}")
    if args.pairs:
        run_pairs(args, calibration)
    if args.identification:
        run_identification(args, calibration)
    if args.quality:
        refused = quality_report(args, calibration)
        print("open set, enrolment refusing the photos outside the quality limits:")
        run_identification(args, calibration, refused=refused)


QUALITY_QUANTILES = (0.0025, 0.005, 0.01, 0.99, 0.995, 0.9975)


def suggest_quality_limits(table: np.ndarray, refused_at_most: float = 0.01):
    """The limits cutting the same fraction q off each tail (small eye distance, low sharpness,
    yaw either way, pitch either way), with the largest q whose union refuses at most
    `refused_at_most` of the photos: no one measure is favoured, and together they stay within it."""
    from recognition.quality import QualityLimits

    from .embeddings import QUALITY_FIELDS

    column = {name: table[:, number] for number, name in enumerate(QUALITY_FIELDS)}

    def limits_at(q):
        return QualityLimits(
            min_eye_distance=round(float(np.quantile(column["eye_distance"], q)), 1),
            min_sharpness=round(float(np.quantile(column["sharpness"], q)), 1),
            max_yaw=round(float(max(-np.quantile(column["yaw"], q), np.quantile(column["yaw"], 1 - q))), 3),
            pitch_range=(round(float(np.quantile(column["pitch"], q)), 3), round(float(np.quantile(column["pitch"], 1 - q)), 3)),
        )

    def refused(limits):
        low, high = limits.pitch_range
        return np.mean(
            (column["eye_distance"] < limits.min_eye_distance) | (column["sharpness"] < limits.min_sharpness)
            | (np.abs(column["yaw"]) > limits.max_yaw) | (column["pitch"] < low) | (column["pitch"] > high)
        )

    best = None
    for q in np.arange(0.0001, refused_at_most, 0.0001):
        if refused(limits_at(q)) > refused_at_most:
            break
        best = limits_at(q)
    return best


def quality_report(args, calibration) -> frozenset:
    """The quality of every manifest photo's central face: quantiles of each measure (to set the
    limits from), and the photos the model's limits refuse, by reason."""
    from recognition.quality import FaceQuality

    from .embeddings import QUALITY_FIELDS, central_quality

    manifest = Path(args.manifest)
    with manifest.open() as handle:
        paths = [str(manifest.parent / row["path"]) for row in csv.DictReader(handle)]
    measured = {path: q for path, q in central_quality(paths, workers=args.workers).items() if q is not None}
    table = np.stack(list(measured.values()))
    print(f"quality of {len(measured)} photos' central faces (of {len(paths)}):")
    for column, name in enumerate(QUALITY_FIELDS):
        quantiles = ", ".join(f"{q:.2%} {np.quantile(table[:, column], q):.3f}" for q in QUALITY_QUANTILES)
        print(f"  {name}: {quantiles}")
    suggested = suggest_quality_limits(table)
    print(f"limits refusing at most 1% of these photos (each tail at the same quantile): {suggested}")
    limits = calibration.quality_limits
    if limits is None:
        print("no quality limits for this model: nothing refused")
        return frozenset()
    reasons = {
        path: limits.problem(FaceQuality(**dict(zip(QUALITY_FIELDS, map(float, row)))))
        for path, row in measured.items()
    }
    refused = frozenset(path for path, problem in reasons.items() if problem)
    counts = defaultdict(int)
    for problem in reasons.values():
        if problem:
            counts[problem[0]] += 1
    print(f"refused by {limits}: {len(refused)} of {len(paths)} ({len(refused) / len(paths):.2%}): {dict(counts)}")
    return refused


if __name__ == "__main__":
    main()
