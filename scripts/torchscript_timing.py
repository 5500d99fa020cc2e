#!/usr/bin/env python3
"""Times an exported fusor detector (``fusor export --torchscript -o M.pt``) in PyTorch.

Reads ``M.pt`` and the frame it was traced on (``M.inputs.safetensors``, written beside it), runs
the module on the CPU and on ``--device`` (fp32, then fp16 autocast on CUDA), checks each against
the network's own output stored by fusor, and prints milliseconds per frame (network only: no
feature building, no peak decoding) after a warm-up. Issue 6's CUDA goal is ≤ 5 ms per frame.

Usage: python3 scripts/torchscript_timing.py M.pt [--device cuda] [--runs 200]
Needs torch and safetensors (the project's venv has both; so has the GPU machine's image).
"""
import argparse
import sys
import time

import torch
from safetensors.torch import load_file


def run(module, inputs, device, runs, autocast):
    xs = [x.to(device) for x in inputs]
    ctx = torch.autocast("cuda", dtype=torch.float16) if autocast else torch.autocast("cpu", enabled=False)
    with torch.no_grad(), ctx:
        for _ in range(10):
            out = module(*xs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(runs):
            out = module(*xs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        ms = (time.perf_counter() - start) * 1e3 / runs
    return out.float().cpu(), ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    example = args.module[: -len(".pt")] + ".inputs.safetensors" if args.module.endswith(".pt") else args.module + ".inputs.safetensors"
    tensors = load_file(example)
    names = sorted((k for k in tensors if k.startswith("input")), key=lambda k: int(k[5:].split("_", 1)[0]))
    inputs = [tensors[k] for k in names]
    reference = tensors["output"]
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("SKIPPED: no CUDA device (torch.cuda.is_available() is False)")
        return 0
    module = torch.jit.load(args.module, map_location=device)
    module.eval()
    print(f"torch {torch.__version__}, device {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
          + f", {torch.get_num_threads()} CPU threads; inputs " + ", ".join(f"{n.split('_', 1)[1]} {list(tensors[n].shape)}" for n in names))
    failed = False
    variants = [("fp32", False)] + ([("fp16 autocast", True)] if device.type == "cuda" else [])
    for label, autocast in variants:
        out, ms = run(module, inputs, device, args.runs, autocast)
        err = float((out - reference).abs().max())
        tolerance = 0.05 if autocast else 1e-3
        ok = out.shape == reference.shape and err <= tolerance
        failed |= not ok
        print(f"{label}: {ms:.3f} ms per frame (network, {args.runs} runs after 10 warm-up); "
              f"max |output - fusor's| = {err:.2e} ({'ok' if ok else 'MISMATCH'}, tolerance {tolerance})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
