"""Shared test setup.

torch runs on one thread in the test process, as `wasmconf run` workers do
by default (`--threads 1`): the model's one-token matmuls gain nothing from
more, and on a loaded machine (CI's two cores, a nightly beside) OpenMP
threads that spin-wait for each other made a 9-second test take minutes.
MKL's sparse products sum in one order on every CPU (reference_model sets
MKL_CBWR=COMPATIBLE before torch loads).
"""
import reference_model  # noqa: F401  (sets MKL_CBWR before torch loads MKL)
import torch

torch.set_num_threads(1)
