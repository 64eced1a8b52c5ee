"""`mereo eval recognize`: object recognition on SynthParts test and novel (zero-shot) objects.

Printed:

- crop top-1: every visible object's square crop (from its gold mask) is classified among the
  candidate names: the 27 training categories on ``test``; on ``novel`` the novel objects
  (ottoman, van, goat, shark, teapot, never seen in training) among the 5 novel names, and among
  all 32 names. "names" uses prompt-ensembled names only; "names+parts" also averages in
  descriptions built from the knowledge base's part lists ("a teapot with base, body, handle, knob").
- multi-object recognition with ``recognize(image)`` (patch-token proposals + crop re-scoring,
  see ``detect.py``) on whole ``test`` images with the 27 names: label recall / precision (the set
  of predicted labels against the image's gold categories), box recall@0.5 (a gold object is found
  when a prediction of its label has box IoU >= 0.5), and top-1 (the best prediction is one of the
  image's objects).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mereo.data.arrays import SceneArrays, load_split
from mereo.tools.recognize.crops import crop_batch, object_items
from mereo.tools.recognize.detect import box_iou
from mereo.tools.recognize.zeroshot import class_embeddings


def crop_accuracy(
    clip, data: SceneArrays, names: list[str], describe: bool = False, among: list[str] | None = None
) -> tuple[float, int]:
    """Top-1 accuracy of the gold object crops whose category is in ``names``, classified among
    ``among`` (default ``names``) with prompt-ensembled class embeddings; and the crops' count.

    ``describe`` adds the "a {} with {parts}" prompts to the ensembles.
    """
    among = names if among is None else among
    items = [it for it in object_items(data) if data.category_names[it.category] in names]
    if not items:
        return 0.0, 0
    with torch.no_grad():
        weights = class_embeddings(clip, among, describe=describe)
        embs = []
        for s in range(0, len(items), 128):
            chunk = items[s : s + 128]
            crops = crop_batch(
                data.images, [it.image for it in chunk], [it.box for it in chunk], clip.image_size
            )
            embs.append(F.normalize(clip.image_and_tokens(clip.normalize(crops))[0], dim=-1).cpu())
    pred = (torch.cat(embs) @ weights.T).argmax(1)
    gold = torch.tensor([among.index(data.category_names[it.category]) for it in items])
    return float((pred == gold).float().mean()), len(items)


def region_accuracy(
    rec, data: SceneArrays, names: list[str], all_names: list[str] | None = None
) -> tuple[float, int]:
    """Top-1 of gold objects whose category is in ``names``, for backends without a CLIP model:
    each object's gold mask is scored with ``rec.score(image, mask, candidates)``; candidates are
    ``all_names`` when given (novel among all), else ``names``."""
    from mereo.types import ImageRef, Mask

    cands = all_names or names
    right = n = 0
    for i in tqdm(range(len(data)), desc=f"{rec.name}: regions", leave=False):
        ref = None
        for k, cat in data.objects(i):
            if cat not in names:
                continue
            ref = ref or ImageRef(data.images[i])
            scores = rec.score(ref, Mask.from_numpy(data.object_mask(i, k)), cands)
            right += int(cands[int(np.argmax(scores))] == cat)
            n += 1
    return right / max(1, n), n


def detection_metrics(
    recognizer, data: SceneArrays, names: list[str], n_images: int, min_area: int = 40
) -> dict[str, float]:
    """Label recall/precision, box recall@0.5 and top-1 of ``recognizer.recognize`` on whole images."""
    from mereo.types import ImageRef

    tp_lab = n_gold_lab = n_pred_lab = 0
    box_hits = n_gold = top1 = n_img = 0
    for i in tqdm(range(min(n_images, len(data))), desc="recognize()", leave=False):
        gold = []
        for k, cat in data.objects(i):
            mask = data.object_mask(i, k)
            if mask.sum() < min_area or cat not in names:
                continue
            ys, xs = np.nonzero(mask)
            gold.append(
                (
                    cat,
                    (
                        float(xs.min()),
                        float(ys.min()),
                        float(xs.max() - xs.min() + 1),
                        float(ys.max() - ys.min() + 1),
                    ),
                )
            )
        if not gold:
            continue
        preds = recognizer.recognize(ImageRef(data.images[i]), candidates=names, top_k=5)
        n_img += 1
        gold_labels, pred_labels = {g[0] for g in gold}, {p.label for p in preds}
        tp_lab += len(gold_labels & pred_labels)
        n_gold_lab += len(gold_labels)
        n_pred_lab += len(pred_labels)
        top1 += int(bool(preds) and preds[0].label in gold_labels)
        used: set[int] = set()
        for cat, box in gold:
            n_gold += 1
            for j, p in enumerate(preds):
                if j not in used and p.label == cat and box_iou(p.box, box) >= 0.5:
                    used.add(j)
                    box_hits += 1
                    break
    return {
        "label_recall": tp_lab / max(1, n_gold_lab),
        "label_precision": tp_lab / max(1, n_pred_lab),
        "box_recall@0.5": box_hits / max(1, n_gold),
        "top1": top1 / max(1, n_img),
        "images": float(n_img),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mereo eval recognize", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="clip-small", help="recognize backend name")
    parser.add_argument("--n-images", type=int, default=300, help="scenes per split")
    parser.add_argument("--n-detect", type=int, default=150, help="test images for recognize()")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    from mereo.cache import FeatureCache
    from mereo.data.synthparts import CATEGORIES, NOVEL_CATEGORIES, TRAIN_CATEGORIES
    from mereo.tools import recognize
    from mereo.tools.base import ToolContext

    torch.set_num_threads(min(2, torch.get_num_threads()))
    t0 = time.perf_counter()
    rec = recognize.build(args.backend, ToolContext(cache=FeatureCache(), device=args.device))
    test = load_split("test", args.n_images, seed=args.seed)
    novel = load_split("novel", args.n_images, seed=args.seed)
    train_names, novel_names, all_names = list(TRAIN_CATEGORIES), list(NOVEL_CATEGORIES), list(CATEGORIES)
    rows = []
    if not hasattr(rec, "clip"):  # a backend without a CLIP model: gold masks scored by rec.score
        acc_t, n_t = region_accuracy(rec, test, train_names)
        acc_n5, n_n = region_accuracy(rec, novel, novel_names)
        acc_n32, _ = region_accuracy(rec, novel, novel_names, all_names)
        rows.append(("names (mask)", acc_t, acc_n5, acc_n32))
    for desc, describe in (("names", False), ("names+parts", True)) if hasattr(rec, "clip") else ():
        acc_t, n_t = crop_accuracy(rec.clip, test, train_names, describe)
        acc_n5, n_n = crop_accuracy(rec.clip, novel, novel_names, describe)
        acc_n32, _ = crop_accuracy(rec.clip, novel, novel_names, describe, among=all_names)
        rows.append((desc, acc_t, acc_n5, acc_n32))
    print(f"backend {args.backend}: object crops, {n_t} test objects (27-way), {n_n} novel objects")
    print(f"{'prompts':<14}{'test top-1':>12}{'novel 5-way':>14}{'novel 32-way':>14}")
    for desc, a, b, c in rows:
        print(f"{desc:<14}{100 * a:>11.1f}%{100 * b:>13.1f}%{100 * c:>13.1f}%")
    print(
        f"chance        {100 / len(train_names):>11.1f}%{100 / len(novel_names):>13.1f}%"
        f"{100 / len(all_names):>13.1f}%"
    )
    det = detection_metrics(rec, test, train_names, args.n_detect)
    print(f"\nrecognize(image) on {int(det['images'])} whole test images (1-3 objects, 27 names, top_k=5):")
    print("  " + "  ".join(f"{k} {100 * v:.1f}%" for k, v in det.items() if k != "images"))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0
