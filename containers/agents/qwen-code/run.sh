#!/usr/bin/env bash
# qwen-code: headless Qwen Code (`qwen -p`) against the gateway (OpenAI Chat Completions).
#   instruction  /task/instruction.md, passed as the prompt
#   model        -m $BAKECTL_MODEL (default qwen3-coder-plus), auth type "openai"
#   endpoint     $OPENAI_BASE_URL with the placeholder $OPENAI_API_KEY (set by the runner)
#   settings     ~/.qwen/settings.json: telemetry and usage statistics off, no retries
set -euo pipefail
mkdir -p "$HOME/.qwen"
cat > "$HOME/.qwen/settings.json" <<'JSON'
{
  "security": {"auth": {"selectedType": "openai"}},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false},
  "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
  "model": {"maxSessionTurns": 20, "generationConfig": {"maxRetries": 0}}
}
JSON
export OPENAI_MODEL="${BAKECTL_MODEL:-qwen3-coder-plus}"
exec "$BAKECTL_AGENT_PREFIX/bin/qwen" -m "$OPENAI_MODEL" --yolo --auth-type openai \
  -p "$(cat /task/instruction.md)"
