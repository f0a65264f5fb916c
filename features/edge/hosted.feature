Feature: Sandboxed agents think through a hosted model
  A task whose model is hosted (`<provider>/<model>`) still runs on a node, in its
  sandbox pod: only its model calls move. The pod's sidecar hands them to the node as
  always; the node relays them to the gateway's egress, signed with the job's token,
  and the egress calls the provider with the key attached to it, on the owner's account.
  The provider is the stand-in (the real model server behind a proxy that demands a
  key). The key never reaches the node or the sandbox.

  Background:
    Given an edge node is running
    And a user "alice" who is logged in
    And "alice" has the key "sk-standin-edge-5e1f" attached to the stand-in provider "standin"

  Scenario: With no node model at all, a prompt is answered through the provider by the agent in its sandbox
    Given the only node running is a node without models
    And "alice" prefers "task.default_model" to be "standin/smollm2:135m"
    When "alice" asks "What is 2+2? Answer with the number."
    Then the task completes
    And its stdout is a non-empty answer
    And its logs show the agent's steps, ending in an answer
    And its routing is "egress" because "task.default_model (user) names hosted standin/smollm2:135m"
    And the node without models ran it
    And the stand-in provider answered the agent's calls with the key "sk-standin-edge-5e1f"
    And the audit trail has the task's hosted model calls as "alice", without the key
    And "alice"'s usage shows the task's calls of "standin/smollm2:135m" with their cost
    When "alice" asks cynodeai.pm "What is 3+3?" through the OpenAI API, answered by calls with the key "sk-standin-edge-5e1f"
    Then no node's log or state directory, nor the gateway's log, contains the key "sk-standin-edge-5e1f"
    And the node without models is stopped

  Scenario: A sandbox job reaches only its hosted model, and the key reaches neither node nor sandbox
    When "alice" runs with the model "standin/smollm2:135m" the commands:
      | ASK_MODEL=standin/smollm2:135m python3 /job/attachments/ask.py "$OPENAI_BASE_URL/chat/completions" |
      | ASK_MODEL=smollm2:135m python3 /job/attachments/ask.py "$OPENAI_BASE_URL/chat/completions" |
      | python3 /job/attachments/ask.py "$OPENAI_BASE_URL/models" |
      | K=sk-standin-edge; grep -rqs "$K-5e1f" /job /workspace /tmp /etc /home /proc/self/environ && echo key-found \|\| echo key-absent |
      | env \| grep -i -E 'sk-\|psk\|secret\|token\|aws_\|node_key' \|\| echo no-credentials |
    Then the task completes
    And its routing is "egress" because "the task names hosted standin/smollm2:135m"
    And its stdout contains "status=200 role=assistant"
    And its stdout contains "status=404"
    And its stdout contains "key-absent"
    And its stdout contains "no-credentials"
    And the stand-in provider answered the agent's calls with the key "sk-standin-edge-5e1f"
    And no node's log or state directory, nor the gateway's log, contains the key "sk-standin-edge-5e1f"

  Scenario: A node serving the preferred model's local equivalent is preferred, and the task says why
    Given "alice" prefers "task.default_model" to be "standin/smollm2:135m"
    And "alice" prefers "task.local_model" to be "smollm2:135m"
    When "alice" asks "Say hello."
    Then the task completes
    And its routing is "node" because "a node serves smollm2:135m, its local equivalent (task.local_model, user): local preferred"
    And the stand-in provider got no call for the task
