#!/usr/bin/env bash
# opencode: `opencode run` against the gateway (OpenAI Chat Completions).
#   instruction  /task/instruction.md, passed as the message
#   model        -m bakectl/$BAKECTL_MODEL (default gpt-4o-mini): a provider "bakectl" at
#                $OPENAI_BASE_URL (@ai-sdk/openai-compatible, bundled), key $OPENAI_API_KEY
#   permissions  every tool allowed (the container is the sandbox)
#   retries      the SDK retries only 408/409/429/5xx; a replay error (404) ends the run
set -euo pipefail
model="${BAKECTL_MODEL:-gpt-4o-mini}"
OPENCODE_CONFIG_CONTENT=$(cat <<JSON
{"\$schema": "https://opencode.ai/config.json",
 "autoupdate": false, "share": "disabled", "permission": "allow", "snapshot": false,
 "model": "bakectl/$model", "small_model": "bakectl/$model",
 "provider": {"bakectl": {"npm": "@ai-sdk/openai-compatible", "name": "bakectl gateway",
   "options": {"baseURL": "$OPENAI_BASE_URL", "apiKey": "{env:OPENAI_API_KEY}"},
   "models": {"$model": {"name": "$model"}}}}}
JSON
)
export OPENCODE_CONFIG_CONTENT
exec "$BAKECTL_AGENT_PREFIX/bin/opencode" run -m "bakectl/$model" "$(cat /task/instruction.md)"
