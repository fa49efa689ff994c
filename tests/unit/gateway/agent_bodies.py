"""Request bodies of the shapes real agents send, with the per-run values they carry.

Built from what codex, claude-code and mini-swe-agent (litellm) put on the wire when pointed at
the gateway: a run's session/thread/turn ids, client-made item ids, tool outputs stamped with
chunk ids and wall times, today's date in the prompt. Each builder takes a `Run` (the values
that change from one run to the next) and a turn number, so a test can build "the same request
on another run / another day" and see whether the gateway's rules make the two one request.

RULES holds the normalization rules each agent declares for it (what its agent.yaml carries).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

TASK = "Create /app/hello.txt containing the words 'hello world', then say done."


def _token(rng: random.Random, n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(n))


@dataclass
class Run:
    """What differs between two runs of the same agent on the same task."""

    seed: int
    day: date = field(default_factory=lambda: datetime.now(UTC).date())
    task: str = TASK

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.session = str(uuid.UUID(int=rng.getrandbits(128)))
        self.installation = str(uuid.UUID(int=rng.getrandbits(128)))
        self.turns = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(4)]
        self.started_ms = int(datetime(self.day.year, self.day.month, self.day.day).timestamp())
        self.started_ms = self.started_ms * 1000 + rng.randrange(86_400_000)
        self.msg_ids = [f"msg_{_token(rng, 24)}" for _ in range(4)]
        self.fco_ids = [f"fco_{_token(rng, 24)}" for _ in range(4)]
        self.chunk = [rng.randrange(16**6) for _ in range(4)]
        self.wall = [rng.uniform(0.001, 2.0) for _ in range(4)]
        self.user_hash = f"{rng.getrandbits(256):064x}"
        self.mtime = datetime(self.day.year, self.day.month, self.day.day, 9) + timedelta(
            seconds=rng.randrange(3600)
        )


# --- codex: OpenAI Responses ---------------------------------------------------------------

# Server-made ids: from the recorded response, so the same on every replay of it.
CODEX_CALL = {"id": "fc_68e4b1c2d3e4f5a6b7c8d9e0", "call_id": "call_Q2vXk9LmN3pR7sT1uW5yZ8aB"}


def codex_request(run: Run, turn: int = 0) -> dict[str, Any]:
    """POST /v1/responses as codex exec sends it; turn 1 carries the first tool call's output."""
    turn_metadata = {
        "installation_id": run.installation,
        "session_id": run.session,
        "thread_id": run.session,
        "turn_id": run.turns[turn],
        "window_id": f"{run.session}:0",
        "request_kind": "turn",
        "sandbox": "none",
        "turn_started_at_unix_ms": run.started_ms + 1500 * turn,
    }
    environment = (
        "<environment_context>\n  <cwd>/app</cwd>\n  <approval_policy>never</approval_policy>\n"
        "  <sandbox_mode>danger-full-access</sandbox_mode>\n  <network_access>enabled"
        f"</network_access>\n  <shell>bash</shell>\n  <current_date>{run.day.isoformat()}"
        "</current_date>\n  <timezone>Etc/UTC</timezone>\n</environment_context>"
    )
    items: list[dict[str, Any]] = [
        {
            "type": "message",
            "id": run.msg_ids[0],
            "role": "developer",
            "content": [
                {
                    "type": "input_text",
                    "text": "<permissions instructions>\nFilesystem "
                    "sandboxing is off. Approvals: never.\n</permissions instructions>",
                }
            ],
        },  # fmt: skip
        {
            "type": "message",
            "id": run.msg_ids[1],
            "role": "user",
            "content": [{"type": "input_text", "text": environment}],
        },
        {
            "type": "message",
            "id": run.msg_ids[2],
            "role": "user",
            "content": [{"type": "input_text", "text": run.task}],
        },
    ]
    if turn >= 1:
        output = (
            f"Chunk ID: {run.chunk[0]:06x}\nWall time: {run.wall[0]:.4f} seconds\n"
            "Process exited with code 0\nOriginal token count: 9\nOutput:\n"
            f"-rw-r--r-- 1 root root 12 {run.mtime:%b %e %H:%M} hello.txt\n"
        )
        items += [
            {
                "type": "function_call",
                **CODEX_CALL,
                "name": "exec_command",
                "arguments": json.dumps({"cmd": "echo 'hello world' > hello.txt && ls -l"}),
            },
            {
                "type": "function_call_output",
                "id": run.fco_ids[0],
                "call_id": CODEX_CALL["call_id"],
                "output": output,
            },
        ]
    return {
        "model": "gpt-5-codex",
        "instructions": "You are Codex, based on GPT-5. You are running as a coding agent in the "
        "Codex CLI on a user's computer.",
        "input": items,
        "tools": [
            {
                "type": "function",
                "name": "exec_command",
                "description": "Runs a command in a PTY, returning output or a session ID.",
                "strict": False,
                "parameters": {
                    "type": "object",
                    "properties": {"cmd": {"type": "string"}},
                    "required": ["cmd"],
                    "additionalProperties": False,
                },
            }
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": run.session,
        "client_metadata": {"x-codex-turn-metadata": json.dumps(turn_metadata)},
    }


# --- claude-code: Anthropic Messages (POST /v1/messages?beta=true) -------------------------

CLAUDE_TOOL_USE = "toolu_01A09q90qw90lq917835lq9"  # from the recorded response


def claude_code_request(run: Run, turn: int = 0) -> dict[str, Any]:
    env = (
        "Here is useful information about the environment you are running in:\n<env>\n"
        "Working directory: /app\nIs directory a git repo: No\nPlatform: linux\n"
        f"OS Version: Linux 6.1.0-27-amd64\nToday's date: {run.day.isoformat()}\n</env>"
    )
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "<system-reminder>\nAs you answer the user's questions, you can use "
                    f"the following context:\n# currentDate\nToday's date is {run.day:%Y-%m-%d}."
                    "\n</system-reminder>",
                },
                {"type": "text", "text": run.task, "cache_control": {"type": "ephemeral"}},
            ],
        }
    ]
    if turn >= 1:
        messages += [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": CLAUDE_TOOL_USE,
                        "name": "Bash",
                        "input": {"command": "echo 'hello world' > /app/hello.txt"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": CLAUDE_TOOL_USE,
                        "content": "",
                        "is_error": False,
                    }
                ],
            },
        ]
    return {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "text", "text": env, "cache_control": {"type": "ephemeral"}},
        ],
        "messages": messages,
        "tools": [
            {
                "name": "Bash",
                "description": "Executes a given bash command.",
                "input_schema": {
                    "type": "object",
                    "properties": {"command": {"type": "string"}},
                    "required": ["command"],
                },
            }
        ],
        "metadata": {"user_id": f"user_{run.user_hash}_account__session_{run.session}"},
        "stream": True,
    }


