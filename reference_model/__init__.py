"""The reference executors: a plain interpreter and a compiled transformer (see docs/)."""
import os

# MKL's conditional numerical reproducibility: its sparse (CSR) products otherwise pick a vectorised kernel by
# CPU (AVX2, AVX-512), which sums in another order, so the torch engine's float bits would depend on the
# machine (and differ from the native engine's ascending order).  Set before torch loads MKL; an explicit
# MKL_CBWR in the environment is kept.
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")
