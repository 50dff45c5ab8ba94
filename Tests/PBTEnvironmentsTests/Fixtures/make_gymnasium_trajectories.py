#!/usr/bin/env python3
"""Trajectories of gymnasium's CartPole-v1 and Acrobot-v1, for the Swift environments' tests.

Each trajectory: the environment's internal state after reset (what the Swift environment
starts from; gymnasium's seeded start cannot be reproduced without numpy's generator), the
actions taken, and after each action the observation, reward, terminated and truncated that
gymnasium returned. Floats are written with Python's repr (the shortest text that reads back
to the same double; float32 observations as the doubles they widen to).

Made with:  pip install "gymnasium==1.4.0" "numpy==2.4.6"
            python3 Tests/PBTEnvironmentsTests/Fixtures/make_gymnasium_trajectories.py \
                > Tests/PBTEnvironmentsTests/Fixtures/gymnasium-trajectories.json
"""
import json
import sys

import gymnasium as gym
import numpy as np


def random_policy(observation, rng, actions):
    return int(rng.integers(actions))


def cartpole_balance(observation, rng, actions):
    # Push toward where the pole falls: keeps it up for all 500 steps (truncation).
    x, x_dot, theta, theta_dot = observation
    return 1 if theta + 0.5 * theta_dot + 0.01 * x + 0.05 * x_dot > 0 else 0


def acrobot_pump(observation, rng, actions):
    # Torque with the second link's velocity: pumps energy in until the tip crosses the line.
    return 2 if observation[5] > 0 else 0


def trajectory(env_id, seed, policy, name):
    env = gym.make(env_id)
    observation, _ = env.reset(seed=seed)
    first = observation
    initial = [float(x) for x in env.unwrapped.state]
    rng = np.random.default_rng(seed + 1000)
    actions, steps = [], []
    while True:
        action = policy(observation, rng, env.action_space.n)
        observation, reward, terminated, truncated, _ = env.step(action)
        actions.append(action)
        steps.append({
            "observation": [float(x) for x in observation],
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        })
        if terminated or truncated:
            break
    env.close()
    return {
        "environment": env_id, "policy": name, "seed": seed, "initial_state": initial,
        "initial_observation": [float(x) for x in first], "actions": actions, "steps": steps,
    }


def main():
    trajectories = []
    for seed in range(6):
        trajectories.append(trajectory("CartPole-v1", seed, random_policy, "random"))
    for seed in range(2):
        trajectories.append(trajectory("CartPole-v1", 100 + seed, cartpole_balance, "balance"))
    for seed in range(3):
        trajectories.append(trajectory("Acrobot-v1", 200 + seed, random_policy, "random"))
    for seed in range(3):
        trajectories.append(trajectory("Acrobot-v1", 300 + seed, acrobot_pump, "pump"))
    json.dump({"gymnasium": gym.__version__, "numpy": np.__version__, "trajectories": trajectories}, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
