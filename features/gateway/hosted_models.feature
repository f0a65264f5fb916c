Feature: Hosted models through the egress
  A model id `<provider>/<model>` names a registered provider's model: a completion of it
  goes straight out through the egress, no node involved, with the caller's attached
  credential (their own, else the one an admin attached for everyone), within their
  limits, and is metered (tokens and cost) and audited. A provider's failure comes back in
  OpenAI's error shape naming the provider, never with the key. The stand-in provider is
  the real model server behind a proxy that demands an API key, as OpenAI's API does.

  Background:
    Given a fresh deployment whose egress may call local hosts
    And a user "root" who is an admin
    And a user "alice" who is logged in
    And the stand-in provider "standin" offering the test model at 1.0 and 2.0 dollars per million tokens

  Scenario: A completion and a stream through the provider, metered and audited, the key never shown
    Given the stand-in provider accepts the key "sk-standin-alice-1a2b"
    When "alice" posts to "/v1/credentials" the body {"name": "standin-key", "provider": "standin", "value": "sk-standin-alice-1a2b"}
    And "alice" puts to "/v1/providers/standin/credential" the body {"credential_name": "standin-key"}
    And "alice" gets "/v1/models"
    Then the model list holds "cynodeai.pm" and "standin/smollm2:135m"
    When "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 200
    And the response field "model" is "standin/smollm2:135m"
    And the answer has text and usage
    And the stand-in provider got 1 call with the key "sk-standin-alice-1a2b", the last for "smollm2:135m"
    When "alice" streams from the hosted model "standin/smollm2:135m" "Count to five."
    Then the stream carries text as "standin/smollm2:135m", ends with [DONE] and holds no usage
    And the stand-in provider got 2 calls with the key "sk-standin-alice-1a2b", the last for "smollm2:135m"
    And "alice"'s usage of "standin/smollm2:135m" today is 2 calls costing more than nothing
    When "alice" gets "/v1/audit?action=egress.*"
    Then the response field "events.0.action" is "egress.call"
    And the response field "events.0.subject" is "standin/smollm2:135m"
    And the response body does not contain "sk-standin-alice"

  Scenario: The official OpenAI Python client uses a hosted model unchanged, Responses API included
    Given the stand-in provider accepts the key "sk-standin-python-5d6e"
    When "alice" posts to "/v1/credentials" the body {"name": "py", "provider": "standin", "value": "sk-standin-python-5d6e"}
    And "alice" puts to "/v1/providers/standin/credential" the body {"credential_name": "py"}
    And the official OpenAI Python client runs its hosted-model checks as "alice" on "standin/smollm2:135m"
    Then the stand-in provider got 4 calls with the key "sk-standin-python-5d6e", the last for "smollm2:135m"
    And the last call with the key "sk-standin-python-5d6e" asked for a whole answer, without stream options

  Scenario: Embeddings of a hosted model go through the egress too
    Given the stand-in provider accepts the key "sk-standin-embed-6a7b"
    When "alice" posts to "/v1/credentials" the body {"name": "embed", "provider": "standin", "value": "sk-standin-embed-6a7b"}
    And "alice" puts to "/v1/providers/standin/credential" the body {"credential_name": "embed"}
    And "alice" embeds "hello world" with the hosted model "standin/smollm2:135m"
    Then the response status is 200
    And the response field "model" is "standin/smollm2:135m"
    And the answer holds one vector of numbers and counts its tokens
    And "alice"'s usage of "standin/smollm2:135m" today is 1 call costing more than nothing

  Scenario: Without a credential of their own a user's calls use the one attached for everyone
    Given the stand-in provider accepts the key "sk-standin-team-3c4d"
    When "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 403
    And the OpenAI error has type "permission_error" and code "provider_credential_missing"
    When "root" posts to "/v1/credentials" the body {"name": "team", "provider": "standin", "value": "sk-standin-team-3c4d"}
    And "root" puts to "/v1/providers/standin/credential" the body {"credential_name": "team", "scope": "system"}
    And "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 200
    And the stand-in provider got 1 call with the key "sk-standin-team-3c4d", the last for "smollm2:135m"

  Scenario: A wrong key: the provider's refusal names the provider and never the key
    Given the stand-in provider accepts the key "sk-standin-right-5e6f"
    When "alice" posts to "/v1/credentials" the body {"name": "wrong", "provider": "standin", "value": "sk-standin-wrong-5e6f"}
    And "alice" puts to "/v1/providers/standin/credential" the body {"credential_name": "wrong"}
    And "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 502
    And the OpenAI error has type "api_error" and code "provider_error"
    And the error message says "provider 'standin' answered 401"
    And the response body does not contain "sk-standin-wrong"
    When "alice" gets "/v1/audit?action=egress.*"
    Then the response field "events.0.outcome" is "failure"
    And the response body does not contain "sk-standin-wrong"

  Scenario: A provider's redirect is not followed: the key goes nowhere else
    Given the stand-in provider accepts the key "sk-standin-moved-4f5a"
    And the stand-in provider redirects calls with the key "sk-standin-moved-4f5a" elsewhere
    When "alice" posts to "/v1/credentials" the body {"name": "moved", "provider": "standin", "value": "sk-standin-moved-4f5a"}
    And "alice" puts to "/v1/providers/standin/credential" the body {"credential_name": "moved"}
    And "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 502
    And the error message says "provider 'standin' answered 307"
    And nothing reached the place the stand-in provider redirected to
    And the stand-in provider got 1 call with the key "sk-standin-moved-4f5a", the last for "smollm2:135m"

  Scenario: A model the provider does not offer is not found
    When "alice" asks the hosted model "standin/gpt-9" "Say hello."
    Then the response status is 404
    And the OpenAI error has type "not_found_error" and code "model_not_found"

  Scenario: A provider's 429s and 503s are retried with backoff, then given up on
    Given the stand-in provider accepts the key "sk-standin-busy-7a8b"
    When "alice" posts to "/v1/credentials" the body {"name": "busy", "provider": "standin", "value": "sk-standin-busy-7a8b"}
    And "alice" puts to "/v1/providers/standin/credential" the body {"credential_name": "busy"}
    Given the stand-in provider answers the next 2 calls with the key "sk-standin-busy-7a8b" with 429
    When "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 200
    And the stand-in provider got 3 calls with the key "sk-standin-busy-7a8b", the last for "smollm2:135m"
    Given the stand-in provider answers the next 3 calls with the key "sk-standin-busy-7a8b" with 503
    When "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 502
    And the error message says "provider 'standin' answered 503 Service Unavailable (after 3 tries)"
    Given the stand-in provider answers the next 3 calls with the key "sk-standin-busy-7a8b" with 429
    When "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 429
    And the OpenAI error has type "rate_limit_error" and code "provider_error"
    And the response has a Retry-After header

  Scenario: A provider that does not answer is given up on after the timeout
    Given the stand-in provider accepts the key "sk-standin-slow-9c0d"
    And the stand-in provider leaves calls with the key "sk-standin-slow-9c0d" unanswered
    When "alice" posts to "/v1/credentials" the body {"name": "slow", "provider": "standin", "value": "sk-standin-slow-9c0d"}
    And "alice" puts to "/v1/providers/standin/credential" the body {"credential_name": "slow"}
    And "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 504
    And the OpenAI error has type "api_error" and code "provider_timeout"
    And the error message says "provider 'standin' did not answer within 3 s"

  Scenario: A monthly budget spent mid-month stops further calls until the month turns
    Given the stand-in provider "pricey" offering the test model at 1000.0 and 1000.0 dollars per million tokens
    And the stand-in provider accepts the key "sk-standin-pricey-1e2f"
    When "alice" posts to "/v1/credentials" the body {"name": "pricey", "provider": "standin", "value": "sk-standin-pricey-1e2f"}
    And "alice" puts to "/v1/providers/pricey/credential" the body {"credential_name": "pricey"}
    And "root" puts to "/v1/settings/egress.max_usd_cents_per_month_per_user" the body {"value": 1}
    And "alice" asks the hosted model "pricey/smollm2:135m" "Say hello."
    Then the response status is 200
    When "alice" asks the hosted model "pricey/smollm2:135m" "Say hello."
    Then the response status is 429
    And the OpenAI error has type "rate_limit_error" and code "budget_exhausted"
    And the error message says "the monthly budget is $0.01"
    And the response has a Retry-After header
    And the stand-in provider got 1 call with the key "sk-standin-pricey-1e2f", the last for "smollm2:135m"
    When "alice" gets "/v1/usage?days=1"
    Then the response field "budget.max_usd_cents_per_month" is 1
    And the response field "budget.max_usd_cents_per_day" is 0

  Scenario: A limit of tokens per minute holds back the next call
    Given the stand-in provider accepts the key "sk-standin-rate-3a4b"
    When "alice" posts to "/v1/credentials" the body {"name": "rate", "provider": "standin", "value": "sk-standin-rate-3a4b"}
    And "alice" puts to "/v1/providers/standin/credential" the body {"credential_name": "rate"}
    And "root" puts to "/v1/settings/egress.max_tokens_per_minute_per_user" the body {"value": 1}
    And "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 200
    When "alice" asks the hosted model "standin/smollm2:135m" "Say hello."
    Then the response status is 429
    And the OpenAI error has type "rate_limit_error" and code "token_rate_exceeded"

  Scenario: An anthropic provider answers OpenAI clients, whole, streamed and with tools
    Given the Anthropic contract server as provider "acme" offering "claude-x" for the key "sk-ant-contract-7b8c"
    When "root" posts to "/v1/credentials" the body {"name": "acme", "provider": "anthropic", "value": "sk-ant-contract-7b8c"}
    And "root" puts to "/v1/providers/acme/credential" the body {"credential_name": "acme", "scope": "system"}
    And "alice" asks the hosted model "acme/claude-x" "Say hello."
    Then the response status is 200
    And the response field "model" is "acme/claude-x"
    And the response field "choices.0.message.content" is "Hello from the contract server."
    And the response field "choices.0.finish_reason" is "stop"
    And the response field "usage.prompt_tokens" is 21
    When "alice" streams from the hosted model "acme/claude-x" "Say hello."
    Then the stream carries text as "acme/claude-x", ends with [DONE] and holds no usage
    When "alice" asks the hosted model "acme/claude-x" about the weather with a tool
    Then the response status is 200
    And the response field "choices.0.finish_reason" is "tool_calls"
    And the answer calls "weather" with '{"city": "Paris"}'
    When "alice" gives the tool's answer "sunny, 21 C"
    Then the response field "choices.0.message.content" is "The tool said: sunny, 21 C"
    When "alice" streams from the hosted model "acme/claude-x" about the weather with a tool
    Then the streamed tool call is "weather" with '{"city": "Paris"}', finishing with "tool_calls"
    When "alice" posts to "/v1/chat/completions" the body {"model": "acme/claude-x", "n": 2, "messages": [{"role": "user", "content": "hi"}]}
    Then the response status is 400
    And the OpenAI error names the param "n"
    When "alice" posts to "/v1/embeddings" the body {"model": "acme/claude-x", "input": "hi"}
    Then the response status is 400
    And the OpenAI error names the param "model"
    And the Anthropic contract server got 5 requests, refused none, and saw the key "sk-ant-contract-7b8c" only as x-api-key
    And "alice"'s usage of "acme/claude-x" today is 5 calls costing more than nothing

  Scenario: A job calls its task's hosted model through the egress under its claim, and nothing else
    Given the stand-in provider accepts the key "sk-standin-job-7c3d"
    When "alice" posts to "/v1/credentials" the body {"name": "standin-key", "provider": "standin", "value": "sk-standin-job-7c3d"}
    And "alice" puts to "/v1/providers/standin/credential" the body {"credential_name": "standin-key"}
    And "alice" creates a task with commands "echo hi" and the model "standin/smollm2:135m"
    Then the response field "routing.via" is "egress"
    And the response field "routing.reason" is "the task names hosted standin/smollm2:135m and no local equivalent is set (task.local_model): through the egress"
    Given a registered test node
    When the test node claims the task's job
    Then the claim runs a hosted model job of "standin/smollm2:135m"
    When the test node relays a call of "standin/smollm2:135m" under its claim
    Then the response status is 200
    And the answer has text and usage
    And the stand-in provider got 1 call with the key "sk-standin-job-7c3d", the last for "smollm2:135m"
    When the test node relays a call of "standin/other" under its claim
    Then the response status is 403
    And the error code is "model_not_allowed"
    When the test node relays a call of "standin/smollm2:135m" signed with its node key
    Then the response status is 401
    And the error code is "bad_signature"
    When the test node restarts and claims the task's job again
    And the test node relays a call of "standin/smollm2:135m" under attempt 1's claim
    Then the response status is 409
    And the error code is "stale_attempt"
    And the stand-in provider got 1 call with the key "sk-standin-job-7c3d", the last for "smollm2:135m"
    When "alice" creates a task with commands "echo hi" and the model "smollm2:135m"
    Then the response field "routing.via" is "node"
    When the test node claims the task's job
    And the test node relays a call of "smollm2:135m" under its claim
    Then the response status is 403
    And the error code is "model_not_allowed"
