Feature: Chat and the OpenAI-compatible API, answered by the real model through a node
  Completions are tasks: they go through the inference queue to a node that serves the
  model, and streamed answers come back through signed chunk callbacks as the node gets
  them. The official OpenAI client works against the gateway unchanged.

  Background:
    Given an edge node is running
    And a user "alice" who is logged in

  Scenario: The official OpenAI Python client works unchanged, streaming included
    When the official OpenAI Python client runs its checks as "alice"
    Then every check passes

  Scenario: Tool calls, structured output and sampling fields, through the official client with an API key
    When the official OpenAI Python client runs "openai_tools.py" as "alice"
    Then every check passes
    And the user's usage today counts the model's calls and tokens

  Scenario: The Responses API through the official client: text, stream events, function calls, JSON schema
    When the official OpenAI Python client runs "openai_responses.py" as "alice"
    Then every check passes

  Scenario: Embeddings and legacy completions through the official client: vectors, base64, streams, refusals
    When the official OpenAI Python client runs "openai_embeddings.py" as "alice"
    Then every check passes
    And the user's usage today counts the model's calls and tokens

  Scenario: The official OpenAI JavaScript client from npm streams chat and Responses answers
    When the official OpenAI JavaScript client runs its checks as "alice"
    Then every check passes

  Scenario: The official Ollama Python client uses the gateway as one big Ollama: chat, generate, embed
    When the official Ollama Python client runs its checks as "alice"
    Then every check passes

  Scenario: A chat thread continues the conversation, for its owner only
    When "alice" chats "My name is Ada." in a new thread
    And "alice" chats "What is my name?" in the same thread
    Then the thread holds 4 messages, the questions in order
    And "alice" lists her threads and sees it
    And another user cannot read the thread
    When "alice" deletes the thread
    Then she can no longer read it
