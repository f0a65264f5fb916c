Feature: Jobs that need a model reach it only through their pod's inference proxy
  A prompt is answered by the agent inside the sandbox pod, which talks to the real model
  server only through the pod's proxy sidecar and runs the commands the model asks for in
  that same sandbox. Script and commands jobs that name a model get OLLAMA_BASE_URL and
  OPENAI_BASE_URL, and nothing else: the pod's network stays `none`.

  Background:
    Given an edge node is running
    And a user "alice" who is logged in

  Scenario: A prompt is answered by the agent, and never run as a shell command
    Given the node has a warm pod ready
    When "alice" asks "What is 2+2? Answer with the number."
    Then the task completes
    And its stdout is a non-empty answer
    And its logs show the agent's steps, ending in an answer
    And no step ran the prompt as a command
    And the node ran it in a warm sandbox, which is gone
    And the result counts at least 1 model call with tokens

  Scenario: The owner's step limit preference and a triggered skill reach the agent of her prompt task
    Given "alice" prefers "agent.max_steps" to be 3
    And "alice" has a skill "house-style" triggered by "number"
    When "alice" asks "What is 2+2? Answer with the number."
    Then the task completes
    And its logs begin with the agent saying it may take up to 3 steps
    And its logs say the agent loaded the skill "house-style"

  Scenario: A sandbox job with a model gets a completion from $OLLAMA_BASE_URL
    When "alice" runs with the model "smollm2:135m" the commands:
      | echo "$OLLAMA_BASE_URL $OPENAI_BASE_URL" |
      | python3 /job/attachments/ask.py "$OLLAMA_BASE_URL/v1/chat/completions" |
    Then the task completes
    And its stdout contains "http://localhost:11434 http://localhost:11434/v1"
    And its stdout contains "status=200 role=assistant"
    And the result counts at least 1 model call with tokens

  Scenario: The pod reaches the sidecar and nothing else
    When "alice" runs with the model "smollm2:135m" the commands:
      | python3 /job/attachments/ask.py "$OLLAMA_BASE_URL/v1/models" |
      | nc -w 3 1.1.1.1 80 </dev/null 2>&1 \|\| echo internet-unreachable |
      | nc -w 3 127.0.0.1 {gateway-port} </dev/null 2>&1 \|\| echo gateway-unreachable |
      | env \| grep -i -E 'psk\|secret\|token\|aws_\|node_key' \|\| echo no-credentials |
    Then the task completes
    And its stdout contains "status=200"
    And its stdout contains "internet-unreachable"
    And its stdout contains "gateway-unreachable"
    And its stdout contains "no-credentials"

  Scenario: A request over the proxy's size limit gets 413
    When "alice" runs with the model "smollm2:135m" the commands:
      | python3 /job/attachments/ask.py "$OLLAMA_BASE_URL/v1/chat/completions" 11000000 |
    Then the task completes
    And its stdout contains "status=413"

  Scenario: Only a node that serves a model gets model jobs
    Given a second edge node without models is running
    When "alice" asks "Say hello." 3 times
    Then every one of those tasks completes
    And the node without models ran none of them
    When "alice" runs the commands:
      | echo plain |
    Then the task completes
    And the node without models is stopped

  Scenario: A job naming a model no node serves waits for one, unclaimed
    When "alice" runs with the model "no-such-model:1b" the commands:
      | echo never |
    Then after 8 seconds the task is still queued
    And the edge node's log says it left the job for a node that serves "no-such-model:1b"
