"""The conformance harness (see docs/)."""
import reference_model  # noqa: F401  (sets MKL_CBWR before torch loads MKL: reproducible sparse products)
