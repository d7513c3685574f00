"""The physics corrector planned in jnp: one jit-compiled self-consuming generation on an accelerator."""
