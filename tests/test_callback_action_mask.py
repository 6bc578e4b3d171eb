"""`StepContext` carries the action mask the step's action was chosen under."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Int

from helpers import ChainEnv
from lerax.algorithm import PPO
from lerax.callback import (
    AbstractCallback,
    AbstractCallbackState,
    AbstractCallbackStepState,
    EmptyCallbackState,
)
from lerax.policy import MLPActorCriticPolicy


class MaskAudit(AbstractCallbackStepState):
    steps: Int[Array, ""]
    mask_matches_position: Int[Array, ""]
    masked_actions: Int[Array, ""]


class MaskAuditCallback(AbstractCallback):
    def reset(self, ctx, *, key) -> AbstractCallbackState:
        return EmptyCallbackState()

    def step_reset(self, *, key):
        zero = jnp.zeros((), jnp.int32)
        return MaskAudit(zero, zero, zero)

    def on_step(self, ctx, *, key):
        # ChainEnv forbids moving left (action 0) at position 0, and only there.
        position = ctx.observation[0]
        expected = jnp.array([position > 0, True])
        return MaskAudit(
            steps=ctx.state.steps + 1,
            mask_matches_position=ctx.state.mask_matches_position
            + jnp.all(ctx.action_mask == expected).astype(jnp.int32),
            masked_actions=ctx.state.masked_actions
            + (~ctx.action_mask[ctx.action]).astype(jnp.int32),
        )

    def on_iteration(self, ctx, *, key):
        return ctx.state


def test_step_context_has_the_action_mask():
    env = ChainEnv(use_action_mask=True)
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algo = PPO(num_envs=2, num_steps=8, num_epochs=1, num_batches=2)
    state = algo.learn_state(
        env, policy, 32, key=jax.random.key(1), callback=MaskAuditCallback()
    )
    audit = state.step_state.callback_state
    assert audit.steps.tolist() == [16, 16]
    assert audit.mask_matches_position.tolist() == [16, 16]
    assert audit.masked_actions.tolist() == [0, 0]
