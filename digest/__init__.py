"""digest: a self-hosted worker that emails each subscriber the new research papers that matter to them."""

__version__ = "0.1.0"
__all__ = ["__version__"]
