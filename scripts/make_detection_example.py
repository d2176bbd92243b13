"""Write the shipped ``--task detection`` example (fixed seed, no downloads).

Twelve 96x96 PNG images of coloured rectangles (red squares are ``square``,
blue wide bars are ``bar``), their COCO annotations with three planted errors
(one object left unannotated, one annotated with the wrong class, one box
drawn far off its object) and a COCO results file standing in for a detector
that finds every object with high confidence.

Usage: python scripts/make_detection_example.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "src" / "labelaudit" / "data" / "examples" / "detection"
SIZE = 96
N_IMAGES = 12
COLOURS = {1: (200, 40, 40), 2: (40, 70, 200)}
README = """Example for labelaudit audit --task detection (written by scripts/make_detection_example.py).

images/img_XX.png   twelve 96x96 images of red squares (class "square") and blue bars ("bar")
annotations.json    COCO annotations: images, annotations (bbox = [x, y, width, height]), categories;
                    three planted errors: img_03 misses an object, img_06 calls a bar a square,
                    img_09 has a box drawn away from its object
predictions.json    COCO results: a detector's boxes with scores, one per object

Audit it (from this folder):

    labelaudit audit annotations.json --task detection --predictions predictions.json --out audit_out
"""


def main() -> None:
    rng = np.random.default_rng(12)
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    images, anns, dets = [], [], []
    for i in range(N_IMAGES):
        pixels = np.full((SIZE, SIZE, 3), 235, dtype=np.uint8)
        objects = []
        for _ in range(int(rng.integers(1, 4))):
            cat = int(rng.integers(1, 3))
            w, h = (18, 18) if cat == 1 else (30, 10)
            for _try in range(50):
                x, y = int(rng.integers(2, SIZE - w - 2)), int(rng.integers(2, SIZE - h - 2))
                if all(x + w < ox or ox + ow < x or y + h < oy or oy + oh < y
                       for _, ox, oy, ow, oh in objects):
                    break
            objects.append((cat, x, y, w, h))
            pixels[y:y + h, x:x + w] = COLOURS[cat]
        name = f"img_{i:02d}.png"
        Image.fromarray(pixels).save(OUT / "images" / name, optimize=True)
        images.append({"id": i, "file_name": f"images/{name}", "width": SIZE, "height": SIZE})
        for j, (cat, x, y, w, h) in enumerate(objects):
            score = round(float(rng.uniform(0.965, 0.995)), 3)
            dets.append({"image_id": i, "category_id": cat, "bbox": [x, y, w, h], "score": score})
            if i == 3 and j == 0:
                continue  # overlooked: nobody annotated this object
            given_cat = (3 - cat) if i == 6 and j == 0 else cat  # swapped class
            gx, gy = (x + 9, y + 7) if i == 9 and j == 0 else (x, y)  # badly located
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": given_cat,
                         "bbox": [gx, gy, w, h], "area": w * h, "iscrowd": 0})
        # a weak false detection now and then, as detectors produce
        if rng.random() < 0.4:
            dets.append({"image_id": i, "category_id": int(rng.integers(1, 3)),
                         "bbox": [int(rng.integers(0, 70)), int(rng.integers(0, 70)), 12, 12],
                         "score": round(float(rng.uniform(0.05, 0.3)), 3)})
    coco = {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "square"}, {"id": 2, "name": "bar"}]}
    (OUT / "annotations.json").write_text(json.dumps(coco, indent=1) + "\n")
    (OUT / "predictions.json").write_text(json.dumps(dets, indent=1) + "\n")
    (OUT / "README.txt").write_text(README)


if __name__ == "__main__":
    main()
