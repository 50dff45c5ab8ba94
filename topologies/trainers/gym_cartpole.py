#!/usr/bin/env python3
"""A PBT trainer in Python for pbt's `command` workload: an actor-critic agent (A2C) on
gymnasium's own CartPole-v1, in numpy.

The same algorithm as pbt's built-in `a2c` workload: 8 environments stepped together, 16 steps
each an update (so a training step is 128 frames), generalised advantage estimation, Adam on the
policy-gradient, entropy and value losses with the gradient norm clipped at 0.5, ReLU networks
of two hidden layers. Hyperparameters: lr, entropy, gamma, lambda.

Score: the mean return of greedy episodes (the most likely action each step) from 16 start
states no training episode uses (gymnasium reset seeds 1,000,000 and up); `test_return` over 32
others (2,000,000 and up), which no decision reads; `episode_return`, the mean of the last 20
training episodes. The checkpoint (an .npz) holds the networks, Adam's moments, each
environment's state and step, and the random generator, so a member goes on where it stopped.

Protocol: pbt_trainer.py beside this file. `--benchmark FRAMES` trains one agent for FRAMES
frames and prints its speed instead.
"""
import argparse
import json
import time

import gymnasium as gym
import numpy as np

import pbt_trainer  # beside this file: pbt's command protocol

ENVIRONMENTS, ROLLOUT, SCORE_EPISODES = 8, 16, 20
MAX_STEPS = 500  # CartPole-v1's time limit, kept here so that a checkpoint can hold the count
VALIDATION_SEED, TEST_SEED = 1_000_000, 2_000_000


