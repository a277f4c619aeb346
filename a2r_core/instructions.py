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

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from a2r_core.errors import ConfigError, InputError

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




# ---- which trained task an instruction is taken for ----------------------------------------------

DEFAULT_RESOLVE_THRESHOLD = 0.75


@dataclass(frozen=True)
class Resolution:
    """What the model takes an instruction for.

    task: the model's task whose failure prompts score it (None: an unseen task, as before
    resolution existed). similarity: sentence similarity to the nearest known instruction (1.0 for
    an exact, case/space-normalised match). nearest / nearest_task: that instruction and its task,
    which may be a task the model never trained on (then `task` is None). how: "exact", "nearest"
    or "unseen".
    """

    task: str | None
    similarity: float
    nearest: str
    nearest_task: str
    how: str


class InstructionResolver:
    """Exact match first, else the nearest known instruction by sentence similarity.

    Known instructions: the model's own `task_instructions` (its tasks) plus the instruction
    library (`a2r_core/data/instructions.yaml`; a library task that shares an instruction with a
    model task counts as that task), whose other tasks act as hard negatives: "close the
    door" is nearer to door-close's "close the door" than to a model's "open the door", so it is
    taken for door-close, which the model never learned, and resolves to no task rather than to the
    opposite of what was asked. An instruction resolves to a model task when its nearest known
    instruction belongs to that task with similarity >= `threshold`; below it, or when the nearest
    is another task, it is an unseen task.

    `embed(texts) -> [N, E]` L2-normalised numpy rows (the backbone's `sentence_features`).
    Measured with the shipped model's all-MiniLM-L6-v2 (docs/model.md, "Instruction resolution"):
    new paraphrases of trained tasks reach 0.82-0.99, unrelated requests stay below 0.55.
    """

    def __init__(self, model_tasks: Mapping[str, Sequence[str]], embed: Callable[[list[str]], np.ndarray],
                 threshold: float = DEFAULT_RESOLVE_THRESHOLD,
                 library: Mapping[str, Sequence[str]] | None = None) -> None:
        if not 0.0 < float(threshold) <= 1.0:
            raise ConfigError(f"resolve_threshold must be in (0, 1], got {threshold!r}")
        if library is None:
            from a2r_core.data.instructions import all_instructions

            library = all_instructions()
        self.threshold = float(threshold)
        self.model_tasks = {str(task) for task in model_tasks}
        own = {normalize(text): str(task) for task, texts in model_tasks.items() for text in texts}
        # A library task sharing an instruction with a model task is that task under another name
        # (a user's "open" trained on "open the drawer" is the library's drawer-open-v3): its other
        # paraphrases then count for the model's task instead of acting as negatives.
        alias = {str(task): next((own[normalize(t)] for t in texts if normalize(t) in own), str(task))
                 for task, texts in library.items()}
        known: dict[str, tuple[str, str]] = {}  # normalised text -> (text, task); the model's own win
        for task, texts in library.items():
            for text in texts:
                known[normalize(text)] = (text, alias[str(task)])
        for task, texts in model_tasks.items():
            for text in texts:
                known[normalize(text)] = (text, str(task))
        self._texts = [text for text, _ in known.values()]
        self._tasks = [task for _, task in known.values()]
        self._exact = {key: i for i, key in enumerate(known)}
        self._embed = embed
        self._features: np.ndarray | None = None  # embedded on first use (a model-load cost otherwise)
        self._cache: dict[str, Resolution] = {}

    def resolve(self, text: str) -> Resolution:
        key = normalize(text)
        if key in self._cache:
            return self._cache[key]
        i = self._exact.get(key)
        if i is not None:
            similarity, how = 1.0, "exact"
        else:
            if self._features is None:
                self._features = np.asarray(self._embed(self._texts), dtype=np.float32)
            sims = self._features @ np.asarray(self._embed([text]), dtype=np.float32)[0]
            i = int(np.argmax(sims))
            similarity, how = float(sims[i]), "nearest"
        task = self._tasks[i]
        if task not in self.model_tasks or similarity < self.threshold:
            how = "unseen"
        resolution = Resolution(task if how != "unseen" else None, similarity, self._texts[i], task, how)
        self._cache[key] = resolution
        return resolution


def describe(text: str, resolution: Resolution) -> str:
    """One line saying what `text` was taken for (the node logs it once per new instruction)."""
    if resolution.how == "exact":
        return f"instruction {text!r}: task {resolution.task} (a trained paraphrase)"
    if resolution.task is not None:
        return (f"instruction {text!r}: task {resolution.task} (nearest trained instruction "
                f"{resolution.nearest!r}, similarity {resolution.similarity:.2f})")
    return (f"instruction {text!r}: no trained task, scored as an unseen task (nearest known instruction "
            f"{resolution.nearest!r} of {resolution.nearest_task}, similarity {resolution.similarity:.2f})")


def normalize(text: str) -> str:
    """Case/space-normalised instruction: the key of exact matches (as the model's own lookup)."""
    return " ".join(str(text).lower().split())


__all__ = ["DEFAULT_RESOLVE_THRESHOLD", "MAX_INSTRUCTION_CHARS", "InstructionLimitError", "InstructionResolver",
           "Resolution", "check_instructions", "describe", "normalize"]
