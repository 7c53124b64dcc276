"""Cost of each transformer attribution method as a multiple of the model's forward pass, on a
timm ViT as it comes and on :class:`priors.models.ViT` with the same weights.

A random-init timm ``vit_tiny_patch16_224`` (224x224, 12 blocks, dim 192, 3 heads; nothing is
downloaded) and the project's ViT loaded with its ``state_dict``; one batch, one process, all
calls interleaved (model x method per repetition) so that drifts of a shared machine hit every
cell alike. Printed per model and method: time per image (median of ``--reps``), the ratio to
the same model's forward on the same batch (under ``torch.no_grad``), and beside it the work
count in forward-equivalents (a backward costs about two forwards; the LRP pass of transformer
attribution about four, Chefer et al.'s rules visit every layer with two-to-three products
each), then timm / ours per method. Targets (issue 21): transformer_attribution <= 7x,
gradient_weighted_attention <= 3x, rollout <= 1.5x, timm within 10% of ours.

    python benchmarks/transformer_methods_cost.py --threads 1            # batch 64
    python benchmarks/transformer_methods_cost.py --threads 1 --batch 16 # a shared machine
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from priors.attributions import get_method  # noqa: E402
from priors.models import ViT  # noqa: E402

# Forward-equivalents of each method's work (the counts; see the module docstring).
WORK = {"raw_attention": "1 (fwd)", "rollout": "1 (fwd) + 12 NxN products",
        "attention_gradcam": "1 (fwd) + bwd of the head and last block", "gradient_weighted_attention": "3 (fwd + bwd)",
        "partial_lrp": "1 (fwd) + LRP of the head and 1 block",
        "transformer_attribution": "~7 (fwd + bwd + LRP)", "full_lrp": "~5 (fwd + LRP)"}
TARGETS = {"transformer_attribution": 7.0, "gradient_weighted_attention": 3.0, "rollout": 1.5}


def models(image: int, classes: int):
    import timm
    torch.manual_seed(0)
    theirs = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=image,
                               num_classes=classes).eval()
    ours = ViT(image, 16, 3, classes, depth=12, heads=3, dim=192).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return {"timm": theirs, "ours": ours}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=list(WORK))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    nets = models(args.image, 1000)
    x = torch.rand(args.batch, 3, args.image, args.image)
    target = torch.randint(0, 1000, (args.batch,))
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch} "
          f"x 3x{args.image}x{args.image}, median of {args.reps} interleaved repetitions")

    def forward(net):
        with torch.no_grad():
            net(x)

    calls = {(kind, "forward"): (lambda net=net: forward(net)) for kind, net in nets.items()}
    for kind, net in nets.items():
        for name in args.methods:
            calls[(kind, name)] = (lambda net=net, m=get_method(name): m(net, x, target))
    for fn in calls.values():  # warm-up
        fn()
    samples = {key: [] for key in calls}
    for _ in range(args.reps):
        for key, fn in calls.items():
            samples[key].append(timed(fn))
    median = {key: statistics.median(v) for key, v in samples.items()}
    print(f"{'method':30s} {'model':5s} {'ms/image':>9s} {'x forward':>9s}  work "
          "(forward-equivalents)")
    for name in ["forward", *args.methods]:
        for kind in nets:
            per_image = 1000 * median[(kind, name)] / args.batch
            ratio = median[(kind, name)] / median[(kind, "forward")]
            print(f"{name:30s} {kind:5s} {per_image:9.2f} {ratio:9.2f}  "
                  f"{WORK.get(name, '1')}")
    print("\n# timm / ours (same method, same batch) and the targets")
    for name in ["forward", *args.methods]:
        rel = median[("timm", name)] / median[("ours", name)]
        line = f"{name:30s} timm/ours {rel:5.2f} ({'ok' if abs(rel - 1) <= 0.10 else 'OFF'})"
        if name in TARGETS:
            ratio = median[("timm", name)] / median[("timm", "forward")]
            verdict = "ok" if ratio <= TARGETS[name] else "OVER"
            line += f"; timm {ratio:.2f}x forward, target <= {TARGETS[name]}x ({verdict})"
        print(line)


if __name__ == "__main__":
    main()
