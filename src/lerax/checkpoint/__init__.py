"""Checkpoints of whole training runs, with exact resume (orbax-checkpoint)."""

from ._checkpointer import Checkpointer as Checkpointer

__all__ = ["Checkpointer"]
