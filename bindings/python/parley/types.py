"""The JSON shapes the bindings return, as TypedDicts, so that editors and type checkers know
their keys; at run time they are plain dicts. They follow include/parley.h and the README's
"The run directory". Keys that are not always there sit in a `total=False` subclass; objects
whose keys depend on the config or the seeds (a row's meta, per-server counts) stay Dict[str, Any].
"""
from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

JobState = Literal["running", "done", "failed", "cancelled"]


class ChatMessage(TypedDict):
    role: str
    content: str


class _GenerationRequestFields(TypedDict):
    ticket: int  # what PullQueue.submit() answers by
    dialogue_id: str
    turn: int  # the index of the message being written: 0, 1, 2...
    role: str
    attempt: int  # 1 for the first try
    model: Optional[str]
    max_tokens: int
    temperature: float
    top_p: float
    stop: List[str]
    seed: int


class GenerationRequest(_GenerationRequestFields, total=False):
    """A request for the host's model (PullQueue.take(); a callback gets the same dict).
    A chat request has "messages", a completion request "prompt"."""

    messages: List[ChatMessage]
    prompt: str
    params: Dict[str, Any]  # the role's "params" (top_k, min_p, …), when it sets any


class JobProgress(TypedDict):
    """Job.progress: the job's counts so far."""

    state: JobState
    seeds: int  # 0 until the job has counted them, just after it starts
    ended: int
    failed: int
    messages: int
    tokens: int
    in_flight: int
    resumed: int  # dialogues an earlier run of the directory had already ended


class DialogueStartedEvent(TypedDict):
    event: Literal["dialogue_started"]
    id: str
    resumed: bool


class MessageEvent(TypedDict):
    event: Literal["message"]
    id: str
    index: int
    role: str


class DialogueEndedEvent(TypedDict):
    event: Literal["dialogue_ended"]
    id: str
    status: str  # "finished", "filtered" or "failed"
    end_reason: str


class LimitEvent(TypedDict):
    """A server's adaptive concurrency limit changed."""

    event: Literal["limit"]
    backend: str
    url: str
    limit: int


class MetricsEvent(TypedDict):
    """The job's live metrics are served at `url` (Prometheus text format; config run.metrics)."""

    event: Literal["metrics"]
    url: str


class JobEndedEvent(TypedDict):
    """The last event of a job."""

    event: Literal["job_ended"]
    state: JobState


# Job.next_event(): tell the kinds apart by event["event"] (type checkers narrow on it).
JobEvent = Union[DialogueStartedEvent, MessageEvent, DialogueEndedEvent, LimitEvent, MetricsEvent, JobEndedEvent]

# One entry of a row's "conversations" (ShareGPT). Functional syntax: "from" is a keyword.
ConversationEntry = TypedDict("ConversationEntry", {"from": str, "value": str})


class DialogueRow(TypedDict):
    """A row of dialogues.jsonl (Engine.synthesize(), JobResult["dialogues"])."""

    id: str
    conversations: List[ConversationEntry]  # "from": "system", "human" or "gpt"
    end_reason: str
    turns: int
    meta: Dict[str, Any]  # seed_mode, seed_line, topic, filters, generation, the seed's own fields...


class _BudgetFields(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    cost: float
    exhausted: bool


class BudgetSpend(_BudgetFields, total=False):
    """RunSummary["budget"]: what a run.budget has spent, and its limits."""

    max_prompt_tokens: int
    max_completion_tokens: int
    max_cost: float


class MergedShard(TypedDict):
    """One entry of a merged summary's "shards"."""

    shard: str  # "K/N"
    dir: str
    seeds: int
    wall_seconds: float


class _RunSummaryFields(TypedDict):
    seeds: int
    finished: int
    filtered: int
    failed: int
    invalid_seeds: int
    turns: int
    mean_turns: float
    generated_messages: int
    prompt_tokens: int
    completion_tokens: int
    wall_seconds: float
    interrupted: bool
    end_reasons: Dict[str, int]
    failure_reasons: Dict[str, int]
    filters: Dict[str, Dict[str, int]]  # decisions by filter, then action
    output_dir: str
    files: List[str]


class RunSummary(_RunSummaryFields, total=False):
    """summary.json: JobResult["summary"], and what parley.merge() and parley.ray.run() return."""

    shard: str  # "K/N", when the run took one shard of the seeds
    stopped: str  # "budget": run.budget stopped the run (resumable with a larger one)
    records: Dict[str, int]  # what capo, expert and selftalk made, by kind
    judged_turns: int  # eval
    unscored_turns: int  # eval
    selftalk: Dict[str, Any]  # depths, filter yield
    serving: Dict[str, Any]  # per backend: requests, tokens, cache hits, each server's concurrency limits
    budget: BudgetSpend
    shards: List[MergedShard]  # a merged run's shards


class _JobResultFields(TypedDict):
    out: str
    files: Dict[str, str]  # "dialogues": its path, ...
    summary: RunSummary


class JobResult(_JobResultFields, total=False):
    """What Engine.run() and Job.wait() return."""

    dialogues: List[DialogueRow]  # unless the job asked for "return": "summary"


class RayShardState(TypedDict):
    """RayProgress["per_shard"][k]: shard k's latest attempt."""

    attempt: int  # 1, then one more for each retry
    pid: int
    node: str
    done: bool
    progress: JobProgress  # {} until the shard first reports


class RayProgress(TypedDict):
    """What parley.ray.run() hands to on_progress: totals over the shards."""

    shards: int
    shards_done: int
    elapsed: float
    seeds: int
    seeds_counted: bool  # every shard has counted its seeds: "seeds" is the total
    ended: int
    failed: int
    resumed: int
    in_flight: int
    tokens: int
    messages: int
    turns_per_second: float
    retried: int  # shards on their second attempt or later
    per_shard: Dict[int, RayShardState]
