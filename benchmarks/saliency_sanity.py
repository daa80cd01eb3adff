"""The model-randomisation sanity check of Adebayo et al. ("Sanity Checks for Saliency Maps",
NeurIPS 2018) on every demo face: how much of each map survives when the network's weights are
replaced by random ones (each tensor drawn at its own mean and spread, seeded).

    .venv/bin/python benchmarks/saliency_sanity.py [--faces 2]

For the dlib gender and age networks, per method: the median and largest Spearman rank
correlation between the map of the trained network and of (a) the fully randomised one and
(b) the first step of the cascade, only the dense layers randomised (gender). A map that
explains what the network learned must change (rho near 0); EigenCAM, which never looks past
its layer, cannot change under (b). ``tests/backend/test_saliency.py`` asserts the same on
five faces. Then: do feature maps follow a shift of the input (equivariance)?
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=2, help="faces per demo photo")
    args = ap.parse_args()

    import torch
    from scipy.stats import spearmanr

    from faceinspector.backend import Backend, assets, saliency
    from faceinspector.backend.images import load_photo

    backend = Backend(device="cpu")

    def randomised(model_id, new_id, prefixes=None):
        m = type(backend.model(model_id))(device="cpu")
        m.id = new_id
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for name, p in m.net.named_parameters():
                if prefixes is None or name.startswith(prefixes):
                    p.copy_(torch.randn(p.shape, generator=g) * p.std().clamp_min(1e-3)
                            + p.mean())
        backend.add_model(m)
        return new_id

    items = []
    for path in assets.demo_photos():
        photo = load_photo(path)
        items += [(photo, f) for f in backend.detect(photo).faces[:args.faces]]
    cases = [("dlib-gender", randomised("dlib-gender", "gender-random"), "all weights"),
             ("dlib-gender", randomised("dlib-gender", "gender-random-fc", ("fc",)),
              "dense layers only"),
             ("dlib-age", randomised("dlib-age", "age-random"), "all weights")]
    print(f"Spearman rho, trained vs randomised map, {len(items)} demo faces "
          "(median [largest]; n = faces where both maps are not constant)")
    print(f"{'model':12} {'randomised':18} " + " ".join(f"{m:>18}" for m in saliency.METHODS))
    for trained, rand, what in cases:
        cells = []
        for method in saliency.METHODS:
            rhos = []
            for photo, f in items:
                a = saliency.class_saliency(backend, photo, f, trained, method)
                b = saliency.class_saliency(backend, photo, f, rand, method, a.class_index)
                if np.ptp(a.map) > 0 and np.ptp(b.map) > 0:
                    rhos.append(spearmanr(a.map.ravel(), b.map.ravel())[0])
            cells.append(f"{np.median(rhos):6.2f} [{np.max(rhos):5.2f}] n={len(rhos):<2}"
                         if rhos else "n/a")
        print(f"{trained:12} {what:18} " + " ".join(f"{c:>18}" for c in cells))

    print("\nfeature maps follow the input: the crop moved by dx, correlation of its maps with "
          "the first crop's\nmaps shifted by dx / stride (equivariant: 1) and not shifted "
          "(invariant: 1), 16 most active\nchannels, median over the faces")
    for mid, layer, dx in (("dlib-gender", "conv1", 3), ("dlib-gender", "conv2", 3),
                           ("dlib-gender", "conv4", 4), ("dlib-age", "stem", 4),
                           ("dlib-age", "res1", 4), ("dlib-age", "res2", 8)):
        vals = []
        for photo, f in items:
            fm = saliency.feature_maps(backend, photo, f, mid, layer)
            mv = saliency.feature_maps(backend, photo, f, mid, layer, transform=(dx, 0, 0, 1),
                                       channels=fm.channels, ranges=fm.ranges)
            e = saliency.equivariance(fm, mv)
            vals.append((e.shifted, e.unshifted))
        v = np.median(np.array(vals), axis=0)
        print(f"{mid:12} {layer:6} {fm.shape[1]:>2}x{fm.shape[2]:<2} dx {dx} px = "
              f"{e.shift[0]:5.2f} feature px: shifted {v[0]:.3f}, unshifted {v[1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
