"""IPPO and MAPPO: PPO for teams of agents sharing one policy.

Both run on the single-agent engine unchanged: the environment is an
`AgentBatchEnv` (the agents stacked along a leading axis), `step` acts for
every agent with one `jax.vmap` of the shared policy, and `post_collect` folds
the agent axis into the environment axis, `(num_steps, num_envs, num_agents)`
to `(num_steps, num_envs * num_agents)`, before GAE. From there on the rollout
is an ordinary PPO rollout of `num_envs * num_agents` "environments", so PPO's
own `train` (minibatches, recurrent sequence replay, clipping, the NaN guard,
learning-rate annealing) is used as it is, through a `PPO` held in the `ppo`
field. The episode ends for the whole team: every agent of an environment
shares its termination and truncation flags.

Until `post_collect`, a collected buffer's `rewards` are the team reward (the
mean of the agents' rewards: what episode statistics, loggers and progress
report) and its `returns` carry each agent's own reward, stacked; `post_collect`
replaces both (rewards per agent, returns by GAE).

With a `lerax.policy.PerAgentPolicy` (one parameter set per agent, stacked)
the same rollout is collected with a `jax.vmap` over the agents' parameters,
GAE runs per agent with that agent's critic, and `train` is PPO's `train`
under a `jax.vmap` over the agent axis: each agent's parameters are updated on
that agent's samples only, with its own optimizer state and minibatch
shuffle, in one program.
"""

# No `from __future__ import annotations` here: Equinox recognises an
# `eqx.AbstractVar` annotation only when it is evaluated.

import dataclasses
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Key, Scalar

from lerax.buffer import RolloutBuffer
from lerax.callback import AbstractCallback
from lerax.env import AgentBatchEnv, clip_to_action_space
from lerax.policy import PerAgentPolicy

from ._actor_critic import gae_post_collect
from ._base import PolicyType
from ._on_policy import AbstractOnPolicyAlgorithm
from ._on_policy_state import OnPolicyState, OnPolicyStepState
from ._ppo import PPO
from ._step import next_step_state, record_step, select_where


def _fold(tree: Any) -> Any:
    """`(num_steps, num_envs, num_agents, ...)` to `(num_steps, envs * agents, ...)`.

    Environment-major: the agents of environment `e` are entries
    `e * num_agents ... e * num_agents + num_agents - 1`.
    """
    return jax.tree.map(
        lambda x: jnp.reshape(x, (x.shape[0], x.shape[1] * x.shape[2]) + x.shape[3:]),
        tree,
    )


def _split_agents(tree: Any, num_agents: int) -> Any:
    """`(num_steps, envs * agents, ...)` to `(agents, num_steps, envs, ...)`."""
    return jax.tree.map(
        lambda x: jnp.moveaxis(
            jnp.reshape(x, (x.shape[0], -1, num_agents) + x.shape[2:]), 2, 0
        ),
        tree,
    )


def _join_agents(tree: Any) -> Any:
    """`(agents, num_steps, envs, ...)` to `(num_steps, envs * agents, ...)`."""
    return _fold(jax.tree.map(lambda x: jnp.moveaxis(x, 0, 2), tree))


def _make_ppo(owner: str, kwargs: dict[str, Any]) -> PPO:
    if kwargs.get("normalize_rewards", False):
        raise ValueError(
            f"{owner}: normalize_rewards is not supported with several agents "
            "(the normaliser keeps one running return per environment); scale "
            "the rewards in the environment instead."
        )
    return PPO(**kwargs)


