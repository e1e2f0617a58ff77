#!/usr/bin/env python3
"""Loads a `vae-mpi export` file as a PyTorch or numpy user would, and runs the model.

Usage: export_reference.py MODEL.safetensors INPUTS.json OUTPUT.json

INPUTS.json: {"images": [[784 floats], ...], "latents": [[L floats], ...]}.
OUTPUT.json: {"backend", "keys", "metadata", "mean", "log_variance", "pixels"}: the encoder's
means (and log-variances) of the images, the decoder's sigmoid(logits) of the latents.

The module is the one docs/export.md gives: nn.Sequential of Linear and ReLU for the encoder
and the decoder, built from the hidden widths in the file's metadata. With torch installed it
is that nn.Module, loaded with load_state_dict(strict=True); without, the same layers in numpy
(y = x W^T + b, PyTorch's Linear), after checking that the file's keys and shapes are exactly
the module's state_dict, which is what strict loading checks.
"""
import json
import sys

import numpy as np
from safetensors import safe_open


def layer_widths(model):
    """(inputs, outputs) of each Linear of the encoder and of the decoder."""
    widths = [model["inputSize"]] + model["hidden"]
    head = 2 * model["latentDim"] if model["kind"] == "vae" else model["latentDim"]
    encoder = list(zip(widths, widths[1:] + [head]))
    back = [model["latentDim"]] + model["hidden"][::-1] + [model["inputSize"]]
    decoder = list(zip(back[:-1], back[1:]))
    return encoder, decoder


def expected_state(encoder, decoder):
    """The state_dict shapes of the nn.Sequential pair: Linear k at index 2k."""
    state = {}
    for prefix, layers in (("encoder", encoder), ("decoder", decoder)):
        for k, (n_in, n_out) in enumerate(layers):
            state[f"{prefix}.{2 * k}.weight"] = (n_out, n_in)
            state[f"{prefix}.{2 * k}.bias"] = (n_out,)
    return state


def main():
    path, inputs_path, output_path = sys.argv[1:4]
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model = json.loads(metadata["model"])
    encoder, decoder = layer_widths(model)
    with open(inputs_path) as f:
        inputs = json.load(f)
    images = np.asarray(inputs["images"], dtype=np.float32)
    latents = np.asarray(inputs["latents"], dtype=np.float32)
    L = model["latentDim"]

    try:
        import torch
        from torch import nn
    except ImportError:
        torch = None
    if torch is not None:
        def sequential(layers):
            modules = []
            for k, (n_in, n_out) in enumerate(layers):
                modules.append(nn.Linear(n_in, n_out))
                if k < len(layers) - 1:
                    modules.append(nn.ReLU())
            return nn.Sequential(*modules)

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = sequential(encoder)
                self.decoder = sequential(decoder)

        m = Model()
        m.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
        with torch.no_grad():
            head = m.encoder(torch.from_numpy(images)).numpy()
            pixels = torch.sigmoid(m.decoder(torch.from_numpy(latents))).numpy()
        backend = "torch"
    else:
        expected = expected_state(encoder, decoder)
        shapes = {k: tuple(v.shape) for k, v in tensors.items()}
        if shapes != expected:
            missing = sorted(set(expected) - set(shapes))
            extra = sorted(set(shapes) - set(expected))
            wrong = sorted(k for k in set(expected) & set(shapes) if expected[k] != shapes[k])
            sys.exit(f"state_dict mismatch: missing {missing}, unexpected {extra}, wrong shape {wrong}")

        def run(prefix, layers, x):
            for k in range(len(layers)):
                x = x @ tensors[f"{prefix}.{2 * k}.weight"].T + tensors[f"{prefix}.{2 * k}.bias"]
                if k < len(layers) - 1:
                    x = np.maximum(x, 0)
            return x

        head = run("encoder", encoder, images)
        pixels = 1 / (1 + np.exp(-run("decoder", decoder, latents)))
        backend = "numpy"

    result = {
        "backend": backend,
        "keys": sorted(tensors),
        "metadata": metadata,
        "mean": head[:, :L].tolist(),
        "log_variance": head[:, L:].tolist() if model["kind"] == "vae" else None,
        "pixels": pixels.tolist(),
    }
    with open(output_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