# --- mini-swe-agent: litellm -> Chat Completions --------------------------------------------


def mini_swe_agent_request(run: Run, turn: int = 0) -> dict[str, Any]:
    messages = [
        {
            "role": "system",
            "content": "You are a helpful assistant that can interact with a computer.",
        },
        {
            "role": "user",
            "content": f"Please solve this issue: {run.task}\n\nYou can execute bash commands "
            "and edit files to implement the necessary changes.",
        },
    ]
    if turn >= 1:
        messages += [
            {
                "role": "assistant",
                "content": "THOUGHT: write the file.\n\n```mswea_bash_command\n"
                "echo 'hello world' > /app/hello.txt && date\n```",
            },
            {
                "role": "user",
                "content": "<returncode>0</returncode>\n<output>\n"
                f"{run.mtime:%a %b %e %H:%M:%S UTC %Y}\n</output>",
            },
        ]
    return {"model": "openai/gpt-5-mini", "messages": messages, "drop_params": True}


BUILDERS = {
    "codex": ("/v1/responses", codex_request),
    "claude-code": ("/v1/messages", claude_code_request),
    "mini-swe-agent": ("/v1/chat/completions", mini_swe_agent_request),
}

# What each agent's agent.yaml declares under `normalize:` (dates are masked by default).
RULES: dict[str, dict[str, Any]] = {
    "codex": {
        "drop": ["client_metadata", "input[*].id"],
        # \b: not the "call_output" inside "function_call_output"
        "ids": [r"\b(msg|fco|fc|call)_[A-Za-z0-9]+"],
        "mask": [r"Chunk ID: \w+", r"Wall time: [0-9.]+ seconds"],
    },
    # cache_control markers move to the newest message each turn; they change no answer.
    "claude-code": {
        "drop": ["system[*].cache_control", "messages[*].content[*].cache_control"],
        "ids": [r"\btoolu_[A-Za-z0-9]+"],
    },
    "mini-swe-agent": {},
}
