"""Adapters that make environments from other JAX libraries lerax environments.

Import the adapter for a library from its module, for example
`from lerax.compatibility.gymnax import GymnaxToLeraxEnv`.
"""
