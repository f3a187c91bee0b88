"""hubroute: a self-hostable inference router for Hugging Face Hub models, and its Python client."""

__version__ = "0.1.0"
