"""Shared test setup.

torch runs on one thread in the test process, as `wasmconf run` workers do
by default (`--threads 1`): the model's one-token matmuls gain nothing from
more, and on a loaded machine (CI's two cores, a nightly beside) OpenMP
threads that spin-wait for each other made a 9-second test take minutes.
"""
import torch

torch.set_num_threads(1)
