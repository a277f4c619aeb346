"""The one check of instruction text: what the reward model, the node's parameter and topic, the
query service and score-bag accept, with one error text for each refusal.

Why one place: an instruction reaches the model through four doors (`RewardModel.score` from
Python, the reward node's `instructions` parameter, its `a2r/instruction` topic, the
`a2r/query_reward` service, `a2r score-bag --instruction`). When each door had its own check, the
service scored a 10,000-character instruction the parameter refused (and took 13x longer, the text
encoder tokenizing all of it to keep 32 tokens). Now every door calls `check_instructions`.

The limits: an instruction is a non-empty string of at most `MAX_INSTRUCTION_CHARS` characters
(surrounding whitespace is stripped first). The text encoder keeps its first `max_text_length`
tokens (32 for the shipped model, about 25 words), so 512 characters leaves room for any real
instruction while refusing pasted documents. The number of instructions per call is the caller's
limit (`max_instructions` for the node, `max_query_instructions` for the service); its name is
part of the message so the user knows which parameter to raise.
"""

from __future__ import annotations

from typing import Any

from a2r_core.errors import InputError

MAX_INSTRUCTION_CHARS = 512


class InstructionLimitError(InputError):
    """More instructions, or a longer instruction, than allowed (a request that is too large, as
    opposed to a malformed one: the query service answers STATUS_TOO_LARGE)."""


def check_instructions(value: Any, max_count: int | None = None, limit_name: str = "max_instructions") -> list[str]:
    """`value` as a list of stripped instruction strings, or InputError saying what is wrong.

    `max_count` (None: no limit) is reported under `limit_name` (the parameter a user would raise).
    Too many or too long: `InstructionLimitError` (an InputError).
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InputError(f"instructions must be a list of strings, got {type(value).__name__}")
    if not value:
        raise InputError("no instructions given; give at least one non-empty instruction")
    if max_count is not None and len(value) > max_count:
        raise InstructionLimitError(f"{len(value)} instructions given, {limit_name} is {max_count}")
    out = []
    for i, text in enumerate(value):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"instruction {i} is empty; give a non-empty instruction text")
        text = text.strip()
        if len(text) > MAX_INSTRUCTION_CHARS:
            raise InstructionLimitError(f"instruction {i} is {len(text)} characters long "
                                        f"(max {MAX_INSTRUCTION_CHARS})")
        out.append(text)
    return out


__all__ = ["MAX_INSTRUCTION_CHARS", "InstructionLimitError", "check_instructions"]