class AbstractMultiAgentPPO(AbstractOnPolicyAlgorithm[PolicyType]):
    """PPO over a team of agents sharing one policy (the body of IPPO and MAPPO).

    Sizes count environments, as in `PPO`: an iteration collects `num_envs *
    num_steps` environment steps, that is `num_envs * num_steps * num_agents`
    agent steps, and each minibatch holds `num_agents` agent steps per
    environment step of `batch_size`. A recurrent policy replays whole
    `(environment, agent)` sequences (`num_batches` must divide `num_envs`).

    Attributes:
        ppo: The PPO whose hyperparameters and `train` are used.
        central_critic: Whether the policy's critic reads the global state
            (the `AgentBatchEnv` must be built with `central_critic=True`).
    """

    ppo: eqx.AbstractVar[PPO]
    central_critic: eqx.AbstractClassVar[bool]

    @property
    def num_envs(self) -> int:
        """Number of parallel environments (each with every agent)."""
        return self.ppo.num_envs

    @property
    def num_steps(self) -> int:
        """Steps per environment per iteration."""
        return self.ppo.num_steps

    @property
    def gamma(self) -> Any:
        """The discount factor."""
        return self.ppo.gamma

    @property
    def gae_lambda(self) -> Any:
        """The GAE lambda."""
        return self.ppo.gae_lambda

    @property
    def batch_size(self) -> int:
        """Environment steps per minibatch (times `num_agents` agent steps)."""
        return self.ppo.batch_size

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """PPO's optimizer."""
        return self.ppo.optimizer

    @property
    def on_nonfinite(self) -> str:  # type: ignore[override]
        """PPO's `on_nonfinite`."""
        return self.ppo.on_nonfinite

    def _check_env(self, env: Any) -> AgentBatchEnv:
        owner = type(self).__name__
        if not isinstance(env, AgentBatchEnv):
            raise TypeError(
                f"{owner}: env must be a lerax.env.AgentBatchEnv (a multi-agent "
                f"environment with its agents stacked), got {type(env).__name__}."
            )
        if env.central_critic != self.central_critic:
            want = "True" if self.central_critic else "False"
            raise ValueError(
                f"{owner}: build the environment with AgentBatchEnv(env, "
                f"central_critic={want}); "
                + (
                    "MAPPO's critic reads the global state."
                    if self.central_critic
                    else "IPPO's critic reads each agent's own observation "
                    "(use MAPPO for a centralised critic)."
                )
            )
        return env

    def agent_names(self, env: Any) -> tuple[str, ...]:
        """The team's agents, for the callbacks (`ResetContext.agents`).

        Args:
            env: The agent batch.

        Returns:
            Its agents' names, in the stacked order.

        Raises:
            TypeError: If `env` is not an `AgentBatchEnv`.
            ValueError: If its `central_critic` does not match the algorithm.
        """
        return tuple(self._check_env(env).env.agents)

    def agent_rewards(self, buffer: RolloutBuffer) -> Array:
        """Each agent's raw rewards of a collected rollout, for the callbacks.

        Args:
            buffer: The rollout as `collect_rollout` returned it (before
                `post_collect`: its `returns` carry the agents' rewards).

        Returns:
            The rewards, axes `(num_steps, num_envs, num_agents)`.
        """
        return buffer.returns

    def post_reset(self, state: OnPolicyState[PolicyType]) -> OnPolicyState[PolicyType]:
        """Check the environment, stack the policy states over the agents, then PPO's.

        Args:
            state: The initial state `reset` built.

        Returns:
            The initial state with one policy state per agent (leading axes
            `(num_envs, num_agents)`), passed through `PPO.post_reset`.

        Raises:
            TypeError: At trace time, if the environment is not an
                `AgentBatchEnv`.
            ValueError: At trace time, if its `central_critic` does not match
                the algorithm, or a `PerAgentPolicy` has another number of
                agents than the environment.
        """
        env = self._check_env(state.env)
        num_agents = env.num_agents
        policy = state.policy
        if isinstance(policy, PerAgentPolicy):
            if policy.num_agents != num_agents:
                raise ValueError(
                    f"{type(self).__name__}: the PerAgentPolicy holds "
                    f"{policy.num_agents} agents' parameters but {env.name} has "
                    f"{num_agents} agents ({', '.join(env.env.agents)})."
                )

            # `PerAgentPolicy.reset` already stacks the agents' states; each
            # agent has its own optimizer state (PPO's set-up applied to each).
            def agent_opt_state(agent_policy):
                agent_state = dataclasses.replace(
                    state,
                    policy=agent_policy,
                    opt_state=self.optimizer.init(
                        eqx.filter(agent_policy, eqx.is_inexact_array)
                    ),
                )
                return self.ppo.post_reset(agent_state).opt_state

            opt_state = eqx.filter_vmap(agent_opt_state)(policy.policies)
            return dataclasses.replace(state, opt_state=opt_state)
        policy_state = jax.tree.map(
            lambda x: jnp.repeat(x[:, None], num_agents, axis=1),
            state.step_state.policy_state,
        )
        step_state = dataclasses.replace(state.step_state, policy_state=policy_state)
        state = dataclasses.replace(state, step_state=step_state)
        return self.ppo.post_reset(state)

    def step(
        self,
        env: AgentBatchEnv,
        policy: PolicyType,
        state: OnPolicyStepState[PolicyType],
        *,
        key: Key[Array, ""],
        callback: AbstractCallback,
    ) -> tuple[OnPolicyStepState[PolicyType], RolloutBuffer]:
        """Every agent of one environment acts with the shared policy; auto-reset.

        Args:
            env: The agent batch.
            policy: The shared policy.
            state: This environment's step state (observations and policy
                states stacked over the agents).
            key: A JAX PRNG key.
            callback: The callback (it sees the team reward).

        Returns:
            The next step state and the buffer entry (per-agent leaves with a
            leading `num_agents` axis; `rewards` the team reward, `returns` the
            agents' rewards until `post_collect`).
        """
        env = self._check_env(env)
        num_agents = env.num_agents
        mask_key, action_key, env_key, reset_key, policy_key, callback_key = (
            jax.random.split(key, 6)
        )
        action_mask = env.action_mask(state.env_state, key=mask_key)

        def act(agent_policy, policy_state, observation, k, mask):
            return agent_policy.action_and_value(
                policy_state, observation, key=k, action_mask=mask
            )

        action_keys = jax.random.split(action_key, num_agents)
        if isinstance(policy, PerAgentPolicy):
            policy_state, action, value, log_prob = eqx.filter_vmap(act)(
                policy.policies,
                state.policy_state,
                state.observation,
                action_keys,
                action_mask,
            )
            reset_policy_state = policy.reset(key=policy_key)
        else:
            policy_state, action, value, log_prob = jax.vmap(
                lambda *args: act(policy, *args)
            )(state.policy_state, state.observation, action_keys, action_mask)
            reset_policy_state = jax.vmap(lambda k: policy.reset(key=k))(
                jax.random.split(policy_key, num_agents)
            )
        env_action = (
            jax.vmap(lambda a: clip_to_action_space(env.action_space, a))(action)
            if self.ppo.clip_actions
            else action
        )
        env_state, observation, agent_rewards, terminated, truncated = env.agent_step(
            state.env_state, env_action, key=env_key
        )
        outcome = record_step(
            state,
            callback,
            action=env_action,
            reward=jnp.mean(agent_rewards),
            terminated=terminated,
            truncated=truncated,
            action_mask=action_mask,
            key=callback_key,
        )
        entry = RolloutBuffer(
            observations=state.observation,
            actions=action,
            rewards=outcome.reward,
            terminations=terminated,
            truncations=truncated,
            log_probs=log_prob,
            values=value,
            policy_states=state.policy_state,
            next_observations=observation,
            next_policy_states=policy_state,
            action_masks=action_mask,
            returns=agent_rewards,
        )
        done = outcome.done
        reset_env_state, reset_observation, _ = env.reset(key=reset_key)
        next_state = next_step_state(
            outcome,
            env_state=select_where(done, reset_env_state, env_state),
            observation=select_where(done, reset_observation, observation),
            policy_state=policy_state,
            reset_policy_state=reset_policy_state,
        )
        return next_state, entry

    def post_collect(
        self,
        env: AgentBatchEnv,
        policy: PolicyType,
        step_state: OnPolicyStepState[PolicyType],
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> RolloutBuffer:
        """Fold the agents into the environment axis, then GAE per agent.

        Args:
            env: The agent batch.
            policy: The policy that collected the buffer.
            step_state: The step state after the rollout.
            buffer: The collected buffer, leading axes `(num_steps, num_envs)`
                and per-agent leaves with a third, `num_agents`.
            key: A JAX PRNG key.

        Returns:
            A buffer with leading axes `(num_steps, num_envs * num_agents)`
            (environment-major), each agent's own rewards, the team's episode
            flags repeated for every agent, and advantages and returns by GAE
            (each agent's own critic with a `PerAgentPolicy`).
        """
        del step_state, key
        num_agents = env.num_agents

        def per_agent(flag):
            return jnp.broadcast_to(flag[..., None], flag.shape + (num_agents,))

        folded = RolloutBuffer(
            observations=_fold(buffer.observations),
            actions=_fold(buffer.actions),
            rewards=_fold(buffer.returns),
            terminations=_fold(per_agent(buffer.terminations)),
            truncations=_fold(per_agent(buffer.truncations)),
            log_probs=_fold(buffer.log_probs),
            values=_fold(buffer.values),
            policy_states=_fold(buffer.policy_states),
            next_observations=_fold(buffer.next_observations),
            next_policy_states=_fold(buffer.next_policy_states),
            action_masks=_fold(buffer.action_masks),
        )
        if isinstance(policy, PerAgentPolicy):
            per_agent = eqx.filter_vmap(
                lambda agent_policy, agent_buffer: gae_post_collect(
                    agent_policy,
                    agent_buffer,
                    gamma=self.gamma,
                    gae_lambda=self.gae_lambda,
                )
            )(policy.policies, _split_agents(folded, num_agents))
            return _join_agents(per_agent)
        return gae_post_collect(
            policy, folded, gamma=self.gamma, gae_lambda=self.gae_lambda
        )

    def train(
        self,
        policy: PolicyType,
        opt_state: optax.OptState,
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> tuple[PolicyType, optax.OptState, dict[str, Scalar]]:
        """PPO's `train` on the folded rollout (per agent with `PerAgentPolicy`).

        With a `PerAgentPolicy`, PPO's `train` runs under `jax.vmap` over the
        agents: agent `i`'s parameters and optimizer state are updated on agent
        `i`'s samples (columns `i, i + num_agents, ...` of the folded rollout),
        with the key `jax.random.split(key, num_agents)[i]`; the log is the
        mean over the agents.

        Args:
            policy: The shared policy, or a `PerAgentPolicy`.
            opt_state: The optimizer state (stacked over the agents with a
                `PerAgentPolicy`).
            buffer: The folded rollout from `post_collect`.
            key: A JAX PRNG key.

        Returns:
            The updated policy and optimizer state, and PPO's log.
        """
        if not isinstance(policy, PerAgentPolicy):
            return self.ppo.train(policy, opt_state, buffer, key=key)
        num_agents = policy.num_agents

        def train_agent(agent_policy, agent_opt_state, agent_buffer, agent_key):
            return self.ppo.train(
                agent_policy, agent_opt_state, agent_buffer, key=agent_key
            )

        policies, opt_state, log = eqx.filter_vmap(train_agent)(
            policy.policies,
            opt_state,
            _split_agents(buffer, num_agents),
            jax.random.split(key, num_agents),
        )
        log = jax.tree.map(lambda x: jnp.mean(x, axis=0), log)
        return eqx.tree_at(lambda p: p.policies, policy, policies), opt_state, log


class IPPO(AbstractMultiAgentPPO[PolicyType]):
    """Independent PPO with parameter sharing (de Witt et al., 2020; Yu et al., 2022).

    Every agent acts with the same policy on its own observation (with its
    one-hot id appended by `AgentBatchEnv`), and the critic reads that
    observation too. Takes PPO's arguments; see `AbstractMultiAgentPPO` for how
    sizes count agents.

    Example:
        ```python
        env = AgentBatchEnv(JaxMARLToLeraxEnv.from_name("MPE_simple_spread_v3"))
        policy = MLPActorCriticPolicy(env, key=key)
        policy = IPPO(num_envs=8, num_steps=128).learn(env, policy, 100_000, key=key)
        ```

    Attributes:
        ppo: The PPO whose hyperparameters and `train` are used.
        central_critic: `False`: the critic reads the agent's observation.
    """

    ppo: PPO
    central_critic: ClassVar[bool] = False

    def __init__(self, **ppo_arguments: Any):
        """Configure IPPO with PPO's arguments.

        Args:
            **ppo_arguments: Any argument of `PPO` (`num_envs`, `num_steps`,
                `learning_rate`, ...) except `normalize_rewards=True`.

        Raises:
            ValueError: If an argument is out of range or
                `normalize_rewards=True`.
            TypeError: If an argument is not one of PPO's.
        """
        self.ppo = _make_ppo("IPPO", ppo_arguments)


class MAPPO(AbstractMultiAgentPPO[PolicyType]):
    """Multi-agent PPO with a centralised critic (Yu et al., 2022).

    The agents share one policy whose actor reads the agent's observation and
    whose critic reads the environment's global state (with the agent's id):
    build the environment with `AgentBatchEnv(env, central_critic=True)` and
    the policy with `lerax.policy.MLPCentralCriticPolicy`. Takes PPO's
    arguments; see `AbstractMultiAgentPPO` for how sizes count agents.

    Attributes:
        ppo: The PPO whose hyperparameters and `train` are used.
        central_critic: `True`: the critic reads the global state.
    """

    ppo: PPO
    central_critic: ClassVar[bool] = True

    def __init__(self, **ppo_arguments: Any):
        """Configure MAPPO with PPO's arguments.

        Args:
            **ppo_arguments: Any argument of `PPO` (`num_envs`, `num_steps`,
                `learning_rate`, ...) except `normalize_rewards=True`.

        Raises:
            ValueError: If an argument is out of range or
                `normalize_rewards=True`.
            TypeError: If an argument is not one of PPO's.
        """
        self.ppo = _make_ppo("MAPPO", ppo_arguments)
