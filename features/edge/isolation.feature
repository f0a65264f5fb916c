Feature: A job reaches nothing on its node but its own model calls
  Every job is hostile. These are the ways out that were found, each as the attack a job
  (or a project's repository and forge settings) tries against a real node: real Podman,
  the real model server, real git. The node under test allows file:// repositories only
  under the tests' scratch directory, lists no private hosts, and gives each worker a
  64 MiB disk. For Ollama's admin routes a second node serves a stand-in for Ollama that
  records every request it gets (no Ollama is installed here); it runs only for the
  scenarios that name it.

  Background:
    Given an edge node is running
    And a user "mallory" who is logged in

  Scenario: The model server's admin routes are out of reach, however the path is spelled
    When "mallory" runs with the model "smollm2:135m" the probe:
      | GET    | /v1/../slots                |
      | GET    | /v1/%2e%2e/slots            |
      | GET    | /v1/../props                |
      | GET    | /api/../props               |
      | GET    | //v1/models                 |
      | GET    | /v1/models?x=1              |
      | GET    | /slots                      |
      | POST   | /slots/0?action=erase       |
      | GET    | /metrics                    |
      | GET    | /v1/models                  |
    Then the task completes
    And the probe got 200 for "GET /v1/models" only
    And no refused answer carries the model server's slot or settings data
    And the model server itself answers "GET /slots" and "GET /props" on the host

  Scenario: Ollama's model management never reaches the model server
    Given a second edge node whose model server is a recording stand-in
    When "mallory" runs with the model "standin:1b" the probe:
      | DELETE | /api/delete        |
      | POST   | /api/pull          |
      | POST   | /api/push          |
      | POST   | /api/create        |
      | POST   | /api/copy          |
      | POST   | /api/blobs/sha256:0 |
      | GET    | /api/ps            |
      | POST   | /api/chat          |
    Then the task completes
    And the probe got 200 for "POST /api/chat" only
    And the stand-in received no request but the node's model listings and one "POST /api/chat"
    And the result counts 7 refused model calls

  Scenario: A job may name only models its node serves
    Given a second edge node whose model server is a recording stand-in
    When "mallory" runs with the model "standin:1b" the probe with the model "registry.evil/x:latest":
      | POST | /api/chat     |
      | POST | /api/generate |
    Then the task completes
    And the probe got 404 for "POST /api/chat"
    And the stand-in received no request but the node's model listings

  Scenario: A worker's planted packed-refs, alternates and hooks read nothing of the node's
    Given a bare repository whose check script plants traps for the node's secret and another repository
    And "mallory" has a project for the repository
    When "mallory" plans "Add a NOTES.md file that says hello" in the project
    And "mallory" starts the first ready subtask
    Then the subtask is "completed" within 300 seconds
    And the node's secret appears nowhere mallory can read
    And the pushed branch holds none of the other repository's objects

  Scenario: A repository outside the node's allowed roots is not cloned
    Given a bare repository outside the tests' scratch directory
    And "mallory" has a project for the repository
    When "mallory" plans "Add a NOTES.md file that says hello" in the project
    Then planning fails with "is not under any of this node's remotes.file_roots"

  Scenario: A forge on the node's loopback is not called
    Given a bare repository whose check script writes NOTES.md
    And a forge on loopback that takes pull requests for "acme/widgets"
    And "mallory" has a project for the repository
    When "mallory" plans "Add a NOTES.md file that says hello" in the project
    And "mallory" starts the first ready subtask
    Then the subtask's first worker run fails with "the project's forge"
    And the forge received no request

  Scenario: A worker that writes past its disk fails with disk_quota_exceeded, and the node goes on
    Given a bare repository whose check script writes 200 MiB
    And "mallory" has a project for the repository
    When "mallory" plans "Add a NOTES.md file that says hello" in the project
    And "mallory" starts the first ready subtask
    Then the subtask's first worker run fails with "disk_quota_exceeded"
    And no job disk is left mounted on the node
    When "mallory" runs the commands:
      | echo still-working |
    Then the task completes

  Scenario: Two jobs at once never share a host uid
    When "mallory" runs 2 tasks at once, each printing its uid map for 3 seconds
    Then both complete, under host uid ranges that do not overlap
