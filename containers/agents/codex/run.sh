#!/usr/bin/env bash
# codex: `codex exec` against the gateway (OpenAI Responses; Codex speaks nothing else).
#   instruction  /task/instruction.md, passed as the prompt
#   model        -m $BAKECTL_MODEL (default gpt-5-codex)
#   endpoint     a provider "bakectl" at $OPENAI_BASE_URL, key from $OPENAI_API_KEY (a placeholder)
#   retries      none: a replay error ends the run at once
set -euo pipefail
export CODEX_HOME="${CODEX_HOME:-$HOME/.codex}"
mkdir -p "$CODEX_HOME"
# codex searches with rg: the prefix's copy, behind the task's own tools.
export PATH="$PATH:$BAKECTL_AGENT_PREFIX/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex-path"
exec "$BAKECTL_AGENT_PREFIX/bin/codex" exec \
  -m "${BAKECTL_MODEL:-gpt-5-codex}" \
  -c model_provider=bakectl \
  -c "model_providers.bakectl={name=\"bakectl gateway\", base_url=\"$OPENAI_BASE_URL\", env_key=\"OPENAI_API_KEY\", wire_api=\"responses\", request_max_retries=0, stream_max_retries=0, stream_idle_timeout_ms=120000}" \
  -c check_for_update_on_startup=false \
  -c analytics.enabled=false \
  -c feedback.enabled=false \
  --dangerously-bypass-approvals-and-sandbox \
  --skip-git-repo-check \
  --color never \
  "$(cat /task/instruction.md)"