class Agent:
    def __init__(self, sizes, rng):
        def network(sizes, last_scale):
            layers = []
            for index, (a, b) in enumerate(zip(sizes, sizes[1:])):
                w = rng.standard_normal((a, b)) * np.sqrt(2.0 / a)
                if index == len(sizes) - 2:
                    w *= last_scale
                layers += [w.astype(np.float32), np.zeros(b, np.float32)]
            return layers
        self.params = network(sizes + [2], 0.01) + network(sizes + [1], 1.0)
        self.split = 2 * len(sizes)
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    @staticmethod
    def forward(params, x):
        activations = [x]
        for i in range(0, len(params), 2):
            z = activations[-1] @ params[i] + params[i + 1]
            activations.append(np.maximum(z, 0) if i < len(params) - 2 else z)
        return activations

    def policy(self, x):
        return self.forward(self.params[:self.split], x)

    def value(self, x):
        return self.forward(self.params[self.split:], x)

    @staticmethod
    def backward(params, activations, delta):
        grads = [None] * len(params)
        for i in reversed(range(0, len(params), 2)):
            grads[i] = activations[i // 2].T @ delta
            grads[i + 1] = delta.sum(axis=0)
            if i > 0:
                delta = (delta @ params[i].T) * (activations[i // 2] > 0)
        return grads

    def update(self, obs, actions, advantages, returns, lr, entropy_cost):
        rows = len(actions)
        pa = self.policy(obs)
        logits = pa[-1]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        log_p = np.log(np.maximum(p, 1e-30))
        entropy = -(p * log_p).sum(axis=1, keepdims=True)
        onehot = np.zeros_like(p)
        onehot[np.arange(rows), actions] = 1
        d_policy = ((p - onehot) * advantages[:, None] + entropy_cost * p * (log_p + entropy)) / rows
        va = self.value(obs)
        d_value = 0.5 * (va[-1] - returns[:, None]) / rows
        grads = self.backward(self.params[:self.split], pa, d_policy.astype(np.float32))
        grads += self.backward(self.params[self.split:], va, d_value.astype(np.float32))
        norm = np.sqrt(sum(float((g * g).sum()) for g in grads))
        if norm > 0.5:
            grads = [g * (0.5 / norm) for g in grads]
        self.t += 1
        for i, g in enumerate(grads):
            self.m[i] = 0.9 * self.m[i] + 0.1 * g
            self.v[i] = 0.999 * self.v[i] + 0.001 * g * g
            m_hat = self.m[i] / (1 - 0.9 ** self.t)
            v_hat = self.v[i] / (1 - 0.999 ** self.t)
            self.params[i] -= (lr * m_hat / (np.sqrt(v_hat) + 1e-5)).astype(np.float32)
        return float(entropy.mean())


class Run:
    """One member: the agent, its environments, the returns so far, the generator."""

    def __init__(self, request, hidden):
        self.rng = np.random.default_rng(request.seeds(0xA2C))
        self.agent = Agent([4] + hidden, self.rng)
        self.envs = [gym.make("CartPole-v1").unwrapped for _ in range(ENVIRONMENTS)]
        for env in self.envs:
            env.reset(seed=int(self.rng.integers(VALIDATION_SEED)))
        self.steps = np.zeros(ENVIRONMENTS, np.int64)
        self.running = np.zeros(ENVIRONMENTS)
        self.recent, self.episodes, self.frames, self.member = [], 0, 0, request.member

    def save(self, path):
        arrays = {f"p{i}": p for i, p in enumerate(self.agent.params)}
        arrays.update({f"m{i}": m for i, m in enumerate(self.agent.m)})
        arrays.update({f"v{i}": v for i, v in enumerate(self.agent.v)})
        arrays.update(
            t=np.array(self.agent.t), states=np.array([env.state for env in self.envs]), steps=self.steps,
            running=self.running, recent=np.array(self.recent), counters=np.array([self.episodes, self.frames, self.member]),
            rng=np.frombuffer(json.dumps(self.rng.bit_generator.state).encode(), np.uint8))
        with open(path, "wb") as f:  # a file object, so numpy does not append ".npz"
            np.savez(f, **arrays)

    def load(self, path, request):
        with np.load(path) as saved:
            count = len(self.agent.params)
            self.agent.params = [saved[f"p{i}"] for i in range(count)]
            self.agent.m = [saved[f"m{i}"] for i in range(count)]
            self.agent.v = [saved[f"v{i}"] for i in range(count)]
            self.agent.t = int(saved["t"])
            for env, state in zip(self.envs, saved["states"]):
                env.state = np.array(state, dtype=np.float64)
            self.steps, self.running, self.recent = saved["steps"].copy(), saved["running"].copy(), list(saved["recent"])
            self.episodes, self.frames, member = (int(x) for x in saved["counters"])
            if member == request.member:
                self.rng.bit_generator.state = json.loads(bytes(saved["rng"]).decode())
            else:  # a copy of another member (an exploit): this member's own draws from here
                self.rng = np.random.default_rng(request.seeds(0xA2C, request.step))


def greedy_return(agent, seed, episodes):
    envs = [gym.make("CartPole-v1").unwrapped for _ in range(episodes)]
    obs = np.array([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)], np.float32)
    returns, active = np.zeros(episodes), list(range(episodes))
    for _ in range(MAX_STEPS):
        actions = agent.policy(obs[active])[-1].argmax(axis=1)
        still = []
        for slot, index in enumerate(active):
            o, reward, terminated, _, _ = envs[index].step(int(actions[slot]))
            obs[index] = o
            returns[index] += reward
            if not terminated:
                still.append(index)
        active = still
        if not active:
            break
    return float(returns.mean())


def train(run, steps, h):
    lr, entropy_cost = float(h["lr"]), float(h.get("entropy", 0.01))
    gamma, lam = float(h.get("gamma", 0.99)), float(h.get("lambda", 0.95))
    obs = np.array([np.array(env.state, np.float32) for env in run.envs])
    entropies = []
    for _ in range(steps):
        batch_obs, batch_actions, rewards, ends = [], [], [], []
        for _ in range(ROLLOUT):
            logits = run.agent.policy(obs)[-1]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            draws = run.rng.random(ENVIRONMENTS)
            actions = (draws >= p[:, 0]).astype(np.int64)
            batch_obs.append(obs.copy())
            batch_actions.append(actions)
            reward_row, end_row = np.ones(ENVIRONMENTS), np.zeros(ENVIRONMENTS, bool)
            for e, env in enumerate(run.envs):
                o, _, terminated, _, _ = env.step(int(actions[e]))
                run.steps[e] += 1
                run.running[e] += 1
                if terminated or run.steps[e] >= MAX_STEPS:
                    end_row[e] = True
                    run.recent = (run.recent + [run.running[e]])[-SCORE_EPISODES:]
                    run.episodes += 1
                    run.running[e], run.steps[e] = 0, 0
                    o, _ = env.reset(seed=int(run.rng.integers(VALIDATION_SEED)))
                obs[e] = o
            rewards.append(reward_row)
            ends.append(end_row)
        all_obs = np.concatenate(batch_obs)
        values = run.agent.value(all_obs)[-1][:, 0].reshape(ROLLOUT, ENVIRONMENTS)
        next_value = run.agent.value(obs)[-1][:, 0]
        advantages = np.zeros((ROLLOUT, ENVIRONMENTS))
        following = np.zeros(ENVIRONMENTS)
        for t in reversed(range(ROLLOUT)):
            continues = 1.0 - ends[t]
            nxt = next_value if t == ROLLOUT - 1 else values[t + 1]
            delta = rewards[t] + gamma * nxt * continues - values[t]
            following = delta + gamma * lam * continues * following
            advantages[t] = following
        returns = advantages + values
        entropies.append(run.agent.update(
            all_obs, np.concatenate(batch_actions), advantages.reshape(-1).astype(np.float32),
            returns.reshape(-1).astype(np.float32), lr, entropy_cost))
        run.frames += ROLLOUT * ENVIRONMENTS
    return entropies


def handle(request, hidden, validation, test):
    run = Run(request, hidden)
    if request.restore:
        run.load(request.restore, request)
    entropies = []
    if not request.evaluate:
        entropies = train(run, request.steps, request.hyperparameters)
        run.save(request.save)
    score = greedy_return(run.agent, VALIDATION_SEED, validation)
    recent = run.recent or list(run.running)
    metrics = {
        "validation_return": score, "test_return": greedy_return(run.agent, TEST_SEED, test),
        "episode_return": float(np.mean(recent)), "episodes": run.episodes, "frames": run.frames,
    }
    if entropies:
        metrics["entropy"] = float(np.mean(entropies))
    return {"score": score, "metrics": metrics, "steps": 0 if request.evaluate else request.steps}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", default="64,64", help="hidden layer widths, comma-separated")
    parser.add_argument("--validation-episodes", type=int, default=16)
    parser.add_argument("--test-episodes", type=int, default=32)
    parser.add_argument("--benchmark", type=int, metavar="FRAMES")
    args = parser.parse_args()
    hidden = [int(width) for width in args.hidden.split(",")]
    if args.benchmark:
        request = pbt_trainer.Request({"member": 0, "step": 0, "steps": 0, "seed": 1, "save": "/dev/null"})
        run = Run(request, hidden)
        steps = max(1, args.benchmark // (ROLLOUT * ENVIRONMENTS))
        started = time.perf_counter()
        train(run, steps, {"lr": 1e-3})
        seconds = time.perf_counter() - started
        print(json.dumps({"frames": run.frames, "seconds": seconds, "frames_per_second": run.frames / seconds}))
        return
    pbt_trainer.serve(lambda request: handle(request, hidden, args.validation_episodes, args.test_episodes))


if __name__ == "__main__":
    main()
