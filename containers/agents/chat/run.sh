#!/usr/bin/env bash
# chat agent: an OpenAI-compatible Chat Completions tool loop (standard-library python3).
# Reads /task/instruction.md, works in $BAKECTL_WORKDIR, talks to $OPENAI_BASE_URL.
# Exit codes: 0 final answer, 2 bad setup, 3 model/gateway error, 4 turn limit.
set -euo pipefail
exec python3 /opt/bakectl/agent/chat_agent.py "$@"
