#!/usr/bin/env python3
"""A PBT trainer in Python (numpy only) for pbt's `command` workload.

It trains the same network as pbt's built-in `mlp` workload: a multilayer perceptron on the
UCI handwritten digits (topologies/data/digits.csv), ReLU hidden layers, softmax
cross-entropy, minibatch SGD with momentum and weight decay (v <- mu*v + g + wd*w; w <- w - lr*v).

Protocol: one JSON request a line on stdin, one JSON result a line on stdout (logs go to
stderr), spoken by pbt_trainer.py beside it. It answers every line it gets, so it serves both
`mode: once` (one request, then end of input) and `mode: persistent` (requests until end of input).

    request: {"member", "step", "steps", "seed", "seed32", "hyperparameters": {lr, momentum,
              weight_decay, batch_size}, "restore": path or null, "save": path, "evaluate"}

It seeds numpy with "seed32", the member's seed folded to 32 bits: "seed" has 64 bits, which
numpy's legacy seeding, scikit-learn and gymnasium refuse.
    result:  {"score": validation accuracy, "metrics": {...}, "steps": steps trained}

`--benchmark STEPS` trains one network for STEPS minibatches and prints its speed instead.
"""
import argparse
import json
import time

import numpy as np

import pbt_trainer  # beside this file: pbt's command protocol


def load_digits(path, seed, validation=0.2, test=0.2):
    data = np.loadtxt(path, delimiter=",", dtype=np.float32)
    inputs, labels = data[:, :64] / 16.0, data[:, 64].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    inputs, labels = inputs[order], labels[order]
    n_validation, n_test = int(len(labels) * validation), int(len(labels) * test)
    n_train = len(labels) - n_validation - n_test
    return {
        "train": (inputs[:n_train], labels[:n_train]),
        "validation": (inputs[n_train:n_train + n_validation], labels[n_train:n_train + n_validation]),
        "test": (inputs[n_train + n_validation:], labels[n_train + n_validation:]),
    }


class Network:
    def __init__(self, sizes, seed):
        rng = np.random.default_rng(seed)
        self.weights = [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
        self.biases = [np.zeros(b, np.float32) for b in sizes[1:]]
        self.weight_velocity = [np.zeros_like(w) for w in self.weights]
        self.bias_velocity = [np.zeros_like(b) for b in self.biases]

    def forward(self, x):
        activations = [x]
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = activations[-1] @ w + b
            activations.append(np.maximum(z, 0) if layer < len(self.weights) - 1 else z)
        return activations

    def train_step(self, x, y, lr, momentum, weight_decay):
        activations = self.forward(x)
        logits = activations[-1]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(np.maximum(p[np.arange(len(y)), y], 1e-12)).mean()
        delta = p
        delta[np.arange(len(y)), y] -= 1
        delta /= len(y)
        for layer in reversed(range(len(self.weights))):
            grad_w = activations[layer].T @ delta
            grad_b = delta.sum(axis=0)
            if layer > 0:
                delta = (delta @ self.weights[layer].T) * (activations[layer] > 0)
            self.weight_velocity[layer] = momentum * self.weight_velocity[layer] + grad_w + weight_decay * self.weights[layer]
            self.weights[layer] -= lr * self.weight_velocity[layer]
            self.bias_velocity[layer] = momentum * self.bias_velocity[layer] + grad_b
            self.biases[layer] -= lr * self.bias_velocity[layer]
        return float(loss)

    def evaluate(self, x, y):
        logits = self.forward(x)[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float((logits.argmax(axis=1) == y).mean()), float(-log_p[np.arange(len(y)), y].mean())

    def save(self, path):
        arrays = {}
        for i in range(len(self.weights)):
            arrays.update({f"w{i}": self.weights[i], f"b{i}": self.biases[i], f"vw{i}": self.weight_velocity[i], f"vb{i}": self.bias_velocity[i]})
        with open(path, "wb") as f:  # a file object, so numpy does not append ".npz"
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path, sizes):
        network = cls.__new__(cls)
        with np.load(path) as saved:
            layers = len(sizes) - 1
            network.weights = [saved[f"w{i}"] for i in range(layers)]
            network.biases = [saved[f"b{i}"] for i in range(layers)]
            network.weight_velocity = [saved[f"vw{i}"] for i in range(layers)]
            network.bias_velocity = [saved[f"vb{i}"] for i in range(layers)]
        shapes = [w.shape for w in network.weights]
        if shapes != list(zip(sizes, sizes[1:])):
            raise ValueError(f"checkpoint holds layers {shapes}, expected {list(zip(sizes, sizes[1:]))}")
        return network


def handle(request, data, sizes):
    h = request.hyperparameters
    lr, momentum = float(h["lr"]), float(h.get("momentum", 0.9))
    weight_decay, batch = float(h.get("weight_decay", 0.0)), int(h.get("batch_size", 32))
    network = Network.load(request.restore, sizes) if request.restore else Network(sizes, request.seed32)
    steps, losses = 0, []
    if not request.evaluate:
        x_train, y_train = data["train"]
        for steps in range(1, request.steps + 1):
            rng = np.random.default_rng(request.seeds(request.step + steps))
            rows = rng.choice(len(y_train), size=min(batch, len(y_train)), replace=False)
            losses.append(network.train_step(x_train[rows], y_train[rows], lr, momentum, weight_decay))
        network.save(request.save)
    validation_accuracy, validation_loss = network.evaluate(*data["validation"])
    test_accuracy, test_loss = network.evaluate(*data["test"])
    metrics = {"validation_loss": validation_loss, "test_accuracy": test_accuracy, "test_loss": test_loss}
    if losses:
        metrics["train_loss"] = float(np.mean(losses))
    return {"score": validation_accuracy, "metrics": metrics, "steps": steps}


def benchmark(data, sizes, steps, batch):
    network = Network(sizes, 1)
    x_train, y_train = data["train"]
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    for _ in range(steps):
        rows = rng.choice(len(y_train), size=batch, replace=False)
        network.train_step(x_train[rows], y_train[rows], 0.05, 0.9, 1e-5)
    seconds = time.perf_counter() - started
    print(json.dumps({"steps": steps, "batch": batch, "seconds": seconds, "samples_per_second": steps * batch / seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="topologies/data/digits.csv", help="the CSV (default: relative to the current directory)")
    parser.add_argument("--hidden", default="128", help="hidden layer widths, comma-separated")
    parser.add_argument("--split-seed", type=int, default=11)
    parser.add_argument("--benchmark", type=int, metavar="STEPS")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    sizes = [64] + [int(width) for width in args.hidden.split(",")] + [10]
    data = load_digits(args.data, args.split_seed)
    if args.benchmark:
        benchmark(data, sizes, args.benchmark, args.batch)
        return
    pbt_trainer.serve(lambda request: handle(request, data, sizes))

if __name__ == "__main__":
    main()
